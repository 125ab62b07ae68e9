"""One turn: from its stored input to its committed outbox rows, or to its retry.

The turn runner (pipeline.py) decides when a conversation's turns run; this runs one of them: the user's
profile and locale on first contact, the hand-off (a conversation a person holds does not reach the bot;
a user asking for a person, or a bot's reply asking for one, hands it over), the language hook, the bot,
the reply's validation and rendering, and one transaction that stores the payloads and marks the turn
done. A turn that fails (the bot, or anything else) is retried with backoff up to ``pipeline.bot_attempts``
tries, then ended with the gateway's apology.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from channelgate.bots.base import Bot, BotError
from channelgate.channels.base import Channel, SendError
from channelgate.config import PipelineSettings
from channelgate.handoff.service import HANDOFF_ENDED, HandoffService, confirmation
from channelgate.i18n import APOLOGY, gettext_for
from channelgate.languages import Languages
from channelgate.locale import negotiate, normalize_locale
from channelgate.lookup import ChannelLookup, IntegrationLookup, LocalesFor
from channelgate.messages import Text, UniversalMessage, parse_messages
from channelgate.metrics import Metrics
from channelgate.outbound import render_outbound
from channelgate.passive import HeldReply, PassiveReplies
from channelgate.retry import backoff
from channelgate.store import NewOutbound, Store
from channelgate.store.rows import Holder
from channelgate.store.statements import Row
from channelgate.turns import EventInput, Input, Reply, Turn, User, input_adapter

log = logging.getLogger("channelgate.pipeline")


class TurnHandler:
    """Runs one turn under the conversation's lease, which the caller holds (and renews)."""

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
        finished: Callable[[], None],
        owner: str,
        handoffs: HandoffService | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.bot = bot
        self.metrics = metrics
        self.languages = languages
        self.channel = channel
        self.integration = integration
        self.locales_for = locales_for
        self.passive = passive
        self.wake_delivery = wake_delivery
        self._finished = finished  # a turn ended for good (answered or failed): the runner counts it
        self.owner = owner
        self.handoffs = handoffs

    async def run(self, row: Row) -> Row | None:
        """Run one turn; returns the conversation's next pending turn (None: the lease was released)."""
        store = self.store
        turn_id = int(row["id"])
        channel = self.channel(row["channel"], row["label"])
        found = await store.conversations.for_turn(row["conversation_id"])  # who holds it comes along
        if channel is None or found is None:
            reason = f"integration {row['channel']}/{row['label']} is no longer configured"
            log.warning("turn %s dropped: %s", turn_id, reason)
            _, following = await store.inbox.complete_turn(
                turn_id,
                row["conversation_id"],
                row["channel"],
                row["label"],
                [],
                failed_reason=reason,
                owner=self.owner,
            )
            self._finished()
            return following
        conversation, holder = found
        values: dict[str, Any] = {}
        locale, user_name = await self._conversation_locale(channel, conversation, row, values)
        turn = Turn(
            id=str(turn_id),
            conversation_id=conversation["id"],
            channel=channel.name,
            label=channel.ctx.label,
            user=User(id=conversation["user_id"], name=user_name),
            locale=locale,
            input=input_adapter.validate_python(row["input"]),
            raw=row["raw"],
        )
        if self.handoffs is not None:
            held = await self._held_or_asked(channel, conversation, holder, row, turn.input, locale, values)
            if held is not None:
                return held[0]
        decision = self.languages.decide(
            self.integration(channel.name, channel.ctx.label),
            turn.input,
            locale,
            self.locales_for(channel),
            state=conversation["state"] or {},
        )
        before: list[UniversalMessage] = []
        events: list[EventInput] = []
        if decision is not None:
            before = decision.messages
            events = decision.events
            if decision.state is not None:
                values["state"] = decision.state
            if decision.locale and decision.locale != locale:
                locale = values["locale"] = decision.locale
            if decision.bot_input is None:
                items = render_outbound(
                    channel, conversation, before, locale, reply_to=row["platform_message_id"]
                )
                return await self._commit(channel, conversation, row, items, values)
            turn = turn.model_copy(update={"input": decision.bot_input, "locale": locale})
        started = time.perf_counter()
        try:
            early: list[Any] = []
            for event in events:  # e.g. locale_changed after a detected switch, before the text itself
                early += Reply.coerce(
                    await self.bot.respond(turn.model_copy(update={"input": event}))
                ).messages
            reply = Reply.coerce(await self.bot.respond(turn))
            if early:
                reply = reply.model_copy(update={"messages": early + reply.messages})
        except BotError as exc:
            return await self._bot_failed(channel, conversation, row, locale, exc, values)
        except Exception as exc:  # a bot adapter bug must not wedge the conversation
            log.exception("conversation %s: bot raised", conversation["id"])
            error = BotError(repr(exc), retryable=False)
            return await self._bot_failed(channel, conversation, row, locale, error, values)
        self.metrics.bot_latency.labels(channel.name).observe(time.perf_counter() - started)
        self.metrics.turns.labels(channel.name, "answered").inc()
        return await self._deliver_reply(
            channel, conversation, row, locale, Reply.coerce(reply), values, before
        )

    async def _held_or_asked(
        self,
        channel: Channel[Any],
        conversation: Row,
        holder: Holder,
        row: Row,
        value: Input,
        locale: str,
        values: dict[str, Any],
    ) -> tuple[Row | None] | None:
        """A turn the bot does not get: the conversation is held by an agent (the input goes to the desk,
        in the turn's own commit), or the user asks for a person (the hand-off, and its confirmation, commit
        with the turn). None: the bot gets it. The result is wrapped, since the next turn may be None.
        ``holder`` was read with the conversation (one statement per turn, store/conversations.py)."""
        handoffs = self.handoffs
        assert handoffs is not None
        if await handoffs.native.platform_event(
            conversation, value
        ):  # Messenger, WeChat: the platform moved it
            return (await self._commit(channel, conversation, row, [], values),)
        ending = isinstance(value, EventInput) and value.name == HANDOFF_ENDED
        if holder == "agent" and not ending:
            forward = handoffs.forwarding(conversation, int(row["id"]), dict(row["input"]))
            items = handoffs.native.transfer_items(
                channel, conversation, from_user=not isinstance(value, EventInput)
            )
            return (await self._commit(channel, conversation, row, items, values, also=forward),)
        if holder == "bot" and handoffs.user_asks(channel.name, channel.ctx.label, value):
            desk = await handoffs.desk_opening(conversation, "user", None)
            take, taken = handoffs.taking(conversation, "user", None, desk)
            said = confirmation(handoffs.settings, locale)
            items = handoffs.native.transfer_items(channel, conversation, from_user=True)
            items += render_outbound(channel, conversation, said, locale, reply_to=row["platform_message_id"])
            following = await self._commit(channel, conversation, row, items, values, also=take)
            if taken:
                handoffs.taken(conversation, "user")
            return (following,)
        return None

    async def _conversation_locale(
        self, channel: Channel[Any], conversation: Row, row: Row, values: dict[str, Any]
    ) -> tuple[str, str | None]:
        """The conversation's locale and user name; on first contact, from the profile and platform hints."""
        locale = str(conversation["locale"])
        name = conversation["user_name"]
        if conversation["profile_fetched"]:
            return locale, name
        hints = [row["locale_hint"]] if row["locale_hint"] else []
        try:
            profile = await channel.user_profile(conversation["user_id"])
            values["profile_fetched"] = True
        except SendError as exc:
            # a transient failure (throttled, platform down) is tried again on the next turn
            values["profile_fetched"] = not exc.retryable
            log.warning("conversation %s: user profile unavailable: %s", conversation["id"], exc.reason)
            profile = None
        except Exception as exc:
            values["profile_fetched"] = True
            log.warning("conversation %s: user profile unavailable: %s", conversation["id"], exc)
            profile = None
        if profile is not None:
            if profile.name and not name:
                name = values["user_name"] = profile.name
            if profile.locale:
                hints.append(profile.locale)
        if hints:
            chosen = negotiate(hints, self.locales_for(channel))
            if chosen and chosen != locale:
                locale = values["locale"] = chosen
        return locale, name

    async def _deliver_reply(
        self,
        channel: Channel[Any],
        conversation: Row,
        row: Row,
        locale: str,
        reply: Reply,
        values: dict[str, Any],
        before: list[UniversalMessage],
    ) -> Row | None:
        if reply.locale:
            try:
                new_locale = normalize_locale(reply.locale)
            except ValueError as exc:
                log.warning(
                    "conversation %s: bot asked for locale %r: %s", conversation["id"], reply.locale, exc
                )
            else:
                locale = values["locale"] = new_locale
        messages, invalid = parse_messages(reply.messages)
        for bad in invalid:
            self.metrics.invalid_messages.labels(channel.name).inc()
            log.warning(
                "conversation %s: bot message %d is not a valid universal message and was skipped: %s",
                conversation["id"],
                bad.index,
                bad.error,
            )
        items = render_outbound(
            channel, conversation, before + messages, locale, reply_to=row["platform_message_id"]
        )
        request = reply.handoff_request
        if request is None or self.handoffs is None:
            return await self._commit(channel, conversation, row, items, values)
        # the reply's messages go first (the user's line); the hand-off commits with them
        from_user = dict(row["input"] or {}).get("type") != "event"
        items = self.handoffs.native.transfer_items(channel, conversation, from_user=from_user) + items
        desk = await self.handoffs.desk_opening(conversation, "bot", request.note)
        take, taken = self.handoffs.taking(conversation, "bot", request.note, desk)
        following = await self._commit(channel, conversation, row, items, values, also=take)
        if taken:
            self.handoffs.taken(conversation, "bot")
        return following

    async def _commit(
        self,
        channel: Channel[Any],
        conversation: Row,
        row: Row,
        items: list[NewOutbound],
        values: dict[str, Any],
        failed_reason: str | None = None,
        also: Callable[[Connection], object] | None = None,
    ) -> Row | None:
        turn_id = int(row["id"])
        waiter = self.passive.claim(turn_id)  # the webhook request still waits: hold the reply for it
        if waiter is not None:
            items = [NewOutbound(i.outbound, "held", i.reason) if i.status == "queued" else i for i in items]
        ids, following = await self.store.inbox.complete_turn(
            turn_id,
            conversation["id"],
            channel.name,
            channel.ctx.label,
            items,
            failed_reason=failed_reason,
            conversation_values=values or None,
            owner=self.owner,
            also=also,
        )
        self._finished()
        if waiter is not None:
            held = [(i, item.outbound) for i, item in zip(ids, items, strict=True) if item.status == "held"]
            reply = HeldReply([i for i, _ in held], [o for _, o in held])
            if not self.passive.resolve(waiter, reply) and reply.ids:
                await self.store.outbox.release_held(reply.ids, 0)  # the request stopped waiting meanwhile
        self.wake_delivery()
        return following

    async def failed(self, row: Row, exc: Exception) -> Row | None:
        """Processing a turn raised (not the bot: ``_bot_failed`` has those). Retry it with backoff, up to
        ``pipeline.bot_attempts`` tries; then end it with an apology so the conversation moves on. The
        traceback is logged on the first failure only: the same one on every retry says nothing new."""
        store = self.store
        settings = self.settings
        attempts = int(row["attempts"]) + 1
        conversation_id = row["conversation_id"]
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        if attempts == 1:
            log.exception("conversation %s: turn %s failed", conversation_id, row["id"])
        channel = self.channel(row["channel"], row["label"])
        label = channel.name if channel is not None else str(row["channel"])
        if attempts < settings.bot_attempts:
            delay = backoff(attempts, settings.max_backoff)
            log.warning(
                "conversation %s: turn %s failed (%s); try %d of %d in %.1fs",
                conversation_id,
                row["id"],
                reason,
                attempts + 1,
                settings.bot_attempts,
                delay,
            )
            self.metrics.turns.labels(label, "retry").inc()
            await store.inbox.retry_turn(int(row["id"]), attempts, time.time() + delay, reason)
            await store.conversations.release(conversation_id, self.owner)
            return None
        log.error(
            "conversation %s: turn %s failed %d times, for good: %s; the user is told",
            conversation_id,
            row["id"],
            attempts,
            reason,
        )
        self.metrics.turns.labels(label, "failed").inc()
        failed = f"turn failed {attempts} times: {reason}"
        conversation = await store.conversations.get(conversation_id)
        if channel is None or conversation is None:
            _, following = await store.inbox.complete_turn(
                int(row["id"]),
                conversation_id,
                row["channel"],
                row["label"],
                [],
                failed_reason=failed,
                owner=self.owner,
            )
            self._finished()
            return following
        locale = str(conversation["locale"])
        apology: list[UniversalMessage] = [Text(text=gettext_for(locale)(APOLOGY))]
        items = render_outbound(channel, conversation, apology, locale, reply_to=row["platform_message_id"])
        return await self._commit(channel, conversation, row, items, {}, failed_reason=failed)

    async def _bot_failed(
        self,
        channel: Channel[Any],
        conversation: Row,
        row: Row,
        locale: str,
        exc: BotError,
        values: dict[str, Any],
    ) -> Row | None:
        attempts = int(row["attempts"]) + 1
        settings = self.settings
        if exc.retryable and attempts < settings.bot_attempts:
            delay = backoff(attempts, settings.max_backoff)
            log.warning(
                "conversation %s: bot failed (%s); try %d of %d in %.1fs",
                conversation["id"],
                exc.reason,
                attempts,
                settings.bot_attempts,
                delay,
            )
            self.metrics.turns.labels(channel.name, "retry").inc()
            await self.store.inbox.retry_turn(int(row["id"]), attempts, time.time() + delay, exc.reason)
            if values:
                await self.store.conversations.update(conversation["id"], **values)
            await self.store.conversations.release(conversation["id"], self.owner)
            return None
        log.error(
            "conversation %s: bot failed for good: %s; the user is told", conversation["id"], exc.reason
        )
        self.metrics.turns.labels(channel.name, "failed").inc()
        apology: list[UniversalMessage] = [Text(text=gettext_for(locale)(APOLOGY))]
        items = render_outbound(channel, conversation, apology, locale, reply_to=row["platform_message_id"])
        return await self._commit(
            channel, conversation, row, items, values, failed_reason=f"bot: {exc.reason}"
        )


__all__ = ["TurnHandler"]
