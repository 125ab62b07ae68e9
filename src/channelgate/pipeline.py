"""Turns: from an accepted inbound event to durable outbound payloads, one at a time per conversation.

A conversation is claimed with a lease in the store, so exactly one worker in one replica runs its turns,
strictly in the order they were accepted. The accepting process starts the turn at once (the fast path);
a poller picks up what other replicas accepted, what waits for a retry, and what a crashed process left.

A turn that keeps failing ends: whatever the failure (the bot, a stored input that no longer validates, a
bug of ours), it is retried with backoff up to ``pipeline.bot_attempts`` tries, then recorded as failed
with its reason, the user gets the gateway's apology and the conversation's next turn runs. Running one
turn, failures included, is turn_handler.py's; this module decides when turns run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterable

from channelgate.bots.base import Bot
from channelgate.config import PipelineSettings
from channelgate.handoff.service import HandoffService
from channelgate.languages import Languages
from channelgate.lookup import ChannelLookup, IntegrationLookup, LocalesFor
from channelgate.metrics import Metrics
from channelgate.outbound import render_outbound, resolve_channel_specific
from channelgate.passive import PassiveReplies
from channelgate.store import Store
from channelgate.store.inbox import LeaseLost
from channelgate.store.statements import Row
from channelgate.turn_handler import TurnHandler

log = logging.getLogger("channelgate.pipeline")


class TurnRunner:
    """Schedules accepted turns, one conversation at a time each, and owns the count of turns waiting.

    It is given what its turns use: the store, the pipeline settings, the bot, the metrics, the language
    policy, lookups of the live channels and integrations, the passive replies shared with the webhook
    route, and a callback that wakes the delivery worker when a turn's payloads are committed. Running one
    turn is :class:`~channelgate.turn_handler.TurnHandler`'s; only this class changes the count."""

    #: a rendered reply for a conversation, never raising (outbound.render_outbound); the admin API uses it
    render = staticmethod(render_outbound)

    def __init__(
        self,
        store: Store,
        settings: PipelineSettings,
        *,
        bot: Bot,
        metrics: Metrics,
        languages: Languages,
        channel: ChannelLookup,
        integration: IntegrationLookup,
        locales_for: LocalesFor,
        passive: PassiveReplies,
        wake_delivery: Callable[[], None],
        owner: str | None = None,
        handoffs: HandoffService | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner or uuid.uuid4().hex[:16]
        self.handler = TurnHandler(
            store,
            settings,
            bot=bot,
            metrics=metrics,
            languages=languages,
            channel=channel,
            integration=integration,
            locales_for=locales_for,
            passive=passive,
            wake_delivery=wake_delivery,
            finished=self._finished,
            owner=self.owner,
            handoffs=handoffs,
        )
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.turn_concurrency)
        self._stopping = False
        self._pending = 0

    # --- the count of turns waiting ---

    @property
    def pending(self) -> int:
        """Accepted turns not yet finished (all replicas' at start, then this process's new ones)."""
        return self._pending

    @property
    def full(self) -> bool:
        """Too many turns wait for the bot: new ones are refused (503) until some finish."""
        return self._pending >= self.settings.max_pending

    async def count_pending(self) -> None:
        """At start: the turns already waiting in the store count against ``max_pending``."""
        self._pending = (await self.store.depths())["inbox_pending"]

    def accepted(self, conversation_ids: Iterable[str]) -> None:
        """New turns were stored (one per id, in order): count them, then run their conversations."""
        ids = list(conversation_ids)
        self._pending += len(ids)
        for conversation_id in ids:
            self.kick(conversation_id)

    # --- scheduling ---

    def running(self, conversation_id: str) -> bool:
        """Whether this runner holds (or is claiming) the conversation now."""
        return conversation_id in self._active

    def kick(self, conversation_id: str) -> None:
        """Run this conversation's pending turns soon (no-op if they are already running here)."""
        if self._stopping:
            return
        if conversation_id in self._active:
            self._dirty.add(conversation_id)
            return
        self._active.add(conversation_id)
        task = asyncio.create_task(self._run_conversation(conversation_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_conversation(self, conversation_id: str) -> None:
        """Run a conversation's pending turns in order while this worker holds its lease."""
        store = self.store
        lease = self.settings.lease_seconds
        row: Row | None = None
        try:
            async with self._slots:
                while not self._stopping:
                    self._dirty.discard(conversation_id)
                    row = await store.inbox.claim_conversation(conversation_id, self.owner, lease)
                    if row is not None:
                        row = await self._run_claimed(conversation_id, row, lease)
                    if conversation_id not in self._dirty:
                        break
        except Exception:
            log.exception("conversation %s: turn processing failed; it will be retried", conversation_id)
        finally:
            if row is not None:  # stopped or failed while holding the lease
                with contextlib.suppress(Exception):
                    await store.conversations.release(conversation_id, self.owner)
            self._active.discard(conversation_id)

    async def _run_claimed(self, conversation_id: str, row: Row, lease: float) -> Row | None:
        """Run a claimed conversation's turns while the lease is held, renewing it in the background so a
        turn longer than the lease (a slow bot) keeps it. A turn whose lease was lost anyway (a stalled
        process, a store that refused the renewal) is refused at its commit (``LeaseLost``): the worker
        that claimed it since answers instead, and this one stops without answering."""
        keeper = asyncio.create_task(self._keep_lease(conversation_id, lease))
        current: Row | None = row
        try:
            while current is not None and not self._stopping:
                if current["next_attempt_at"] > time.time():  # waiting for a retry: later turns wait too
                    await self.store.conversations.release(conversation_id, self.owner)
                    return None
                turn = current
                try:
                    current = await self._run_turn(turn)
                except LeaseLost:
                    log.warning(
                        "conversation %s: lease lost during turn %s; its answer is left to the worker "
                        "that claimed it since",
                        conversation_id,
                        turn["id"],
                    )
                    return None
            return current
        finally:
            keeper.cancel()

    async def _run_turn(self, row: Row) -> Row | None:
        """One turn, its failures retried or ended by the handler; ``LeaseLost`` passes through."""
        try:
            return await self.handler.run(row)
        except LeaseLost:
            raise
        except Exception as exc:
            return await self.handler.failed(row, exc)

    async def _keep_lease(self, conversation_id: str, lease: float) -> None:
        """Renew the conversation's lease every third of it until cancelled or lost (then the turn's
        commit is refused, so stopping here is enough)."""
        while True:
            await asyncio.sleep(lease / 3)
            try:
                held = await self.store.conversations.renew_lease(conversation_id, self.owner, lease)
            except Exception:  # a store hiccup: try again; the commit's fence decides in the end
                log.warning("conversation %s: renewing its lease failed", conversation_id, exc_info=True)
                continue
            if not held:
                log.warning("conversation %s: lease lost to another worker", conversation_id)
                return

    async def poll(self, among: Collection[str] | None = None) -> None:
        """Find due work nobody is running: retries, other replicas' accepts, crash leftovers (``among``:
        only in these conversations)."""
        limit = self.settings.turn_concurrency * 4
        ids = await self.store.inbox.claimable_conversations(time.time(), limit, among)
        for conversation_id in ids:
            self.kick(conversation_id)

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109 - a drain deadline
        """Let running turns finish (graceful shutdown), then cancel what is left; leases expire."""
        self._stopping = True
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:  # let them unwind (leases, store connections) before the store closes
                await asyncio.wait(pending, timeout=1.0)

    def _finished(self) -> None:
        """A turn ended for good (answered, or failed with the apology): it no longer waits."""
        self._pending = max(self._pending - 1, 0)


__all__ = ["TurnRunner", "render_outbound", "resolve_channel_specific"]
