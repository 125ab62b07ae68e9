"""Retention: finished history pruned after a configurable time, and one user's data deleted on request.

Why: nothing else ever deletes a finished inbox or outbox row, so the store (and every index the hot path
walks) grows with all the traffic a deployment ever had. A conversation's *transcript* (what the admin API
and the console show) is made of exactly those rows, so one horizon (``retention.history_days``) decides
both how long finished work and how long transcripts are kept.

What is never pruned: a turn still pending, an outbound message held, queued, being sent or dead (a dead
letter waits for an operator), a row a lease holds, and the last message that went out before a dead letter
(replaying the dead letter looks for it, ``DeadLetters.replay``). Conversations themselves stay: one
small row per user that holds their chosen language and the bot's state; a privacy request deletes it
(:func:`forget_conversation`).

Every delete is bounded (``LIMIT`` rows through a subquery) and goes through ``Store.run``, the store's one
write path, so on SQLite the single writer is never held for more than one batch. Replicas sharing a
PostgreSQL database take a store lock so only one prunes at a time; the ``FOR UPDATE SKIP LOCKED`` of each
batch keeps two from waiting on (or deadlocking over) the same rows if the lock ever expires mid-run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection

from channelgate.store.admin_tables import broadcast_recipients
from channelgate.store.statements import Sql
from channelgate.store.store import Store

log = logging.getLogger("channelgate.retention")

#: the store lock that lets one replica prune at a time
LOCK = "channelgate:retention"
#: statuses of finished work: turns done or failed; messages that went out, or failed for good
FINISHED_TURNS = ("done", "failed")
FINISHED_MESSAGES = ("sent", "delivered", "read", "failed")
#: rest between two batches, so the hot path's writes run between them
PAUSE = 0.01


def _bounded(where: str, table: str, key: str) -> tuple[Sql, Sql]:
    """``DELETE`` at most ``:limit`` rows of ``table`` matching ``where`` (alias ``o``): the SQLite statement
    and the PostgreSQL one (which skips rows another transaction holds). Only this module's constants go
    into the text; values are parameters.

    PostgreSQL gets ``= ANY(ARRAY(...))`` rather than ``IN (...)``: for ``IN`` its planner chose a hash semi
    join that read the whole table (a sequential scan of every outbox row, 55 ms at 200,000 rows) to delete
    1,000; the array makes it look each id up in the primary key."""
    select = f"SELECT o.{key} FROM {table} o WHERE {where} LIMIT :limit"  # noqa: S608
    return (
        Sql(f"DELETE FROM {table} WHERE {key} IN ({select})"),  # noqa: S608
        Sql(f"DELETE FROM {table} WHERE {key} = ANY(ARRAY({select} FOR UPDATE SKIP LOCKED))"),  # noqa: S608
    )


# Finished turns: ``done_at`` is set only when a turn finishes (ix_inbox_finished), so the scan starts at
# the oldest finished row and never reads pending ones or recent history.
PRUNE_INBOX = _bounded(
    "o.done_at < :cutoff AND o.status IN ('done', 'failed')",
    "inbox",
    "id",
)
# Finished messages (ix_outbox_finished: status, updated_at). Kept: the last one that went out before a
# dead letter of its conversation, which ``replay_dead_letter`` uses to know where the replay starts.
PRUNE_OUTBOX = _bounded(
    """o.status IN ('sent', 'delivered', 'read', 'failed') AND o.updated_at < :cutoff
       AND o.lease_owner IS NULL
       AND (o.status = 'failed' OR NOT EXISTS (
         SELECT 1 FROM outbox d
         WHERE d.conversation_id = o.conversation_id AND d.status = 'dead' AND d.id > o.id
           AND NOT EXISTS (
             SELECT 1 FROM outbox s
             WHERE s.conversation_id = o.conversation_id AND s.status IN ('sent', 'delivered', 'read')
               AND s.id > o.id AND s.id < d.id)))""",
    "outbox",
    "id",
)
# Expired shared values (tokens, cached media ids) and locks nobody renewed: ``kv_get`` already ignores
# them, nothing else deletes them.
PRUNE_KV = _bounded("o.expires_at IS NOT NULL AND o.expires_at < :now", "kv", "key")
PRUNE_LOCKS = _bounded("o.expires_at < :now AND o.name <> :lock", "locks", "name")


@dataclass(slots=True)
class Pruned:
    """Rows deleted by one pruning run, by table."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, n: int) -> None:
        self.counts[table] = self.counts.get(table, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def prune_batch(store: Store, statement: tuple[Sql, Sql], params: dict[str, object]) -> int:
    """One bounded delete, in its own job on the store's write path; how many rows it deleted."""
    sql = statement[0] if store.is_sqlite else statement[1]
    return int(await store.run(lambda conn: sql.execute(conn, params)))


async def prune(
    store: Store,
    *,
    history_seconds: float | None,
    batch_size: int = 1000,
    now: float | None = None,
    pause: float = PAUSE,
) -> Pruned:
    """Delete finished history older than ``history_seconds`` (None: keep it forever) and expired shared
    values, ``batch_size`` rows per statement, until nothing is left to delete."""
    now = time.time() if now is None else now
    pruned = Pruned()
    work: list[tuple[str, tuple[Sql, Sql], dict[str, object]]] = [
        ("kv", PRUNE_KV, {"now": now, "limit": batch_size}),
        ("locks", PRUNE_LOCKS, {"now": now, "lock": LOCK, "limit": batch_size}),
    ]
    if history_seconds is not None:
        cutoff = now - history_seconds
        work += [
            ("inbox", PRUNE_INBOX, {"cutoff": cutoff, "limit": batch_size}),
            ("outbox", PRUNE_OUTBOX, {"cutoff": cutoff, "limit": batch_size}),
        ]
    for table, statement, params in work:
        while True:
            n = await prune_batch(store, statement, params)
            pruned.add(table, n)
            if n < batch_size:
                break
            await asyncio.sleep(pause)
    return pruned


async def prune_once(
    store: Store, owner: str, *, history_seconds: float | None, batch_size: int, lock_ttl: float
) -> Pruned | None:
    """One run under the store lock; None when another replica is pruning now."""
    if not await store.kv.try_lock(LOCK, owner, lock_ttl):
        return None
    try:
        return await prune(store, history_seconds=history_seconds, batch_size=batch_size)
    finally:
        await store.kv.unlock(LOCK, owner)


class ConversationBusy(Exception):
    """A turn of the conversation is running (its lease is held): deleting now would let the turn write
    its reply back. Try again once it finished (seconds)."""


# --- deletion per user (privacy requests) ---

# The conversation goes first, and only while no turn holds it: a turn that claims it afterwards finds no
# row (CLAIM_CONVERSATION updates nothing), and on PostgreSQL a claim racing this delete is serialized by
# the row lock, so either the claim wins (and this deletes nothing: 409) or no turn starts.
FORGET_CONVERSATION = Sql(
    "DELETE FROM conversations WHERE id = :id AND (lease_until IS NULL OR lease_until < :now)"
)
CONVERSATION_EXISTS = Sql("SELECT lease_until FROM conversations WHERE id = :id")
FORGET_ROWS = {
    "inbox": Sql("DELETE FROM inbox WHERE conversation_id = :id"),
    "outbox": Sql("DELETE FROM outbox WHERE conversation_id = :id"),
    # (the table object imported above makes sure the schema has it)
    broadcast_recipients.name: Sql("DELETE FROM broadcast_recipients WHERE conversation_id = :id"),
}
# a hand-off's desk rows stand in their own line (store/handoffs.py): they are the user's outbox rows too
FORGET_DESK_ROWS = Sql(
    "DELETE FROM outbox WHERE conversation_id IN (SELECT desk_line FROM handoffs WHERE conversation_id = :id)"
)
FORGET_HANDOFF = Sql("DELETE FROM handoffs WHERE conversation_id = :id")


async def forget_conversation(store: Store, conversation_id: str) -> dict[str, int] | None:
    """Delete a conversation and everything stored about it: every inbox and outbox row (queued, held and
    dead messages too: a privacy request means nothing of the user is sent or kept; what was queued for a
    hand-off's agent desk counts as outbox), its hand-off state, and its broadcast recipient rows. One
    transaction. Returns the rows deleted by table; None when there is no such conversation; raises
    :class:`ConversationBusy` while a turn holds it."""
    params = {"id": conversation_id, "now": time.time()}

    def job(conn: Connection) -> dict[str, int] | bool | None:
        if not FORGET_CONVERSATION.execute(conn, params):
            # busy is an answer, not an exception: an exception would make SQLite's writer run its whole
            # batch again one job at a time
            return False if CONVERSATION_EXISTS.first(conn, params) is not None else None
        counts = {"conversations": 1}
        for table, statement in FORGET_ROWS.items():
            counts[table] = statement.execute(conn, params)
        counts["outbox"] += FORGET_DESK_ROWS.execute(conn, params)
        FORGET_HANDOFF.execute(conn, params)  # who held it: goes with the conversation row
        return counts

    outcome = await store.run(job)
    if outcome is False:
        raise ConversationBusy(conversation_id)
    assert outcome is None or isinstance(outcome, dict)
    return outcome
