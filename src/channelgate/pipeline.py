"""Turns: from an accepted inbound event to durable outbound payloads, one at a time per conversation.

A conversation is claimed with a lease in the store, so exactly one worker in one replica runs its turns,
strictly in the order they were accepted. The accepting process starts the turn at once (the fast path);
a poller picks up what other replicas accepted, what waits for a retry, and what a crashed process left.

A turn that keeps failing ends: whatever the failure (the bot, a stored input that no longer validates, a
bug of ours), it is retried with backoff up to ``pipeline.bot_attempts`` tries, then recorded as failed
with its reason, the user gets the gateway's apology and the conversation's next turn runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from channelgate.bots.base import BotError
from channelgate.channels.base import Channel, Outbound, RenderContext, SendError, SendRefused
from channelgate.i18n import APOLOGY, gettext_for
from channelgate.locale import negotiate, normalize_locale
from channelgate.messages import ChannelSpecific, Text, UniversalMessage, parse_messages
from channelgate.retry import backoff
from channelgate.store import NewOutbound
from channelgate.store.statements import Row
from channelgate.turns import EventInput, Reply, Turn, User, input_adapter

if TYPE_CHECKING:
    from channelgate.gateway import Gateway

log = logging.getLogger("channelgate.pipeline")


@dataclass
class PassiveWaiter:
    """An HTTP request waiting for its turn's reply (WeChat passive replies)."""

    future: asyncio.Future[tuple[list[int], list[Outbound]]]
    expired: bool = False


def resolve_channel_specific(
    messages: list[UniversalMessage], channel: str, notes: list[str]
) -> list[UniversalMessage]:
    """Keep channel-specific messages that have an entry for this channel, replace the others by their
    fallback, or skip them with a note: channels then only render their own raw payloads."""
    out: list[UniversalMessage] = []
    for message in messages:
        while isinstance(message, ChannelSpecific) and channel not in message.payloads:
            if message.fallback is None:
                notes.append(f"channel-specific message has no {channel!r} entry and no fallback: skipped")
                break
            message = message.fallback
        else:
            out.append(message)
    return out


@dataclass
class TurnRunner:
    gateway: Gateway
    owner: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    _active: set[str] = field(default_factory=set)
    _dirty: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _waiters: dict[int, PassiveWaiter] = field(default_factory=dict)
    _slots: asyncio.Semaphore | None = None
    _stopping: bool = False
    pending: int = 0

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.gateway.settings.pipeline.turn_concurrency)

    # --- scheduling ---

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
        store = self.gateway.store
        lease = self.gateway.settings.pipeline.lease_seconds
        assert self._slots is not None
        row: Row | None = None
        try:
            async with self._slots:
                while not self._stopping:
                    self._dirty.discard(conversation_id)
                    row = await store.claim_conversation(conversation_id, self.owner, lease)
                    renewed = time.monotonic()
                    while row is not None and not self._stopping:
                        if row["next_attempt_at"] > time.time():  # waiting for a retry: later turns wait too
                            await store.release_conversation(conversation_id, self.owner)
                            row = None
                            break
                        if time.monotonic() - renewed > lease / 3:
                            await store.renew_lease(conversation_id, self.owner, lease)
                            renewed = time.monotonic()
                        current = row
                        try:
                            row = await self._run_turn(current)
                        except Exception as exc:
                            row = await self._turn_failed(current, exc)
                    if conversation_id not in self._dirty:
                        break
        except Exception:
            log.exception("conversation %s: turn processing failed; it will be retried", conversation_id)
        finally:
            if row is not None:  # stopped or failed while holding the lease
                with contextlib.suppress(Exception):
                    await store.release_conversation(conversation_id, self.owner)
            self._active.discard(conversation_id)

    async def poll(self) -> None:
        """Find due work nobody is running: retries, other replicas' accepts, crash leftovers."""
        pipeline = self.gateway.settings.pipeline
        ids = await self.gateway.store.claimable_conversations(time.time(), pipeline.turn_concurrency * 4)
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
        for waiter in self._waiters.values():
            if not waiter.future.done():
                waiter.future.cancel()

    # --- passive replies ---

    def wait_for_reply(self, turn_id: int) -> PassiveWaiter:
        waiter = PassiveWaiter(asyncio.get_running_loop().create_future())
        self._waiters[turn_id] = waiter
        return waiter

    def forget_waiter(self, turn_id: int) -> None:
        waiter = self._waiters.pop(turn_id, None)
        if waiter is not None:
            waiter.expired = True

    # --- one turn ---

    async def _run_turn(self, row: Row) -> Row | None:
        """Run one turn; returns the conversation's next pending turn (None: the lease was released)."""
        gw = self.gateway
        store = gw.store
        turn_id = int(row["id"])
        channel = gw.channel(row["channel"], row["label"])
        conversation = await store.conversation(row["conversation_id"])
        if channel is None or conversation is None:
            reason = f"integration {row['channel']}/{row['label']} is no longer configured"
            log.warning("turn %s dropped: %s", turn_id, reason)
            _, following = await store.complete_turn(
                turn_id,
                row["conversation_id"],
                row["channel"],
                row["label"],
                [],
                failed_reason=reason,
                owner=self.owner,
            )
            self._finished(turn_id)
            return following
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
        decision = gw.languages.decide(
            gw.integrations.get((channel.name, channel.ctx.label)),
            turn.input,
            locale,
            gw.locales_for(channel),
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
                items = self.render(
                    channel, conversation, before, locale, reply_to=row["platform_message_id"]
                )
                return await self._commit(channel, conversation, row, items, values)
            turn = turn.model_copy(update={"input": decision.bot_input, "locale": locale})
        started = time.perf_counter()
        try:
            early: list[Any] = []
            for event in events:  # e.g. locale_changed after a detected switch, before the text itself
                early += Reply.coerce(await gw.bot.respond(turn.model_copy(update={"input": event}))).messages
            reply = Reply.coerce(await gw.bot.respond(turn))
            if early:
                reply = reply.model_copy(update={"messages": early + reply.messages})
        except BotError as exc:
            return await self._bot_failed(channel, conversation, row, locale, exc, values)
        except Exception as exc:  # a bot adapter bug must not wedge the conversation
            log.exception("conversation %s: bot raised", conversation["id"])
            error = BotError(repr(exc), retryable=False)
            return await self._bot_failed(channel, conversation, row, locale, error, values)
        gw.metrics.bot_latency.labels(channel.name).observe(time.perf_counter() - started)
        gw.metrics.turns.labels(channel.name, "answered").inc()
        return await self._deliver_reply(
            channel, conversation, row, locale, Reply.coerce(reply), values, before
        )

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
            chosen = negotiate(hints, self.gateway.locales_for(channel))
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
        gw = self.gateway
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
            gw.metrics.invalid_messages.labels(channel.name).inc()
            log.warning(
                "conversation %s: bot message %d is not a valid universal message and was skipped: %s",
                conversation["id"],
                bad.index,
                bad.error,
            )
        items = self.render(
            channel, conversation, before + messages, locale, reply_to=row["platform_message_id"]
        )
        return await self._commit(channel, conversation, row, items, values)

    def render(
        self,
        channel: Channel[Any],
        conversation: Row,
        messages: list[UniversalMessage],
        locale: str,
        *,
        reply_to: str | None,
        options: Any = None,
    ) -> list[NewOutbound]:
        """Render messages for a conversation; a refused or failed render is recorded, never dropped."""
        ctx = RenderContext(
            user_id=conversation["user_id"],
            locale=locale,
            now=time.time(),
            reply_to=reply_to,
            last_inbound_at=conversation["last_inbound_at"],
            options=options,
            gettext=gettext_for(locale),
        )
        messages = resolve_channel_specific(messages, channel.name, ctx.notes)
        try:
            outbounds = channel.render(messages, ctx) if messages else []
            items = [NewOutbound(o) for o in outbounds]
        except SendRefused as exc:
            items = [NewOutbound(Outbound(body={}, summary="refused"), status="failed", reason=exc.reason)]
            log.warning("conversation %s: send refused: %s", conversation["id"], exc.reason)
        except Exception as exc:
            log.exception("conversation %s: %s could not render the reply", conversation["id"], channel.name)
            items = [
                NewOutbound(
                    Outbound(body={}, summary="render error"),
                    status="failed",
                    reason=f"render error: {type(exc).__name__}: {exc}",
                )
            ]
        for note in ctx.notes:
            log.info("conversation %s: %s: %s", conversation["id"], channel.name, note)
        return items

    async def _commit(
        self,
        channel: Channel[Any],
        conversation: Row,
        row: Row,
        items: list[NewOutbound],
        values: dict[str, Any],
        failed_reason: str | None = None,
    ) -> Row | None:
        turn_id = int(row["id"])
        waiter = self._waiters.pop(turn_id, None)
        hold = waiter is not None and not waiter.expired and not waiter.future.done()
        if hold:
            items = [NewOutbound(i.outbound, "held", i.reason) if i.status == "queued" else i for i in items]
        ids, following = await self.gateway.store.complete_turn(
            turn_id,
            conversation["id"],
            channel.name,
            channel.ctx.label,
            items,
            failed_reason=failed_reason,
            conversation_values=values or None,
            owner=self.owner,
        )
        self._finished(turn_id)
        if hold and waiter is not None:
            held = [(i, item.outbound) for i, item in zip(ids, items, strict=True) if item.status == "held"]
            waiter.future.set_result(([i for i, _ in held], [o for _, o in held]))
        self.gateway.wake_delivery()
        return following

    def _finished(self, turn_id: int) -> None:
        self.pending = max(self.pending - 1, 0)

    async def _turn_failed(self, row: Row, exc: Exception) -> Row | None:
        """Processing a turn raised (not the bot: ``_bot_failed`` has those). Retry it with backoff, up to
        ``pipeline.bot_attempts`` tries; then end it with an apology so the conversation moves on. The
        traceback is logged on the first failure only: the same one on every retry says nothing new."""
        gw = self.gateway
        store = gw.store
        settings = gw.settings.pipeline
        attempts = int(row["attempts"]) + 1
        conversation_id = row["conversation_id"]
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        if attempts == 1:
            log.exception("conversation %s: turn %s failed", conversation_id, row["id"])
        channel = gw.channel(row["channel"], row["label"])
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
            gw.metrics.turns.labels(label, "retry").inc()
            await store.retry_turn(int(row["id"]), attempts, time.time() + delay, reason)
            await store.release_conversation(conversation_id, self.owner)
            return None
        log.error(
            "conversation %s: turn %s failed %d times, for good: %s; the user is told",
            conversation_id,
            row["id"],
            attempts,
            reason,
        )
        gw.metrics.turns.labels(label, "failed").inc()
        failed = f"turn failed {attempts} times: {reason}"
        conversation = await store.conversation(conversation_id)
        if channel is None or conversation is None:
            _, following = await store.complete_turn(
                int(row["id"]),
                conversation_id,
                row["channel"],
                row["label"],
                [],
                failed_reason=failed,
                owner=self.owner,
            )
            self._finished(int(row["id"]))
            return following
        locale = str(conversation["locale"])
        apology: list[UniversalMessage] = [Text(text=gettext_for(locale)(APOLOGY))]
        items = self.render(channel, conversation, apology, locale, reply_to=row["platform_message_id"])
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
        gw = self.gateway
        attempts = int(row["attempts"]) + 1
        settings = gw.settings.pipeline
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
            gw.metrics.turns.labels(channel.name, "retry").inc()
            await gw.store.retry_turn(int(row["id"]), attempts, time.time() + delay, exc.reason)
            if values:
                await gw.store.update_conversation(conversation["id"], **values)
            await gw.store.release_conversation(conversation["id"], self.owner)
            return None
        log.error(
            "conversation %s: bot failed for good: %s; the user is told", conversation["id"], exc.reason
        )
        gw.metrics.turns.labels(channel.name, "failed").inc()
        apology: list[UniversalMessage] = [Text(text=gettext_for(locale)(APOLOGY))]
        items = self.render(channel, conversation, apology, locale, reply_to=row["platform_message_id"])
        return await self._commit(
            channel, conversation, row, items, values, failed_reason=f"bot: {exc.reason}"
        )
