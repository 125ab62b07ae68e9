"""The outbox: what the gateway sends, in order per conversation, and the delivery worker's claims on it.

A message waits in its conversation's line: it is claimed only when nothing earlier of the same
conversation still waits or is in flight, so a retrying head holds back what follows it. Every path that
queues a message (a turn's replies, the send API, a broadcast) builds its rows with :func:`new_rows` (or
:func:`new_row`) and inserts them with :func:`insert`, inside its own transaction. A best-effort action
(read mark, typing indicator) queued just before a message rides on that message's row (:func:`fold`). The
delivery worker's claims and their outcomes are deliveries.py's; dead letters are in dead_letters.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.engine import RowMapping

from channelgate.channels.base import Outbound, StatusUpdate
from channelgate.store import conversations as conversation_rows
from channelgate.store.database import Database
from channelgate.store.rows import DeliveryRow, NewDelivery, delivery_row
from channelgate.store.statements import Sql
from channelgate.store.tables import outbox

#: Outbox statuses in the order a message moves through them; a status update never moves one back.
STATUS_RANK = {"held": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}
FINAL = ("failed", "dead")
#: statuses of a message not yet handed to the platform
PENDING = ("held", "queued", "sending")


@dataclass(frozen=True, slots=True)
class NewOutbound:
    """A rendered payload to queue. ``before``: best-effort actions sent just before it (:func:`fold`)."""

    outbound: Outbound
    status: str = "queued"
    reason: str | None = None
    before: tuple[Outbound, ...] = ()


def fold(items: Iterable[NewOutbound]) -> list[NewOutbound]:
    """The items to store as rows: a run of queued best-effort actions immediately followed by a queued
    real message is stored on that message's row (its ``before``), not as rows of their own.

    Why: the channels render these actions (read mark, typing indicator, callback answer) just before the
    reply they announce, and a row of its own cost an insert, a delivery claim, a task and a finish for a
    call that is skipped under load most of the time. Sent from the reply's row (delivery.py), the platform
    sees the same calls in the same order. An action with no queued message after it stays a row of its
    own; held rows (a passive reply) and failed renders are never folded, nor folded onto."""
    out: list[NewOutbound] = []
    run: list[NewOutbound] = []
    for item in items:
        if item.status == "queued" and item.outbound.best_effort:
            run.append(item)
            continue
        if run and item.status == "queued":
            actions = tuple([r.outbound for r in run])
            out.append(NewOutbound(item.outbound, item.status, item.reason, actions + item.before))
        else:
            out.extend(run)
            out.append(item)
        run = []
    out.extend(run)
    return out


def _before(actions: tuple[Outbound, ...]) -> list[dict[str, Any]] | None:
    """An item's ``before`` as its column stores it (None: no action)."""
    if not actions:
        return None
    return [{"kind": a.kind, "body": a.body, "summary": a.summary} for a in actions]


INSERT_OUTBOX = Sql(
    """INSERT INTO outbox
         (conversation_id, channel, label, inbox_id, request_id, idempotency_key, kind, best_effort, body,
          fallback, summary, before, status, attempts, next_attempt_at, reason, created_at, updated_at)
       VALUES (:conversation_id, :channel, :label, :inbox_id, :request_id, :idempotency_key, :kind,
          :best_effort, :body, :fallback, :summary, :before, :status, :attempts, :next_attempt_at, :reason,
          :created_at, :updated_at)
       RETURNING id""",
    json=("body", "fallback", "before"),
)


# --- inside a transaction ---


def new_row(
    conversation_id: str,
    channel: str,
    label: str,
    item: NewOutbound,
    now: float,
    turn_id: int | None,
    request_id: str | None,
    idempotency_key: str | None = None,
) -> NewDelivery:
    """The values of one message to queue (``turn_id``: the turn that replied with it, if any)."""
    o = item.outbound
    return {
        "conversation_id": conversation_id,
        "channel": channel,
        "label": label,
        "inbox_id": turn_id,
        "request_id": request_id,
        "idempotency_key": idempotency_key,
        "kind": o.kind,
        "best_effort": o.best_effort,
        "body": o.body,
        "fallback": o.fallback,
        "summary": o.summary,
        "before": _before(item.before),
        "status": item.status,
        "attempts": 0,
        "next_attempt_at": now,
        "reason": item.reason,
        "created_at": now,
        "updated_at": now,
    }


def new_rows(
    conversation_id: str,
    channel: str,
    label: str,
    items: Iterable[NewOutbound],
    now: float,
    turn_id: int | None,
    request_id: str | None,
    idempotency_key: str | None = None,
) -> list[NewDelivery]:
    """Rendered items as rows, each best-effort action folded onto the message it announces (:func:`fold`)."""
    return [
        new_row(conversation_id, channel, label, item, now, turn_id, request_id, idempotency_key)
        for item in fold(items)
    ]


# The claim on the send in flight in a conversation's line, if one is: what is queued behind it is not due
# before that claim ends (when the send finishes, RELEASE_NEXT in deliveries.py makes the next row due).
# Without this, every row queued behind a send in flight is due and fails the delivery claim's order check on
# every claim until that send ends: with a 150 ms platform, hundreds of rows scanned per claim, the SQLite
# writer's largest cost (docs/benchmarks.md, "Fourth round"). On PostgreSQL the row is locked (FOR SHARE)
# so the insert and the send's finish are ordered: a finish that committed first is seen (the row no longer
# matches: nothing held), one that comes after waits for this transaction and then releases what it inserted.
LINE_IN_FLIGHT = Sql(
    """SELECT lease_until FROM outbox
       WHERE conversation_id = :conversation_id AND status = 'sending' AND lease_until IS NOT NULL"""
)
LINE_IN_FLIGHT_LOCKED = Sql(f"{LINE_IN_FLIGHT.sql} FOR SHARE")


def _in_flight_until(conn: Connection, conversation_id: str) -> float | None:
    """When the claim on ``conversation_id``'s send in flight ends (None: nothing of it is in flight)."""
    statement = LINE_IN_FLIGHT if conn.dialect.name == "sqlite" else LINE_IN_FLIGHT_LOCKED
    ends = [float(r["lease_until"]) for r in statement.rows(conn, {"conversation_id": conversation_id})]
    return max(ends, default=None)


def insert(conn: Connection, rows: Iterable[NewDelivery]) -> list[int]:
    """Insert :func:`new_row`\\ s; their ids, in order. Every path that queues a message goes through here.
    A queued row behind a send in flight waits for it (``LINE_IN_FLIGHT``)."""
    ids: list[int] = []
    in_flight: dict[str, float | None] = {}
    for row in rows:
        if row["status"] == "queued":
            conversation_id = row["conversation_id"]
            if conversation_id not in in_flight:
                in_flight[conversation_id] = _in_flight_until(conn, conversation_id)
            until = in_flight[conversation_id]
            if until is not None and until > row["next_attempt_at"]:
                row = row.copy()
                row["next_attempt_at"] = until
        found = INSERT_OUTBOX.first(conn, row)
        assert found is not None
        ids.append(int(found["id"]))
    return ids


def queue(
    conn: Connection,
    *,
    channel: str,
    label: str,
    user_id: str,
    locale: str,
    conversation_id: str | None,
    items: Sequence[NewOutbound],
    request_id: str,
    idempotency_key: str | None,
    now: float,
) -> tuple[str, list[int]]:
    """Queue messages outside a turn (the send API, a broadcast) for a user, creating their conversation on
    first contact as a webhook would: the conversation id and the messages' ids."""
    if conversation_id is None:
        conversation_id = conversation_rows.ids(conn, channel, label, {user_id: (None, locale)}, now)[user_id]
    rows = new_rows(conversation_id, channel, label, items, now, None, request_id, idempotency_key)
    return conversation_id, insert(conn, rows)


def apply_status(conn: Connection, channel: str, label: str, s: StatusUpdate, now: float) -> None:
    """A platform's receipt (delivered, read, failed) moves the messages it is about forward, never back."""
    target = and_(outbox.c.channel == channel, outbox.c.label == label)
    if s.platform_message_id:
        where = and_(target, outbox.c.platform_message_id == s.platform_message_id)
    elif s.watermark is not None:
        conversation_id = conversation_rows.find_id(conn, channel, label, s.user_id)
        if conversation_id is None:
            return
        where = and_(
            outbox.c.conversation_id == conversation_id,
            outbox.c.sent_at <= s.watermark,
            outbox.c.kind == "message",
        )
    else:
        return
    if s.status == "failed":
        conn.execute(
            update(outbox)
            .where(where, outbox.c.status.in_(["sent", "delivered"]))
            .values(
                status="failed",
                reason=s.reason or "the platform reported the message failed",
                updated_at=now,
            )
        )
        return
    rank = STATUS_RANK[s.status]
    lower = [name for name, r in STATUS_RANK.items() if 3 <= r < rank]
    conn.execute(
        update(outbox).where(where, outbox.c.status.in_(lower)).values(status=s.status, updated_at=now)
    )


# --- the repository ---


class Outbox:
    """Queueing messages outside a turn, passive replies' held rows, and reading the line."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue(
        self,
        conversation_id: str,
        channel: str,
        label: str,
        outbounds: Iterable[NewOutbound],
        request_id: str,
        idempotency_key: str | None = None,
    ) -> list[int]:
        """Queue outbound messages outside a turn (the proactive API)."""
        now = time.time()
        rows = new_rows(conversation_id, channel, label, outbounds, now, None, request_id, idempotency_key)
        async with self.db.tx() as conn:
            return await conn.run_sync(lambda c: insert(c, rows))

    async def unsent_before(self, conversation_id: str, outbox_id: int) -> bool:
        """Whether an earlier message of this conversation still waits to go out (queued, being sent, or
        held for another passive reply). A passive reply must not overtake it: the HTTP answer would
        reach the user before a reply that a retry, or a crashed replica's lease, is holding back."""
        async with self.db.engine.connect() as conn:
            found = await conn.execute(
                select(outbox.c.id)
                .where(
                    outbox.c.conversation_id == conversation_id,
                    outbox.c.id < outbox_id,
                    outbox.c.status.in_(PENDING),
                )
                .limit(1)
            )
            return found.first() is not None

    async def release_held(self, ids: Sequence[int], passive: int) -> None:
        """After a passive reply: the first ``passive`` rows went out in the HTTP answer (called once it was
        written, so a row ``recover`` already put back in the queue stays there), the rest queue."""
        now = time.time()
        async with self.db.tx() as conn:
            if passive:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(list(ids[:passive])), outbox.c.status == "held")
                    .values(status="sent", sent_at=now, updated_at=now, reason="passive reply", attempts=1)
                )
            rest = list(ids[passive:])
            if rest:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(rest), outbox.c.status == "held")
                    .values(status="queued", next_attempt_at=now, updated_at=now)
                )

    # --- delivery ---

    # --- reading ---

    async def rows(self, conversation_id: str) -> list[DeliveryRow]:
        """A conversation's whole line, oldest first."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(outbox).where(outbox.c.conversation_id == conversation_id).order_by(outbox.c.id)
            )
            return [delivery_row(row) for row in result.mappings()]

    async def message(self, message_id: int) -> RowMapping | None:
        """One message by id (the admin API's status; it reads a ``RowMapping``, see api/deps.py)."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(select(outbox).where(outbox.c.id == message_id))
            return result.mappings().first()

    async def counts(self) -> tuple[int, int]:
        """(messages waiting or in flight, dead letters): queue depths for metrics and backpressure."""
        async with self.db.engine.connect() as conn:
            queued = await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status.in_(PENDING))
            )
            dead = await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "dead")
            )
            return int(queued.scalar_one()), int(dead.scalar_one())

    async def states(self, request_id: str) -> dict[int, tuple[str, str | None]]:
        """(status, reason) of every row of a request (a send call or a broadcast), by id."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(outbox.c.id, outbox.c.status, outbox.c.reason).where(outbox.c.request_id == request_id)
            )
            return {int(row.id): (row.status, row.reason) for row in result}

    async def backlog(self, request_id: str) -> int:
        """Messages of a request (a broadcast) still waiting to be sent."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.request_id == request_id, outbox.c.status.in_(PENDING))
            )
            return int(result.scalar_one())
