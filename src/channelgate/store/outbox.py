"""The outbox: what the gateway sends, in order per conversation, and the delivery worker's claims on it.

A message waits in its conversation's line: it is claimed only when nothing earlier of the same
conversation still waits or is in flight, so a retrying head holds back what follows it. Every path that
queues a message (a turn's replies, the send API, a broadcast) builds its rows with :func:`new_row` and
inserts them with :func:`insert`, inside its own transaction. Dead letters are in dead_letters.py.
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
    outbound: Outbound
    status: str = "queued"
    reason: str | None = None


INSERT_OUTBOX = Sql(
    """INSERT INTO outbox
         (conversation_id, channel, label, inbox_id, request_id, idempotency_key, kind, best_effort, body,
          fallback, summary, status, attempts, next_attempt_at, reason, created_at, updated_at)
       VALUES (:conversation_id, :channel, :label, :inbox_id, :request_id, :idempotency_key, :kind,
          :best_effort, :body, :fallback, :summary, :status, :attempts, :next_attempt_at, :reason,
          :created_at, :updated_at)
       RETURNING id""",
    json=("body", "fallback"),
)
# The head of each conversation's line only: nothing earlier of the same conversation still waits or is
# in flight. The outer ``status = 'queued'`` is checked again on each row as it is updated, so on
# PostgreSQL two replicas claiming at once never both take a row.
CLAIM_DELIVERIES = Sql(
    """UPDATE outbox SET status = 'sending', lease_owner = :owner, lease_until = :until, updated_at = :now
       WHERE status = 'queued' AND id IN (
         SELECT o.id FROM outbox o
         WHERE o.status = 'queued' AND o.next_attempt_at <= :now
           AND NOT EXISTS (
             SELECT 1 FROM outbox e
             WHERE e.conversation_id = o.conversation_id AND e.id < o.id
               AND e.status IN ('held', 'queued', 'sending'))
         ORDER BY o.next_attempt_at, o.id
         LIMIT :limit)
       RETURNING *""",
    json=("body", "fallback"),
    booleans=("best_effort",),
)
# A fallback template's note stays (the API reports it); retry reasons go.
MARK_SENT = Sql(
    """UPDATE outbox SET status = 'sent', platform_message_id = :platform_message_id, sent_at = :now,
         updated_at = :now, attempts = :attempts, lease_owner = NULL, lease_until = NULL,
         reason = CASE WHEN reason LIKE 'window closed%' THEN reason ELSE NULL END
       WHERE id = :id"""
)
# A send that failed and waits for its next try. Attempts and ``retry_since`` (when its retry budget
# started) are the caller's; lease and status go back to the queue.
MARK_RETRY = Sql(
    """UPDATE outbox SET status = 'queued', attempts = :attempts, next_attempt_at = :at, reason = :reason,
         retry_since = :retry_since, updated_at = :now, lease_owner = NULL, lease_until = NULL
       WHERE id = :id"""
)
# What waits behind a retrying head waits as long: its later messages are not due before it is, so the
# delivery claim does not scan them on every round while the head waits (a long outage queues thousands).
HOLD_FOLLOWERS = Sql(
    """UPDATE outbox SET next_attempt_at = :at
       WHERE conversation_id = :conversation_id AND status = 'queued' AND id > :id
         AND next_attempt_at < :at"""
)
# An integration's deliveries resume (its credentials were fixed): everything it has queued is due now,
# and the retry budget of each starts again, since the pause was not the messages' failure.
# At start: a process does not know which integrations an earlier one paused, and the config may hold a new
# token now; what was paused is tried at once (and paused again if the credentials are still refused).
RESUME_PAUSED = Sql(
    """UPDATE outbox SET next_attempt_at = :now, retry_since = :now, updated_at = :now
       WHERE status = 'queued' AND reason LIKE 'paused: credentials refused%'"""
)
RESUME_DELIVERIES = Sql(
    """UPDATE outbox SET next_attempt_at = :now, retry_since = :now, updated_at = :now
       WHERE channel = :channel AND label = :label AND status = 'queued'"""
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
        "status": item.status,
        "attempts": 0,
        "next_attempt_at": now,
        "reason": item.reason,
        "created_at": now,
        "updated_at": now,
    }


def insert(conn: Connection, rows: Iterable[NewDelivery]) -> list[int]:
    """Insert :func:`new_row`\\ s; their ids, in order. Every path that queues a message goes through here."""
    ids: list[int] = []
    for row in rows:
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
    rows = [
        new_row(conversation_id, channel, label, item, now, None, request_id, idempotency_key)
        for item in items
    ]
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
    """Queueing messages outside a turn, the delivery worker's claims and outcomes, and reading the line."""

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
        rows = [
            new_row(conversation_id, channel, label, item, now, None, request_id, idempotency_key)
            for item in outbounds
        ]
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

    async def claim(self, owner: str, now: float, limit: int, lease: float) -> list[DeliveryRow]:
        """Due outbound rows at the head of their conversation's line, claimed for ``lease`` seconds."""
        params = {"owner": owner, "now": now, "until": now + lease, "limit": limit}
        rows = await self.db.run(lambda conn: CLAIM_DELIVERIES.rows(conn, params))
        return sorted((delivery_row(r) for r in rows), key=lambda r: int(r["id"]))

    async def mark_sent(self, outbox_id: int, platform_message_id: str | None, attempts: int) -> None:
        sent = {
            "id": outbox_id,
            "platform_message_id": platform_message_id,
            "attempts": attempts,
            "now": time.time(),
        }
        await self.db.run(lambda conn: MARK_SENT.execute(conn, sent))

    async def unclaim(self, ids: Sequence[int]) -> None:
        """Give claimed rows back to the queue untouched (shutdown began before they were sent)."""
        async with self.db.tx() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(list(ids)), outbox.c.status == "sending")
                .values(status="queued", lease_owner=None, lease_until=None)
            )

    async def mark_retry(
        self,
        outbox_id: int,
        conversation_id: str,
        attempts: int,
        at: float,
        reason: str,
        retry_since: float | None,
    ) -> None:
        """Put a claimed row back in the queue until ``at``; the later messages of its conversation wait
        with it. ``retry_since``: when its retry budget started (None: at its creation)."""
        retry = {
            "id": outbox_id,
            "attempts": attempts,
            "at": at,
            "reason": reason,
            "retry_since": retry_since,
            "now": time.time(),
        }
        hold = {"id": outbox_id, "conversation_id": conversation_id, "at": at}

        def job(conn: Connection) -> None:
            MARK_RETRY.execute(conn, retry)
            HOLD_FOLLOWERS.execute(conn, hold)

        await self.db.run(job)

    async def resume_paused(self) -> int:
        """At start: deliveries an earlier process paused for refused credentials are due now."""
        now = {"now": time.time()}
        return int(await self.db.run(lambda conn: RESUME_PAUSED.execute(conn, now)))

    async def resume(self, channel: str, label: str) -> int:
        """An integration's deliveries resume (credentials fixed): its queued rows are due now, each with a
        fresh retry budget. Returns how many."""
        params = {"channel": channel, "label": label, "now": time.time()}
        return int(await self.db.run(lambda conn: RESUME_DELIVERIES.execute(conn, params)))

    async def mark_failed(self, outbox_id: int, reason: str, attempts: int, *, dead: bool = False) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == outbox_id)
                .values(
                    status="dead" if dead else "failed",
                    attempts=attempts,
                    reason=reason,
                    updated_at=time.time(),
                    lease_owner=None,
                    lease_until=None,
                )
            )

    async def use_fallback(self, outbox_id: int, body: dict[str, Any], reason: str) -> None:
        """Replace a message the platform refused (closed window) with its fallback, queued at once."""
        now = time.time()
        async with self.db.tx() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == outbox_id)
                .values(
                    status="queued",
                    body=body,
                    fallback=None,
                    reason=reason,
                    next_attempt_at=now,
                    updated_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    async def nudge(self, channel: str, label: str, user_id: str) -> int:
        """The user wrote again: their queued messages are due now (a platform window just opened)."""
        now = time.time()
        async with self.db.tx() as conn:
            conversation_id = await conn.run_sync(
                lambda c: conversation_rows.find_id(c, channel, label, user_id)
            )
            if conversation_id is None:
                return 0
            result = await conn.execute(
                update(outbox)
                .where(outbox.c.conversation_id == conversation_id, outbox.c.status == "queued")
                .values(next_attempt_at=now)
            )
            return int(result.rowcount)

    async def recover(self, now: float, held_grace: float = 30.0) -> int:
        """Put back sends whose worker died, and replies held for a passive answer that never came."""
        async with self.db.tx() as conn:
            sending = await conn.execute(
                update(outbox)
                .where(outbox.c.status == "sending", outbox.c.lease_until < now)
                .values(status="queued", lease_owner=None, lease_until=None, next_attempt_at=now)
            )
            held = await conn.execute(
                update(outbox)
                .where(outbox.c.status == "held", outbox.c.created_at < now - held_grace)
                .values(status="queued", next_attempt_at=now)
            )
            return int(sending.rowcount) + int(held.rowcount)

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
