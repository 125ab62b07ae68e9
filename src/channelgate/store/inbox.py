"""The inbox: every accepted platform event, deduplicated, and the turns the pipeline runs from it.

A webhook's events are one transaction (:meth:`Inbox.accept`): its messages become pending turns, its
status receipts are recorded (so a redelivered receipt is a no-op) and applied to the outbox. A worker
claims a conversation (its lease, conversations.py) together with its oldest pending turn, and completes
the turn together with its replies, so a crash redoes the whole turn or nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from channelgate.channels.base import InboundMessage, StatusUpdate
from channelgate.channels.inbound import screen_all
from channelgate.store import conversations as conversation_rows
from channelgate.store import outbox as outbox_rows
from channelgate.store.database import Database
from channelgate.store.outbox import NewOutbound
from channelgate.store.rows import TurnRow, turn_row
from channelgate.store.statements import Sql
from channelgate.store.tables import conversations, inbox

log = logging.getLogger("channelgate.store")

#: statuses applied per writer transaction (see ``accept``): ~10 ms of SQLite work each
STATUS_BATCH = 100

INSERT_TURN = Sql(
    """INSERT INTO inbox
         (channel, label, dedup_key, conversation_id, kind, input, raw, platform_message_id, locale_hint,
          status, attempts, next_attempt_at, created_at)
       VALUES (:channel, :label, :dedup_key, :conversation_id, :kind, :input, :raw, :platform_message_id,
          :locale_hint, 'pending', 0, :now, :now)
       ON CONFLICT (channel, label, dedup_key) DO NOTHING
       RETURNING id, conversation_id""",
    json=("input", "raw"),
)
# A status receipt is kept (done at once, in no conversation) only so that its redelivery is recognized.
RECORD_STATUS = Sql(
    """INSERT INTO inbox
         (channel, label, dedup_key, conversation_id, kind, input, raw, status, attempts, next_attempt_at,
          created_at, done_at)
       VALUES (:channel, :label, :dedup_key, '', 'status', :input, NULL, 'done', 0, :now, :now, :now)
       ON CONFLICT (channel, label, dedup_key) DO NOTHING
       RETURNING id""",
    json=("input",),
)
NEXT_TURN = Sql(
    "SELECT * FROM inbox WHERE conversation_id = :conversation_id AND status = 'pending' ORDER BY id LIMIT 1",
    json=("input", "raw"),
)
# The end of a turn: the worker's lease on the conversation ends here unless another turn is pending (then
# the worker goes on with it). One statement in the usual case, where nothing else is pending; the next turn
# is read only when the lease was kept.
RELEASE_IF_IDLE = Sql(
    """UPDATE conversations SET lease_owner = NULL, lease_until = NULL
       WHERE id = :id AND lease_owner = :owner
         AND NOT EXISTS (SELECT 1 FROM inbox WHERE conversation_id = :id AND status = 'pending')"""
)
# A turn ends only while it is pending and, for a lease owner, while that owner still holds the
# conversation: a worker that outlived its lease (a slow bot, a stalled process) and was overtaken by another
# replica's claim must not answer a second time. The owner is the fence token: a runner runs at most one
# task per conversation, and a restarted process has a new owner.
FINISH_TURN = Sql(
    "UPDATE inbox SET status = :status, error = :error, done_at = :now WHERE id = :id AND status = 'pending'"
)
FINISH_LEASED_TURN = Sql(
    """UPDATE inbox SET status = :status, error = :error, done_at = :now
       WHERE id = :id AND status = 'pending'
         AND EXISTS (SELECT 1 FROM conversations WHERE id = :conversation_id AND lease_owner = :owner)"""
)


class LeaseLost(Exception):
    """A turn's commit was refused: its worker no longer holds the conversation's lease (another worker
    claimed it after the lease expired), or the turn is no longer pending. Nothing was written; the worker
    must drop the turn, whose answer is now the other worker's."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """What accepting one webhook's events did."""

    new_turns: list[tuple[int, str]] = field(default_factory=list)  # (inbox id, conversation id)
    duplicates: int = 0
    statuses: int = 0


# --- inside a transaction ---


def insert_turns(conn: Connection, rows: Iterable[dict[str, Any]]) -> tuple[list[tuple[int, str]], int]:
    """Insert pending turns, skipping seen dedup keys: the new (inbox id, conversation id) pairs and the
    number of duplicates. Every path that adds a turn (webhooks, the API's events) goes through here."""
    new: list[tuple[int, str]] = []
    count = 0
    # One statement per row keeps RETURNING exact on both engines; rows per webhook are few.
    for row in rows:
        count += 1
        hit = INSERT_TURN.first(conn, {"raw": None, "platform_message_id": None, "locale_hint": None, **row})
        if hit is not None:
            new.append((int(hit["id"]), str(hit["conversation_id"])))
    return new, count - len(new)


def insert_event(
    conn: Connection,
    conversation_id: str,
    channel: str,
    label: str,
    input_json: dict[str, Any],
    dedup_key: str,
    now: float,
) -> int | None:
    """A turn that no user message started (a proactive event, a locale change); None for a seen key."""
    row = {
        "channel": channel,
        "label": label,
        "dedup_key": dedup_key,
        "conversation_id": conversation_id,
        "kind": "event",
        "input": input_json,
        "now": now,
    }
    new, _ = insert_turns(conn, [row])
    return new[0][0] if new else None


def next_turn(conn: Connection, conversation_id: str) -> TurnRow | None:
    row = NEXT_TURN.first(conn, {"conversation_id": conversation_id})
    return None if row is None else turn_row(row)


def apply_statuses(
    conn: Connection, channel: str, label: str, statuses: Sequence[StatusUpdate], now: float
) -> int:
    """Record each receipt not seen before and apply it to the outbox; how many were new."""
    applied = 0
    for s in statuses:
        seen = {
            "channel": channel,
            "label": label,
            "dedup_key": s.dedup_key,
            "input": {"status": s.status, "platform_message_id": s.platform_message_id},
            "now": now,
        }
        if RECORD_STATUS.first(conn, seen) is None:
            continue
        applied += 1
        outbox_rows.apply_status(conn, channel, label, s, now)
    return applied


def _touch_inbound(
    conn: Connection, messages: Sequence[InboundMessage], ids: dict[str, str], fresh: set[str], now: float
) -> None:
    """Each conversation that got a new turn remembers its latest message (the platforms' windows)."""
    latest: dict[str, InboundMessage] = {}
    for m in messages:
        if ids[m.user.id] in fresh:
            latest[ids[m.user.id]] = m
    for conversation_id, m in latest.items():
        conversation_rows.touch_inbound(
            conn, conversation_id, now, m.platform_message_id or None, m.user.name or None
        )


# --- the repository ---


class Inbox:
    """Accepting webhooks, and the turns the pipeline claims, completes and retries."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def accept(
        self,
        channel: str,
        label: str,
        default_locale: str,
        messages: Sequence[InboundMessage],
        statuses: Sequence[StatusUpdate] = (),
        now: float | None = None,
        *,
        screened: bool = False,
    ) -> Accepted:
        """Durably record a webhook's events, skipping those seen before.

        Every event is held to the id and text rules of ``channels.inbound.screen`` first, whoever calls
        (webhooks, web chat, the API): the same events are kept on SQLite and PostgreSQL, and none that
        PostgreSQL would refuse (NUL, over-long ids) can fail the whole transaction. The messages and the
        first :data:`STATUS_BATCH` statuses are one transaction; further statuses follow in transactions of
        that size, so that a webhook with thousands of receipts cannot hold the single writer (and every
        other webhook's acknowledgement) for seconds.

        ``screened``: the caller already passed these very events through ``screen_all`` and kept what it
        returned (the webhook route does, to count and log what it refuses); screening them again would
        only repeat the work (a ``model_dump`` per message for the NUL check, ~3 % of the event loop).
        """
        now = time.time() if now is None else now
        if not screened:
            kept, refused = screen_all([*messages, *statuses])
            if refused:
                log.warning(
                    "%s/%s: %d events not stored: %s", channel, label, len(refused), "; ".join(refused[:5])
                )
            # screened events, possibly cleaned (NUL removed from texts)
            messages = [e for e in kept if isinstance(e, InboundMessage)]
            statuses = [e for e in kept if isinstance(e, StatusUpdate)]
        first, rest = list(statuses[:STATUS_BATCH]), statuses[STATUS_BATCH:]
        users = {m.user.id: (m.user.name, default_locale) for m in messages}
        inputs = [m.input.model_dump(mode="json", exclude_none=True) for m in messages]

        def job(conn: Connection) -> Accepted:
            new_turns: list[tuple[int, str]] = []
            duplicates = 0
            if messages:
                ids = conversation_rows.ids(conn, channel, label, users, now)
                rows = [
                    {
                        "channel": channel,
                        "label": label,
                        "dedup_key": m.dedup_key,
                        "conversation_id": ids[m.user.id],
                        "kind": "message",
                        "input": input_json,
                        "raw": m.raw,
                        "platform_message_id": m.platform_message_id,
                        "locale_hint": m.locale_hint,
                        "now": now,
                    }
                    for m, input_json in zip(messages, inputs, strict=True)
                ]
                new_turns, duplicates = insert_turns(conn, rows)
                if new_turns:
                    _touch_inbound(conn, messages, ids, {c for _, c in new_turns}, now)
            status_count = apply_statuses(conn, channel, label, first, now) if first else 0
            return Accepted(new_turns=new_turns, duplicates=duplicates, statuses=status_count)

        # Messages jump the queue: the platform waits for the 200. Statuses do not: one must not overtake
        # the mark_sent (already queued) of the message it is about.
        accepted = await self.db.run(job, urgent=not statuses)
        applied = accepted.statuses
        for start in range(0, len(rest), STATUS_BATCH):
            batch = list(rest[start : start + STATUS_BATCH])
            applied += await self.db.run(
                functools.partial(apply_statuses, channel=channel, label=label, statuses=batch, now=now)
            )
        return dataclasses.replace(accepted, statuses=applied) if rest else accepted

    async def add_event_turn(
        self, conversation_id: str, channel: str, label: str, input_json: dict[str, Any], dedup_key: str
    ) -> int | None:
        """A turn that no user message started (a proactive event from the API, a locale change)."""
        now = time.time()
        async with self.db.tx() as conn:
            return await conn.run_sync(
                lambda c: insert_event(c, conversation_id, channel, label, input_json, dedup_key, now)
            )

    # --- turns ---

    async def claimable_conversations(
        self, now: float, limit: int, among: Collection[str] | None = None
    ) -> list[str]:
        """Conversations whose next turn is due and that nobody holds (other replicas' work, retries,
        recovery), longest due first; ``among``: only these (a peer's news names them), an index lookup
        each instead of a scan of every pending turn.

        Only the oldest pending turn of a conversation decides: when it waits for a retry, the later ones
        wait too, so a conversation whose head is backing off is not returned (it used to be, for its later
        turns, on every poll: a few hundred such conversations filled the batch and other users' retries
        never ran)."""
        # each conversation's head (its oldest pending turn) from the pending index alone, then only the
        # heads are read and joined: the poll used to join and test every pending turn, three lookups a
        # row, and under closed-loop load on PostgreSQL thousands are pending (it was most of the
        # server's CPU per message)
        only = [] if among is None else [inbox.c.conversation_id.in_(list(among))]
        heads = (
            select(func.min(inbox.c.id).label("id"))
            .where(inbox.c.status == "pending", *only)
            .group_by(inbox.c.conversation_id)
            .subquery("heads")
        )
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(inbox.c.conversation_id)
                .select_from(
                    heads.join(inbox, inbox.c.id == heads.c.id).join(
                        conversations, conversations.c.id == inbox.c.conversation_id
                    )
                )
                .where(
                    inbox.c.next_attempt_at <= now,
                    or_(conversations.c.lease_until.is_(None), conversations.c.lease_until < now),
                )
                .order_by(inbox.c.next_attempt_at, inbox.c.id)
                .limit(limit)
            )
            return [r[0] for r in result]

    async def claim_conversation(self, conversation_id: str, owner: str, lease: float) -> TurnRow | None:
        """Claim a conversation and return its oldest pending turn, in one transaction. None when another
        worker holds it, or when nothing is pending (then the claim is released at once)."""
        now = time.time()

        def job(conn: Connection) -> TurnRow | None:
            if not conversation_rows.claim(conn, conversation_id, owner, now + lease, now):
                return None
            row = next_turn(conn, conversation_id)
            if row is None:
                conversation_rows.release(conn, conversation_id, owner)
            return row

        return await self.db.run(job)

    async def complete_turn(
        self,
        turn_id: int,
        conversation_id: str,
        channel: str,
        label: str,
        outbounds: Iterable[NewOutbound],
        *,
        failed_reason: str | None = None,
        conversation_values: dict[str, Any] | None = None,
        request_id: str | None = None,
        owner: str | None = None,
        also: Callable[[Connection], object] | None = None,
    ) -> tuple[list[int], TurnRow | None]:
        """Record a turn's outcome and its outbound messages in one transaction: the reply is durable
        exactly when the turn is done, so a crash either redoes the whole turn or nothing. ``also`` runs in
        the same transaction (a hand-off the reply asked for, a message forwarded to the agent desk).

        Returns the outbox ids and, for the lease ``owner``, the conversation's next pending turn (the
        lease is released in the same transaction when there is none). Raises :class:`LeaseLost`, having
        written nothing, when the turn is no longer pending or ``owner`` no longer holds the lease."""
        now = time.time()
        rows = outbox_rows.new_rows(conversation_id, channel, label, outbounds, now, turn_id, request_id)
        finish = {
            "id": turn_id,
            "status": "failed" if failed_reason else "done",
            "error": failed_reason,
            "now": now,
            "conversation_id": conversation_id,
            "owner": owner,
        }
        finish_turn = FINISH_TURN if owner is None else FINISH_LEASED_TURN

        def job(conn: Connection) -> tuple[list[int], TurnRow | None] | None:
            following: TurnRow | None = None
            if not finish_turn.execute(conn, finish):
                return None  # fenced out: write nothing
            ids = outbox_rows.insert(conn, rows)
            if also is not None:
                also(conn)
            if conversation_values:
                conversation_rows.set_values(conn, conversation_id, conversation_values, now)
            if owner is not None and not RELEASE_IF_IDLE.execute(
                conn, {"id": conversation_id, "owner": owner}
            ):
                # kept: a turn is pending (or the lease was not this owner's, and releasing does nothing)
                following = next_turn(conn, conversation_id)
            return ids, following

        done = await self.db.run(job)
        if done is None:
            raise LeaseLost(f"turn {turn_id}: no longer pending, or the lease of {conversation_id} is lost")
        return done

    async def retry_turn(self, turn_id: int, attempts: int, at: float, error: str) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                update(inbox)
                .where(inbox.c.id == turn_id)
                .values(attempts=attempts, next_attempt_at=at, error=error)
            )

    # --- reading ---

    async def rows(self, conversation_id: str) -> list[TurnRow]:
        """A conversation's turns, oldest first."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(inbox).where(inbox.c.conversation_id == conversation_id).order_by(inbox.c.id)
            )
            return [turn_row(row) for row in result.mappings()]

    async def pending(self) -> int:
        """Turns waiting to run (metrics and backpressure)."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
            )
            return int(result.scalar_one())
