"""Hand-offs: who holds each conversation (the bot or a person), and the agent desk's own queue.

A conversation without a row here is held by the bot. Taking it for an agent, handing it back and what the
desk must be told (open a desk conversation, a user's message, close it) are written in ONE transaction, so
a crash never leaves a conversation held without its desk knowing, or the desk told of a hand-off that
did not happen.

What goes to the desk is queued in the outbox like a platform send (``kind = 'desk'``), so it gets the same
leases, retries and retry budget, and nothing is lost while the desk is down. Desk rows stand in their own
line (``conversation_id`` is the hand-off's ``desk_line``, not the conversation's id): a desk that is down
holds back only what goes to the desk, never what goes to the user, and the desk still gets everything in
order.

Why one module of ~430 lines: the table, its rows and every statement on it stay together, and the take,
release and forward jobs are the same functions inside a turn's commit and in a transaction of their own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, Final, TypedDict

from sqlalchemy import Column, Connection, Float, Index, String, Table, Text, func, select, update
from sqlalchemy.engine import RowMapping

from channelgate.store import outbox as outbox_rows
from channelgate.store.database import Database
from channelgate.store.idempotency import Idempotency, remember
from channelgate.store.rows import Holder, NewDelivery
from channelgate.store.statements import Sql
from channelgate.store.tables import metadata, outbox

#: the outbox ``kind`` of what goes to the agent desk
DESK_KIND: Final = "desk"

handoffs = Table(
    "handoffs",
    metadata,
    Column("conversation_id", String(32), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("label", String(64), nullable=False),
    Column("holder", String(8), nullable=False),  # bot | agent
    Column("handoff_id", String(32), nullable=False),  # changes at every hand-off
    Column("desk_line", String(32), nullable=False),  # the outbox line of what goes to the desk
    Column("desk_ref", String(255)),  # the desk's conversation (Chatwoot's id)
    Column("desk_ref_for", String(32)),  # the hand-off desk_ref was opened for
    Column("reason", String(32)),  # why the agent holds it: bot | user | operator | agent
    Column("note", Text),
    Column("started_at", Float),
    Column("last_activity_at", Float),
    Column("first_agent_reply_at", Float),
    Column("ended_at", Float),
    Column("end_reason", String(32)),
    Column("updated_at", Float, nullable=False),
)
Index("ix_handoffs_holder", handoffs.c.holder, handoffs.c.last_activity_at)
Index("ix_handoffs_desk_ref", handoffs.c.channel, handoffs.c.label, handoffs.c.desk_ref)


HOLDER = Sql("SELECT holder FROM handoffs WHERE conversation_id = :id")


class HandoffRow(TypedDict):
    conversation_id: str
    channel: str
    label: str
    holder: Holder
    handoff_id: str
    desk_line: str
    desk_ref: str | None
    desk_ref_for: str | None
    reason: str | None
    note: str | None
    started_at: float | None
    last_activity_at: float | None
    first_agent_reply_at: float | None
    ended_at: float | None
    end_reason: str | None
    updated_at: float


def _row(found: RowMapping | None) -> HandoffRow | None:
    return None if found is None else HandoffRow(**dict(found))  # type: ignore[typeddict-item]


def _get(conn: Connection, conversation_id: str) -> HandoffRow | None:
    found = conn.execute(select(handoffs).where(handoffs.c.conversation_id == conversation_id)).mappings()
    return _row(found.first())


def desk_row(
    held: HandoffRow, body: dict[str, Any], summary: str, now: float, key: str | None = None
) -> NewDelivery:
    """An outbox row for the desk, in the hand-off's desk line. ``key``: makes the insert idempotent (a
    turn run twice after a crash forwards its message once)."""
    return {
        "conversation_id": held["desk_line"],
        "channel": held["channel"],
        "label": held["label"],
        "inbox_id": None,
        "request_id": None,
        "idempotency_key": key,
        "kind": DESK_KIND,
        "best_effort": False,
        "body": body,
        "fallback": None,
        "summary": summary,
        "before": None,
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": now,
        "reason": None,
        "created_at": now,
        "updated_at": now,
    }


def _tagged(body: dict[str, Any], held: HandoffRow) -> dict[str, Any]:
    """A desk row's body, naming the hand-off it belongs to."""
    return {**body, "handoff_id": held["handoff_id"]}


def _queue_desk(conn: Connection, rows: list[NewDelivery]) -> None:
    for row in rows:
        key = row.get("idempotency_key")
        if key is not None:
            seen = conn.execute(
                select(outbox.c.id).where(
                    outbox.c.conversation_id == row["conversation_id"], outbox.c.idempotency_key == key
                )
            ).first()
            if seen is not None:
                continue
        outbox_rows.insert(conn, [row])


# --- inside a transaction (a turn's commit runs these with its own rows: Inbox.complete_turn's ``also``) ---


def take(
    conn: Connection,
    conversation_id: str,
    channel: str,
    label: str,
    *,
    reason: str,
    note: str | None,
    desk: list[tuple[dict[str, Any], str]] | None,
    now: float,
) -> HandoffRow | None:
    """Hand the conversation to an agent; queue ``desk`` (body, summary) pairs for the desk, each body
    given the hand-off's ``handoff_id``. None when an agent already holds it (nothing changes)."""
    found = _get(conn, conversation_id)
    if found is not None and found["holder"] == "agent":
        return None
    values: dict[str, Any] = {
        "holder": "agent",
        "handoff_id": uuid.uuid4().hex,
        "reason": reason,
        "note": note,
        "started_at": now,
        "last_activity_at": now,
        "first_agent_reply_at": None,
        "ended_at": None,
        "end_reason": None,
        "updated_at": now,
    }
    if found is None:
        values |= {
            "conversation_id": conversation_id,
            "channel": channel,
            "label": label,
            "desk_line": uuid.uuid4().hex,
        }
        conn.execute(handoffs.insert().values(**values))
    else:
        conn.execute(update(handoffs).where(handoffs.c.conversation_id == conversation_id).values(**values))
    held = _get(conn, conversation_id)
    assert held is not None
    _queue_desk(
        conn,
        [
            desk_row(held, {**body, "handoff_id": held["handoff_id"]}, summary, now)
            for body, summary in desk or []
        ],
    )
    return held


def release(
    conn: Connection,
    conversation_id: str,
    *,
    reason: str,
    event_turn: dict[str, Any] | None,
    desk: list[tuple[dict[str, Any], str]] | None,
    idle_before: float | None,
    now: float,
) -> HandoffRow | None:
    """Give the conversation back to the bot; queue ``desk`` rows and the bot's event turn (``{"input":
    ..., "dedup_key": ...}``). ``idle_before``: only when nothing happened since then (the idle sweep,
    racing a message). Returns the hand-off as it was; None when no agent held it."""
    from channelgate.store.inbox import insert_event  # inbox imports much; only this needs it

    found = _get(conn, conversation_id)
    if found is None or found["holder"] != "agent":
        return None
    if idle_before is not None and (found["last_activity_at"] or 0.0) >= idle_before:
        return None
    conn.execute(
        update(handoffs)
        .where(handoffs.c.conversation_id == conversation_id)
        .values(holder="bot", ended_at=now, end_reason=reason, updated_at=now)
    )
    _queue_desk(
        conn,
        [
            desk_row(found, {**body, "handoff_id": found["handoff_id"]}, summary, now)
            for body, summary in desk or []
        ],
    )
    if event_turn is not None:
        insert_event(
            conn,
            conversation_id,
            found["channel"],
            found["label"],
            event_turn["input"],
            event_turn["dedup_key"],
            now,
        )
    return found


def forward(
    conn: Connection, conversation_id: str, body: dict[str, Any], summary: str, key: str, now: float
) -> HandoffRow | None:
    """Queue a user's input for the desk (once per ``key``) and note the activity. None when the bot holds
    the conversation (then nothing is queued)."""
    found = _get(conn, conversation_id)
    if found is None or found["holder"] != "agent":
        return None
    conn.execute(
        update(handoffs)
        .where(handoffs.c.conversation_id == conversation_id)
        .values(last_activity_at=now, updated_at=now)
    )
    _queue_desk(conn, [desk_row(found, {**body, "handoff_id": found["handoff_id"]}, summary, now, key)])
    return found


def to_bot_if_released(
    conn: Connection, conversation: Mapping[str, Any], value: dict[str, Any], key: str, now: float
) -> bool:
    """The input a turn meant for the agent, when the conversation was given back between the turn's read
    of its holder and its commit: it becomes the bot's next turn (after ``handoff_ended``, which the
    hand-back queued first) instead of reaching neither. True when it did."""
    from channelgate.store.inbox import insert_event  # inbox imports much; only this needs it

    found = _get(conn, conversation["id"])
    if found is not None and found["holder"] == "agent":
        return False
    channel, label = conversation["channel"], conversation["label"]
    insert_event(conn, conversation["id"], channel, label, value, f"{key}:to-bot", now)
    return True


def touch(conn: Connection, conversation_id: str, now: float) -> None:
    """Something happened in a conversation an agent holds: it is not idle."""
    conn.execute(
        update(handoffs)
        .where(handoffs.c.conversation_id == conversation_id, handoffs.c.holder == "agent")
        .values(last_activity_at=now, updated_at=now)
    )


class Handoffs:
    """The ``handoffs`` table and the desk's rows of the outbox."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, conversation_id: str) -> HandoffRow | None:
        async with self.db.engine.connect() as conn:
            return await conn.run_sync(lambda c: _get(c, conversation_id))

    async def holder(self, conversation_id: str) -> Holder:
        """Who holds the conversation (the API asks before an agent's send). A turn does not ask: the holder
        comes with its conversation read (store/conversations.py ``CONVERSATION_FOR_TURN``)."""
        found = await self.db.run(lambda conn: HOLDER.first(conn, {"id": conversation_id}))
        return "agent" if found is not None and found["holder"] == "agent" else "bot"

    async def holders(self, conversation_ids: list[str]) -> dict[str, Holder]:
        """Who holds each of these conversations (the API's lists)."""
        if not conversation_ids:
            return {}
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(handoffs.c.conversation_id).where(
                    handoffs.c.conversation_id.in_(conversation_ids), handoffs.c.holder == "agent"
                )
            )
            agent = {str(r[0]) for r in result}
        return {c: ("agent" if c in agent else "bot") for c in conversation_ids}

    async def by_desk_ref(self, channel: str, label: str, desk_ref: str) -> HandoffRow | None:
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(handoffs).where(
                    handoffs.c.channel == channel, handoffs.c.label == label, handoffs.c.desk_ref == desk_ref
                )
            )
            return _row(result.mappings().first())

    async def take(
        self,
        conversation_id: str,
        channel: str,
        label: str,
        *,
        reason: str,
        note: str | None,
        desk: list[tuple[dict[str, Any], str]] | None = None,
        now: float | None = None,
    ) -> HandoffRow | None:
        """:func:`take` in a transaction of its own."""
        at = time.time() if now is None else now
        async with self.db.tx() as conn:
            return await conn.run_sync(
                lambda c: take(
                    c, conversation_id, channel, label, reason=reason, note=note, desk=desk, now=at
                )
            )

    async def release(
        self,
        conversation_id: str,
        *,
        reason: str,
        event_turn: dict[str, Any] | None = None,
        desk: list[tuple[dict[str, Any], str]] | None = None,
        idle_before: float | None = None,
        now: float | None = None,
    ) -> HandoffRow | None:
        """:func:`release` in a transaction of its own."""
        at = time.time() if now is None else now
        async with self.db.tx() as conn:
            return await conn.run_sync(
                lambda c: release(
                    c,
                    conversation_id,
                    reason=reason,
                    event_turn=event_turn,
                    desk=desk,
                    idle_before=idle_before,
                    now=at,
                )
            )

    async def agent_replied(
        self,
        conversation_id: str,
        rows: list[NewDelivery],
        *,
        request_id: str,
        now: float | None = None,
        idem: Idempotency | None = None,
    ) -> tuple[list[int], float | None] | None:
        """Queue an agent's reply (outbox rows for the user) once per ``request_id`` and note the activity.
        Returns the new rows' ids and, on the hand-off's first agent reply, the seconds it took; None when
        ``request_id`` was seen before (Chatwoot repeats webhooks). ``idem``: the API's answer is remembered
        under the key in the same transaction (``Taken`` when another request committed the key first)."""
        now = time.time() if now is None else now

        def job(conn: Connection) -> tuple[list[int], float | None] | None:
            seen = conn.execute(select(outbox.c.id).where(outbox.c.request_id == request_id)).first()
            if seen is not None:
                return None
            found = _get(conn, conversation_id)
            waited: float | None = None
            if found is not None and found["holder"] == "agent":
                values: dict[str, Any] = {"last_activity_at": now, "updated_at": now}
                if found["first_agent_reply_at"] is None:
                    values["first_agent_reply_at"] = now
                    waited = now - (found["started_at"] or now)
                conn.execute(
                    update(handoffs).where(handoffs.c.conversation_id == conversation_id).values(**values)
                )
            ids = outbox_rows.insert(conn, [{**r, "request_id": request_id} for r in rows])
            return ids, waited

        async with self.db.tx() as conn:
            done = await conn.run_sync(job)
            if done is not None and idem is not None:
                answer = {
                    "conversation_id": conversation_id,
                    "request_id": request_id,
                    "message_ids": done[0],
                }
                await remember(self.db, conn, idem, answer)
            return done

    async def note(self, conversation_id: str, text: str, now: float | None = None) -> bool:
        """Queue a private note for the desk of the conversation's hand-off."""
        at = time.time() if now is None else now

        def job(conn: Connection) -> bool:
            found = _get(conn, conversation_id)
            if found is None:
                return False
            body = {"op": "note", "conversation_id": conversation_id, "text": text}
            _queue_desk(
                conn, [desk_row(found, {**body, "handoff_id": found["handoff_id"]}, "desk: note", at)]
            )
            return True

        async with self.db.tx() as conn:
            return await conn.run_sync(job)

    async def request_rows(self, request_id: str) -> list[int]:
        """The ids of the messages queued under ``request_id`` (an agent reply's repeat gets them)."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(outbox.c.id).where(outbox.c.request_id == request_id).order_by(outbox.c.id)
            )
            return [int(r[0]) for r in result]

    async def set_desk_ref(self, conversation_id: str, handoff_id: str, desk_ref: str) -> None:
        """The desk conversation opened for this hand-off (its agents' replies are found by it)."""
        async with self.db.tx() as conn:
            await conn.execute(
                update(handoffs)
                .where(handoffs.c.conversation_id == conversation_id)
                .values(desk_ref=desk_ref, desk_ref_for=handoff_id, updated_at=time.time())
            )

    async def idle(self, before: float, limit: int = 100) -> list[HandoffRow]:
        """Hand-offs an agent holds where nothing happened since ``before``."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(handoffs)
                .where(handoffs.c.holder == "agent", handoffs.c.last_activity_at < before)
                .order_by(handoffs.c.last_activity_at)
                .limit(limit)
            )
            return [r for r in (_row(m) for m in result.mappings()) if r is not None]

    async def held_counts(self) -> dict[tuple[str, str], int]:
        """Conversations agents hold, by integration (the metrics gauge)."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(handoffs.c.channel, handoffs.c.label, func.count())
                .where(handoffs.c.holder == "agent")
                .group_by(handoffs.c.channel, handoffs.c.label)
            )
            return {(str(r[0]), str(r[1])): int(r[2]) for r in result}
