"""The running gateway: integrations, the store, the bot, and the workers between them.

The web layer (web/) only translates HTTP to calls on :class:`Gateway`; everything that must survive a
crash happens in the store first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from channelgate import __version__
from channelgate.bots.base import Bot
from channelgate.bots.spec import build_bot
from channelgate.channels.base import (
    Channel,
    ChannelContext,
    Health,
    InboundEvent,
    InboundMessage,
    StatusUpdate,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.registry import ChannelRegistry, load_registry
from channelgate.config import GatewayConfig, Integration, channel_class
from channelgate.connection_routes import ConnectionRoutes
from channelgate.coordination import Coordination, coordination_for
from channelgate.delivery import Deliverer
from channelgate.fleet import Fleet
from channelgate.handoff.service import HandoffService
from channelgate.integration_sync import SYNC_INTERVAL, IntegrationSync
from channelgate.languages import Languages
from channelgate.metrics import Metrics
from channelgate.passive import PassiveReplies
from channelgate.pipeline import TurnRunner
from channelgate.shares import shares_for
from channelgate.store import Accepted, Store, StoreKeyValue
from channelgate.store.admin import load_stored_integrations  # integrations created through the admin API
from channelgate.store.replay import StoreReplayCache
from channelgate.upkeep import poll_loop, retention_loop
from channelgate.webhook_answer import WebhookAnswers

log = logging.getLogger("channelgate.gateway")


class Busy(Exception):
    """Too much accepted work is waiting; the platform should redeliver later (503 + Retry-After)."""

    retry_after = 5


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        registry: ChannelRegistry | None = None,
        *,
        bot: Bot | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.settings = config.settings
        self.registry = registry or load_registry()
        self.public_url = self.settings.public_url
        self.store = store or Store.from_settings(self.settings)
        self.bot = bot or build_bot(self.settings.bot)
        self.metrics = Metrics()
        self.languages = Languages(self.settings.languages)
        self.owner = uuid.uuid4().hex[:16]
        self.integrations: dict[tuple[str, str], Integration] = {}
        self.channels: dict[tuple[str, str], Channel[Any]] = {}
        self.http: PlatformHTTP | None = None
        # the workers get what they use; they find channels through the table above, so a replaced or
        # removed integration is seen at once
        self.passive = PassiveReplies()
        self.handoffs = HandoffService(
            self.store,
            self.settings.handoff,
            metrics=self.metrics,
            channel=self.channel,
            integration=self.integration,
            http=lambda: self.http,
            wake_delivery=self.wake_delivery,
            turns_accepted=lambda ids: self.turns.accepted(ids),
        )
        # news between replicas (LISTEN/NOTIFY on PostgreSQL, nothing on SQLite): coordination.py
        self.coordination: Coordination = coordination_for(self.store.engine.url, self.owner)
        # this replica's share of every limit, so the fleet keeps to them (the whole on SQLite): shares.py
        self.shares = shares_for(
            self.store.replicas, self.coordination, self.owner, alone=self.store.is_sqlite
        )
        self.delivery = Deliverer(
            self.store,
            self.settings.pipeline,
            channel=self.channel,
            metrics=self.metrics,
            owner=self.owner,
            desk=self.handoffs.send_to_desk,
            share=self.shares,
            offline=lambda row: self.routes.offline(row),
        )
        self.turns = TurnRunner(
            self.store,
            self.settings.pipeline,
            bot=self.bot,
            metrics=self.metrics,
            languages=self.languages,
            channel=self.channel,
            integration=self.integration,
            locales_for=self.locales_for,
            passive=self.passive,
            wake_delivery=self.wake_delivery,
            owner=self.owner,
            handoffs=self.handoffs,
        )
        self._background: list[asyncio.Task[None]] = []
        self.accepting = False
        self.stopping = False  # draining: /readyz says so, and peers' news no longer starts work here
        # what must reach the replica holding a socket or a waiting request: connection_routes.py
        self.routes = ConnectionRoutes(
            self.coordination,
            self.store,
            owner=self.owner,
            channel=self.channel,
            passive=self.passive,
            take_line=self.delivery.take_line,
            wake_delivery=self.wake_delivery,
            metrics=self.metrics,
        )
        self.integration_sync = IntegrationSync(
            self.store,
            self.registry,
            running=self.integrations,
            config_keys=[i.key for i in config.integrations],
            allowed_hosts=self.settings.admin_api.allowed_hosts,
            replace=self.replace_integration,
            remove=self.remove_integration,
        )
        self.integration_sync_interval = SYNC_INTERVAL
        # the HTTP answer to an accepted webhook, the reply itself when the platform allows: webhook_answer.py
        self.answers = WebhookAnswers(self.store, self.passive, wake_delivery=self.wake_delivery)
        # the news between replicas goes to the part it is for: fleet.py
        self.fleet = Fleet(
            self.coordination,
            shares=self.shares,
            routes=self.routes,
            integration_sync=self.integration_sync,
            turns=self.turns,
            delivery=self.delivery,
        )

    # --- lifecycle ---

    async def start(self) -> None:
        for warning in self.config.warnings:
            log.warning(warning)
        await self.store.create_schema()
        # one aiohttp session for every platform call of the process (channels/http.py says why)
        self.http = PlatformHTTP(user_agent=f"channelgate/{__version__}")
        for integration in self.config.integrations:
            await self.add_integration(integration)
        allowed = self.settings.admin_api.allowed_hosts  # what the API may point at (docs/security.md)
        stored = await load_stored_integrations(self.store, self.registry, self.integrations, allowed)
        for integration in stored:
            await self.add_integration(integration)
        for key, integration in self.integrations.items():  # load language detectors before traffic
            self.languages.warm_up(integration, self.locales_for(self.channels[key]))
        await self.bot.start()
        await self.turns.count_pending()
        self.delivery.start()
        # one process on SQLite: nobody else changes its integrations, so no periodic sync
        await self.fleet.start(None if self.store.is_sqlite else self.integration_sync_interval)
        interval = self.settings.pipeline.poll_interval  # the safety net under every wake-up: upkeep.py
        poll = poll_loop(self.store, self.turns, interval=interval, wake_delivery=self.wake_delivery)
        prune = retention_loop(self.store, self.owner, self.settings.retention, self.metrics)
        self._background = [
            asyncio.create_task(poll, name="poller"),
            asyncio.create_task(prune, name="retention"),
            asyncio.create_task(self.handoffs.run_sweeper(), name="handoff-sweeper"),
        ]
        self.accepting = True
        log.info(
            "gateway started: %d integration(s), bot %s, store %s",
            len(self.channels),
            self.bot.describe(),
            self.store.engine.url.render_as_string(hide_password=True),
        )

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a drain deadline
        """Drain: stop accepting (/readyz turns 503), let in-flight turns and sends finish (up to
        ``timeout``), hand back the conversation leases and the claimed sends not started, tell the other
        replicas to pick up at once (coordination.py), then close."""
        self.accepting = False
        self.stopping = True
        for task in self._background:  # the poller first: it would start new turns
            task.cancel()
        self.fleet.halt()  # and the polls a peer's news started
        await self.turns.stop(timeout)
        self.passive.cancel_all()  # a webhook still waiting for its turn's reply answers without it
        await self.delivery.stop(timeout)
        await self.fleet.leave()  # after the last send: the others take its share and its work at once
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for channel in self.channels.values():
            with contextlib.suppress(Exception):
                await channel.stop()
        with contextlib.suppress(Exception):
            await self.bot.stop()
        if self.http is not None:
            await self.http.close()
        await self.store.close()
        log.info("gateway stopped")

    # --- integrations ---

    async def add_integration(self, integration: Integration) -> Channel[Any]:
        assert self.http is not None, "start() the gateway first"
        cls = channel_class(self.registry, integration)
        ctx = ChannelContext(
            channel=integration.channel,
            label=integration.label,
            locale=integration.locale,
            public_url=self.public_url,
            http=self.http,
            kv=StoreKeyValue(self.store, self.owner, f"{integration.channel}:{integration.label}:"),
            health=Health(),
            log=logging.getLogger(f"channelgate.channels.{integration.channel}"),
            replay=StoreReplayCache(self.store, f"{integration.channel}:{integration.label}"),
            share=self.shares,
        )
        channel = cls(integration.config, ctx)
        await channel.start()
        self.integrations[integration.key] = integration
        self.channels[integration.key] = channel
        return channel

    async def replace_integration(self, integration: Integration) -> Channel[Any]:
        """Start an integration live, or restart it with new settings, without dropping work: the new
        channel replaces the old one in one step (turns and deliveries in flight never find it missing), a
        changed ``rate_limit`` applies from the next send, deliveries paused for refused credentials resume
        (the new channel may hold fixed ones), and the old channel is stopped last. Raises what the
        channel's start raised, and then nothing has changed."""
        old = self.channels.get(integration.key)
        channel = await self.add_integration(integration)
        self.delivery.forget_lane(integration.key)
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()
        return channel

    async def remove_integration(self, channel_name: str, label: str) -> None:
        """Stop serving an integration; its queued messages and pending turns fail as no longer configured."""
        channel = self.channels.pop((channel_name, label), None)
        self.integrations.pop((channel_name, label), None)
        if channel is not None:
            await channel.stop()

    def channel(self, channel: str, label: str) -> Channel[Any] | None:
        """The running channel of an integration (None: not, or no longer, configured)."""
        return self.channels.get((channel, label))

    def integration(self, channel: str, label: str) -> Integration | None:
        """An integration's settings (None: not, or no longer, configured)."""
        return self.integrations.get((channel, label))

    def locales_for(self, channel: Channel[Any]) -> list[str]:
        """The locales a conversation on this integration may use: the bot's, else the integration's."""
        declared = getattr(self.settings.bot, "locales", None) or self.bot.locales
        integration = self.integrations.get((channel.name, channel.ctx.label))
        default = integration.locale if integration else channel.ctx.locale
        locales = list(declared or [])
        if default not in locales:
            locales.insert(0, default)
        return locales

    # --- accepting ---

    async def accept(
        self,
        channel: Channel[Any],
        events: list[InboundEvent],
        *,
        wait_passive: bool = False,
        screened: bool = False,
    ) -> Accepted:
        """Dedup and durably record events, then start their turns. Raises Busy under overload.
        ``screened``: the events are what ``channels.inbound.screen_all`` kept (the store screens them
        otherwise)."""
        messages = [e for e in events if isinstance(e, InboundMessage)]
        statuses = [e for e in events if isinstance(e, StatusUpdate)]
        if messages and self.turns.full:
            raise Busy()
        accepted = await self.store.inbox.accept(
            channel.name, channel.ctx.label, channel.ctx.locale, messages, statuses, screened=screened
        )
        budget = channel.passive_reply_budget
        if wait_passive and budget and len(accepted.new_turns) == 1:
            self.passive.register(accepted.new_turns[0][0])  # before the turn can start
            self.routes.passive_waiting(accepted.new_turns[0][0], budget)  # a peer may run it
        self.turns.accepted(conversation_id for _, conversation_id in accepted.new_turns)
        if accepted.new_turns:
            self.coordination.turns_accepted(conversation_id for _, conversation_id in accepted.new_turns)
        return accepted

    async def answer_webhook(
        self,
        channel: Channel[Any],
        request: WebhookRequest,
        events: list[InboundEvent],
        *,
        screened: bool = False,
    ) -> tuple[WebhookResponse, Accepted]:
        """Accept, then answer: at once, or with the reply itself when the channel has a passive budget.
        ``screened``: as for :meth:`accept`."""
        budget = channel.passive_reply_budget
        accepted = await self.accept(channel, events, wait_passive=bool(budget), screened=screened)
        return await self.answers.answer(channel, request, events, accepted), accepted

    async def nudge(self, channel: Channel[Any], user_id: str) -> None:
        if await self.store.deliveries.nudge(channel.name, channel.ctx.label, user_id):
            self.wake_delivery()

    def wake_delivery(self) -> None:
        """Rows were queued or released: this replica's delivery worker looks now, and the others too."""
        self.delivery.wake()
        self.coordination.outbox_queued()
