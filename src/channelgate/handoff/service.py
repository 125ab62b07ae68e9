"""The one hand-off model: a conversation is held by the bot or by an agent (a person).

It moves to an agent when the bot's Reply carries ``handoff``, when the user asks (a trigger phrase, on
integrations with a ``handoff:`` key), or when an operator takes it (the admin API); it moves back when
the agent resolves or releases it, or after ``handoff.idle_timeout`` without a message, and the bot then
gets the event turn ``{"type": "event", "name": "handoff_ended", "data": {"reason": ...}}``.

While an agent holds it, the user's inputs are recorded as turns (the transcript) but not given to the
bot: they are queued for the desk in the same transaction that ends the turn. Agents' replies are
rendered by the channel like the bot's (window rules included; Messenger and Instagram get the
``HUMAN_AGENT`` tag outside the 24-hour window) and queued in the conversation's line like any send.

The desk (Chatwoot, when the integration names one) is told through the outbox (``kind = 'desk'``, see
store/handoffs.py), so the delivery worker retries it like a platform and nothing is lost while it is down.
Without a desk, agents answer through the admin API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection

from channelgate.channels.base import Channel, Health, Rejected
from channelgate.channels.http import PlatformHTTP
from channelgate.handoff import thread_control
from channelgate.handoff.chatwoot import ChatwootDesk
from channelgate.handoff.chatwoot_events import HINT_ATTRIBUTE
from channelgate.handoff.native import NativeHandover
from channelgate.handoff.settings import ChatwootSettings, HandoffSettings
from channelgate.handoff.texts import input_text, transcript_note
from channelgate.lookup import ChannelLookup, IntegrationLookup
from channelgate.messages import MessageOptions, Text, UniversalMessage
from channelgate.metrics import Metrics
from channelgate.outbound import render_outbound
from channelgate.store import NewOutbound, Store
from channelgate.store import handoffs as handoff_rows
from channelgate.store import outbox as outbox_rows
from channelgate.store.handoffs import HandoffRow
from channelgate.store.idempotency import Idempotency
from channelgate.store.statements import Row
from channelgate.store.transcript import transcript
from channelgate.turns import EventInput, Input, TextInput

log = logging.getLogger("channelgate.handoff")

#: the event the bot receives when a conversation comes back to it
HANDOFF_ENDED = "handoff_ended"
#: Meta's tag for a person's replies up to 7 days after the user's last message
HUMAN_AGENT = "HUMAN_AGENT"
#: the channels that take it (Messenger and Instagram messaging share Meta's message tags)
HUMAN_AGENT_CHANNELS = ("messenger", "instagram")
DAY = 86400.0


class HandoffService:
    """Takes, hands back, forwards to the desk and sends agents' replies; sweeps idle hand-offs.

    It is given what it uses: the store, the ``handoff:`` settings, the metrics, lookups of the live
    channels and integrations, the gateway's HTTP client (for the desks), a wake for the delivery worker
    and the turn runner's ``accepted`` (a hand-back starts the bot's event turn)."""

    def __init__(
        self,
        store: Store,
        settings: HandoffSettings,
        *,
        metrics: Metrics,
        channel: ChannelLookup,
        integration: IntegrationLookup,
        http: Callable[[], PlatformHTTP | None],
        wake_delivery: Callable[[], None],
        turns_accepted: Callable[[Iterable[str]], None],
    ) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.channel = channel
        self.integration = integration
        self.http = http
        self.wake_delivery = wake_delivery
        self.turns_accepted = turns_accepted
        self._desks: dict[tuple[str, str], tuple[ChatwootSettings, ChatwootDesk]] = {}
        #: the platforms' own hand-over (Messenger's thread control, WeChat's customer service)
        self.native = NativeHandover(self)

    # --- the desk of an integration ---

    def chatwoot(self, channel: str, label: str) -> ChatwootSettings | None:
        integration = self.integration(channel, label)
        if integration is None or integration.handoff is None:
            return None
        return integration.handoff.chatwoot

    def thread_target(self, channel: str, label: str) -> str | None:
        """Messenger's handover protocol: the app thread control is passed to on a hand-off, if any."""
        integration = self.integration(channel, label)
        if channel != "messenger" or integration is None or integration.handoff is None:
            return None
        return integration.handoff.thread_target()

    def desk(self, channel: str, label: str) -> ChatwootDesk | None:
        """The integration's Chatwoot client (a new one when its settings were replaced)."""
        settings = self.chatwoot(channel, label)
        http = self.http()
        if settings is None or http is None:
            return None
        cached = self._desks.get((channel, label))
        if cached is None or cached[0] is not settings:
            cached = (settings, ChatwootDesk(settings, http))
            self._desks[(channel, label)] = cached
        return cached[1]

    def desk_health(self) -> dict[str, Health]:
        """The health of each desk in use (red while Chatwoot refuses the token), for /readyz."""
        return {f"{name}/{label}": desk.health for (name, label), (_, desk) in self._desks.items()}

    # --- taking ---

    def user_asks(self, channel: str, label: str, value: Input) -> bool:
        """Whether this input asks for a person, on an integration where users may."""
        integration = self.integration(channel, label)
        if integration is None or integration.handoff is None or not integration.handoff.user_request:
            return False
        return isinstance(value, TextInput) and self.settings.matches(value.text)

    async def desk_opening(
        self, conversation: Row, reason: str, note: str | None
    ) -> list[tuple[dict[str, Any], str]]:
        """What the desk is told when the conversation is handed over: open, then the transcript note."""
        if self.chatwoot(conversation["channel"], conversation["label"]) is None:
            return []
        limit = self.settings.transcript_messages
        entries = await transcript(self.store, conversation["id"], limit=1000) if limit else []
        user = conversation["user_name"] or conversation["user_id"]
        text = transcript_note(entries[-limit:] if limit else [], reason=reason, note=note, user=str(user))
        base = {"conversation_id": conversation["id"]}
        return [
            ({**base, "op": "open"}, "desk: open"),
            ({**base, "op": "note", "text": text}, "desk: transcript"),
        ]

    def taking(
        self,
        conversation: Row,
        reason: str,
        note: str | None,
        desk: list[tuple[dict[str, Any], str]],
        *,
        pass_thread: bool = True,
    ) -> tuple[Callable[[Connection], object], list[HandoffRow]]:
        """A job for a turn's commit (``Inbox.complete_turn``'s ``also``) that hands the conversation
        over; the list gets the hand-off when it happened. On Messenger's handover protocol it also queues
        ``pass_thread_control`` in the conversation's own line, after the turn's messages (the app must
        still hold the thread to send them)."""
        taken: list[HandoffRow] = []
        target = self.thread_target(conversation["channel"], conversation["label"]) if pass_thread else None

        def job(conn: Connection) -> None:
            found = handoff_rows.take(
                conn,
                conversation["id"],
                conversation["channel"],
                conversation["label"],
                reason=reason,
                note=note,
                desk=desk,
                now=time.time(),
            )
            if found is not None:
                taken.append(found)
                if target is not None:
                    metadata = note or f"handoff: {reason}"
                    body, summary = thread_control.pass_row(conversation["id"], target, metadata)
                    self._in_line(conn, found, body, summary)

        return job, taken

    @staticmethod
    def _in_line(conn: Connection, held: HandoffRow, body: dict[str, Any], summary: str) -> None:
        """A desk-kind row in the conversation's own line (not the desk's): a thread-control call keeps its
        place among the user's messages."""
        row = handoff_rows.desk_row(held, {**body, "handoff_id": held["handoff_id"]}, summary, time.time())
        row["conversation_id"] = held["conversation_id"]
        outbox_rows.insert(conn, [row])

    def taken(self, conversation: Row, reason: str) -> None:
        """Count a hand-off that committed, and let the desk know."""
        self.metrics.handoffs.labels(conversation["channel"], conversation["label"], reason).inc()
        log.info("conversation %s handed to an agent (%s)", conversation["id"], reason)
        self.wake_delivery()

    async def take(
        self, conversation: Row, *, reason: str, note: str | None = None, desk: bool = True
    ) -> bool:
        """Hand a conversation to an agent outside a turn (an operator; an agent who wrote in the desk,
        ``desk=False``: the desk's conversation is open already). False when an agent holds it."""
        opening = await self.desk_opening(conversation, reason, note) if desk else []
        job, taken = self.taking(conversation, reason, note, opening, pass_thread=desk)
        async with self.store.handoffs.db.tx() as conn:
            await conn.run_sync(job)
        if not taken:
            return False
        self.taken(conversation, reason)
        return True

    # --- while an agent holds it ---

    def forwarding(
        self, conversation: Row, turn_id: int, value: dict[str, Any]
    ) -> Callable[[Connection], object]:
        """A job for a turn's commit that queues the user's input for the desk (once, whatever retries)."""
        has_desk = self.chatwoot(conversation["channel"], conversation["label"]) is not None
        body = {"op": "message", "conversation_id": conversation["id"], "input": value}
        now = time.time()

        def job(conn: Connection) -> None:
            key = f"turn:{turn_id}"
            if handoff_rows.to_bot_if_released(conn, conversation, value, key, now):
                return  # given back since the turn read its holder: the bot gets it as its next turn
            if has_desk:
                handoff_rows.forward(conn, conversation["id"], body, "desk: message", key, now)
            else:  # no desk to tell: the transcript has it; the activity keeps the hand-off from going idle
                handoff_rows.touch(conn, conversation["id"], now)

        return job

    def render_agent(
        self, channel: Channel[Any], conversation: Row, messages: list[UniversalMessage]
    ) -> list[NewOutbound]:
        """An agent's messages rendered by the channel like the bot's: proactive (the window rules apply),
        with the HUMAN_AGENT tag outside the 24-hour window (:meth:`agent_tag`). A refusal is a ``failed``
        item."""
        return render_outbound(
            channel,
            conversation,
            messages,
            str(conversation["locale"]),
            reply_to=None,
            options=self._options(channel, conversation),
        )

    async def agent_reply(
        self,
        conversation: Row,
        messages: list[UniversalMessage],
        *,
        request_id: str,
        items: list[NewOutbound] | None = None,
        idem: Idempotency | None = None,
    ) -> list[int] | None:
        """Queue an agent's messages for the user (``items``: already rendered); None when
        ``request_id`` was queued before. A render the channel refused is recorded as failed, and the
        desk is told why in a private note. ``idem``: the admin API's idempotency key, whose answer is
        remembered with the queued rows (store/idempotency.py)."""
        channel = self.channel(conversation["channel"], conversation["label"])
        if channel is None:
            raise Rejected(f"integration {conversation['channel']}/{conversation['label']} is not configured")
        if items is None:
            items = self.render_agent(channel, conversation, messages)
        now = time.time()
        label = channel.ctx.label
        rows = outbox_rows.new_rows(conversation["id"], channel.name, label, items, now, None, None)
        done = await self.store.handoffs.agent_replied(
            conversation["id"], rows, request_id=request_id, now=now, idem=idem
        )
        if done is None:
            return None
        ids, waited = done
        if waited is not None:
            self.metrics.first_agent_reply.labels(channel.name, channel.ctx.label).observe(waited)
        refused = [item.reason or "refused" for item in items if item.status == "failed"]
        if refused and self.chatwoot(channel.name, channel.ctx.label) is not None:
            text = "Not delivered to the user: " + "; ".join(refused)
            await self.store.handoffs.note(conversation["id"], text, now)
        self.wake_delivery()
        return ids

    @staticmethod
    def agent_tag(channel: str, conversation: Row) -> str | None:
        """The message tag an agent's reply carries now, or None: on Messenger and Instagram, past the
        24-hour window a person may still answer, up to 7 days after the user's last message, with
        HUMAN_AGENT (the channel's renderer enforces the 7 days). The one rule: the console shows it too."""
        if channel not in HUMAN_AGENT_CHANNELS:
            return None
        last = conversation["last_inbound_at"]
        if last is not None and time.time() - float(last) < DAY:
            return None
        return HUMAN_AGENT

    def _options(self, channel: Channel[Any], conversation: Row) -> MessageOptions | None:
        tag = self.agent_tag(channel.name, conversation)
        return MessageOptions(tag=tag) if tag is not None else None

    # --- handing back ---

    async def hand_back(
        self,
        conversation_id: str,
        reason: str,
        *,
        idle_before: float | None = None,
        platform: bool = False,
    ) -> bool:
        """Give the conversation back to the bot (``resolved``, ``released`` or ``idle``); the bot gets
        ``handoff_ended``. The desk is asked to resolve its conversation unless it is the one that did;
        on Messenger's handover protocol the thread is taken back unless the platform passed it
        (``platform``)."""
        current = await self.store.handoffs.get(conversation_id)
        if current is None or current["holder"] != "agent":
            return False
        event = EventInput(name=HANDOFF_ENDED, data={"reason": reason})
        desk: list[tuple[dict[str, Any], str]] = []
        if reason != "resolved" and self.chatwoot(current["channel"], current["label"]) is not None:
            desk = [({"conversation_id": conversation_id, "op": "close"}, "desk: close")]
        take_thread = not platform and self.thread_target(current["channel"], current["label"]) is not None
        event_turn = {
            "input": event.model_dump(mode="json", exclude_none=True),
            "dedup_key": f"{HANDOFF_ENDED}:{current['handoff_id']}",
        }

        def job(conn: Connection) -> HandoffRow | None:
            released = handoff_rows.release(
                conn,
                conversation_id,
                reason=reason,
                event_turn=event_turn,
                desk=desk,
                idle_before=idle_before,
                now=time.time(),
            )
            if released is not None and take_thread:  # before the bot's answer to handoff_ended
                self._in_line(conn, released, *thread_control.take_row(conversation_id, reason))
            return released

        async with self.store.handoffs.db.tx() as conn:
            found = await conn.run_sync(job)
        if found is None:
            return False
        self.metrics.handoffs_ended.labels(found["channel"], found["label"], reason).inc()
        log.info("conversation %s back to the bot (%s)", conversation_id, reason)
        self.turns_accepted([conversation_id])
        self.wake_delivery()
        return True

    async def sweep(self) -> int:
        """Hand back every conversation idle for ``idle_timeout``; how many."""
        before = time.time() - self.settings.idle_timeout
        count = 0
        for held in await self.store.handoffs.idle(before):
            if await self.hand_back(held["conversation_id"], "idle", idle_before=before):
                count += 1
        return count

    async def run_sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("hand-off sweep: store unavailable; trying again")

    # --- the desk's queue (the delivery worker calls this for ``kind = 'desk'`` rows) ---

    async def send_to_desk(self, row: Row) -> str | None:
        """Tell the desk one thing; its message id. Raises a SendError like a channel's send."""
        body: dict[str, Any] = row["body"]
        if body.get("op") in thread_control.THREAD_OPS:
            await self.native.thread_call(row, body)
            return None
        desk = self.desk(row["channel"], row["label"])
        if desk is None:
            raise Rejected("the integration has no hand-off desk (handoff.chatwoot) any more")
        conversation_id = str(body.get("conversation_id"))
        held = await self.store.handoffs.get(conversation_id)
        if held is None:
            raise Rejected("the conversation's hand-off is gone (deleted)")
        op = body.get("op")
        if op == "open":
            if held["desk_ref_for"] == body.get("handoff_id") and held["desk_ref"]:
                return None  # opened before a crash cut the row short
            conversation = await self.store.conversations.get(conversation_id)
            if conversation is None:
                raise Rejected("the conversation is gone (deleted)")
            identifier = f"channelgate:{row['channel']}:{row['label']}:{conversation['user_id']}"
            attributes = {HINT_ATTRIBUTE: conversation_id, "channel": row["channel"]}
            opened = await desk.open(identifier, conversation["user_name"], attributes)
            await self.store.handoffs.set_desk_ref(conversation_id, str(body.get("handoff_id")), opened)
            return f"chatwoot-conversation:{opened}"
        ref = held["desk_ref"]
        if not ref:
            raise Rejected("no desk conversation was opened for this hand-off")
        if op == "close":
            await desk.resolve(ref)
            return None
        sent: str | None
        if op == "note":
            sent = await desk.post(ref, str(body.get("text") or ""), private=True)
        elif op == "message":
            value = body.get("input")
            sent = await desk.post(ref, input_text(value if isinstance(value, dict) else {}))
        else:
            raise Rejected(f"unknown desk operation {op!r}")
        return None if sent is None else f"chatwoot:{sent}"


def confirmation(settings: HandoffSettings, locale: str) -> list[UniversalMessage]:
    """What the user is told when their request for a person is taken."""
    text = settings.confirmation(locale)
    return [Text(text=text)] if text else []


__all__ = ["HANDOFF_ENDED", "HUMAN_AGENT", "HUMAN_AGENT_CHANNELS", "HandoffService", "confirmation"]
