"""Deliveries: the delivery worker's side of the outbox. It claims the messages at the head of their
conversations' lines, and records what sending each did: sent, retry later (holding back what follows in
its line), failed or dead, replaced by its fallback. Also the recovery of claims whose worker died, and the
resumption of an integration's queue once its credentials are fixed.

The outbox's rows and how they are queued are outbox.py's; this module only moves them along.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from channelgate.store import conversations as conversation_rows
from channelgate.store.database import Database
from channelgate.store.rows import DeliveryRow, delivery_row
from channelgate.store.statements import Sql
from channelgate.store.tables import outbox

# The head of each conversation's line only: nothing earlier of the same conversation still waits or is
# in flight. The outer ``status = 'queued'`` is checked again on each row as it is updated, so on
# PostgreSQL two replicas claiming at once never both take a row. It is written ``status || ''`` so that
# SQLite finds the claimed ids by primary key: with ``status = 'queued'`` it read every queued row of
# ``ix_outbox_due`` to match them, a cost that grew with the whole backlog on every claim (profiled: most of
# the writer thread's time with 150 ms sends; docs/benchmarks.md, "Fourth round").
# One ``NOT EXISTS`` per status, each an equality probe of ``ix_outbox_line``: SQLite 3.40 answers
# ``e.status IN (...) AND e.id < o.id`` on that index wrongly once ``ANALYZE`` has run (no row at all;
# ``python -m bench.claim_cost --analyze`` shows it on the earlier form).
# What waits behind a claimed head is not due (HOLD_FOLLOWERS_AT_CLAIM; a row queued behind a send in
# flight is held as it is inserted: outbox.LINE_IN_FLIGHT), and a finished head makes only the next row of its
# line due (RELEASE_NEXT), so the scan in due order meets heads, not the lines' followers (docs/benchmarks.md,
# "The delivery claim with a backlog" and "Fourth round").
CLAIM_DELIVERIES = Sql(
    """UPDATE outbox SET status = 'sending', lease_owner = :owner, lease_until = :until, updated_at = :now
       WHERE status || '' = 'queued' AND id IN (
         SELECT o.id FROM outbox o
         WHERE o.status = 'queued' AND o.next_attempt_at <= :now
           AND NOT EXISTS (
             SELECT 1 FROM outbox e
             WHERE e.conversation_id = o.conversation_id AND e.status = 'sending' AND e.id < o.id)
           AND NOT EXISTS (
             SELECT 1 FROM outbox e
             WHERE e.conversation_id = o.conversation_id AND e.status = 'queued' AND e.id < o.id)
           AND NOT EXISTS (
             SELECT 1 FROM outbox e
             WHERE e.conversation_id = o.conversation_id AND e.status = 'held' AND e.id < o.id)
         ORDER BY o.next_attempt_at, o.id
         LIMIT :limit)
       RETURNING *""",
    json=("body", "fallback", "before"),
    booleans=("best_effort",),
)
# The head of one conversation's line, claimed whatever its next try says: its recipient is connected to
# this replica now (a peer found them away: connection_routes.py). Fenced like the claim above: only a row
# still queued is taken, so it is never sent twice; ``after`` stops a caller from taking again a row whose
# send here just failed. ``held`` rows stay: a passive reply waits for them.
CLAIM_LINE = Sql(
    """UPDATE outbox SET status = 'sending', lease_owner = :owner, lease_until = :until, updated_at = :now
       WHERE status = 'queued' AND id > :after AND id = (
         SELECT o.id FROM outbox o
         WHERE o.conversation_id = :conversation_id AND o.status IN ('held', 'queued', 'sending')
         ORDER BY o.id
         LIMIT 1)
       RETURNING *""",
    json=("body", "fallback", "before"),
    booleans=("best_effort",),
)
# A fallback template's note stays (the API reports it); retry reasons go.
MARK_SENT = Sql(
    """UPDATE outbox SET status = 'sent', platform_message_id = :platform_message_id, sent_at = :now,
         updated_at = :now, attempts = :attempts, lease_owner = NULL, lease_until = NULL,
         reason = CASE WHEN reason LIKE 'window closed%' THEN reason ELSE NULL END
       WHERE id = :id"""
)
# A claim taken again before the send, fenced by the lease it was claimed with: if the row's lease is not that
# one any more, the recovery loop put it back and it was claimed again (here or elsewhere), and this claim
# must not send it.
RENEW_CLAIM = Sql(
    """UPDATE outbox SET lease_until = :until
       WHERE id = :id AND status = 'sending' AND lease_owner = :owner AND lease_until = :claimed_until"""
)
# A send that failed and waits for its next try. Attempts and ``retry_since`` (when its retry budget
# started) are the caller's; lease and status go back to the queue.
MARK_RETRY = Sql(
    """UPDATE outbox SET status = 'queued', attempts = :attempts, next_attempt_at = :at, reason = :reason,
         retry_since = :retry_since, updated_at = :now, lease_owner = NULL, lease_until = NULL
       WHERE id = :id"""
)
# What waits behind a head waits as long: behind a retrying head until its retry, behind a claimed one until
# its claim ends (or it finishes: RELEASE_NEXT). Its later messages are then not due, so the delivery
# claim does not scan them on every round while the head waits (a long outage queues thousands, and with a
# slow platform every line has a reply in flight and more behind it).
HOLD_FOLLOWERS = Sql(
    """UPDATE outbox SET next_attempt_at = :at
       WHERE conversation_id = :conversation_id AND status = 'queued' AND id > :id
         AND next_attempt_at < :at"""
)
# The same at claim time, for the followers whose hold ends before ``:soon`` (half a lease from now) only:
# with a slow platform a line's successor is claimed every few hundred ms, and the followers still hold from
# the claim before; rewriting every one of them on each claim cost as much as the scan it saves.
HOLD_FOLLOWERS_AT_CLAIM = Sql(
    """UPDATE outbox SET next_attempt_at = :at
       WHERE conversation_id = :conversation_id AND status = 'queued' AND id > :id
         AND next_attempt_at < :soon"""
)
# A head finished (sent, failed, dead): the next row of its line is due again, at its creation time, so it
# keeps its place in the due order among other conversations' messages (``:now`` would send it behind
# everything queued since). The rows behind that one stay held: they wait for it, and making them due made
# the claim scan every line's whole backlog after each send. Only an optimisation's undoing: the claim's own
# check keeps each line's order whatever ``next_attempt_at`` says, and a hold ends by itself with the claim it
# was taken for.
RELEASE_NEXT = Sql(
    """UPDATE outbox SET next_attempt_at = created_at
       WHERE id = (
         SELECT MIN(o.id) FROM outbox o
         WHERE o.conversation_id = (SELECT h.conversation_id FROM outbox h WHERE h.id = :id)
           AND o.status = 'queued' AND o.id > :id)
         AND next_attempt_at > :now"""
)
# An integration's deliveries resume (its credentials were fixed): everything it has queued is due now,
# and the retry budget of each starts again, since the pause was not the messages' failure.
# At start: a process does not know which integrations an earlier one paused, and the config may hold a new
# token now; what was paused is tried at once (and paused again if the credentials are still refused).
RESUME_PAUSED = Sql(
    """UPDATE outbox SET next_attempt_at = :now, retry_since = :now, updated_at = :now
       WHERE status = 'queued' AND reason LIKE 'paused: credentials refused%'"""
)
# A send that is over: failed (refused, or a best-effort action skipped or failed) or dead-lettered.
MARK_FAILED = Sql(
    """UPDATE outbox SET status = :status, attempts = :attempts, reason = :reason, updated_at = :now,
         lease_owner = NULL, lease_until = NULL
       WHERE id = :id"""
)
# A message the platform refused (closed window) replaced by its fallback template, queued at once.
USE_FALLBACK = Sql(
    """UPDATE outbox SET status = 'queued', body = :body, fallback = NULL, reason = :reason,
         next_attempt_at = :now, updated_at = :now, lease_owner = NULL, lease_until = NULL
       WHERE id = :id""",
    json=("body",),
)
RESUME_DELIVERIES = Sql(
    """UPDATE outbox SET next_attempt_at = :now, retry_since = :now, updated_at = :now
       WHERE channel = :channel AND label = :label AND status = 'queued'"""
)


class Deliveries:
    """Claims on the outbox and the outcome of each send."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, owner: str, now: float, limit: int, lease: float) -> list[DeliveryRow]:
        """Due outbound rows at the head of their conversation's line, claimed for ``lease`` seconds."""
        until, soon = now + lease, now + lease / 2
        params = {"owner": owner, "now": now, "until": until, "limit": limit}

        def job(conn: Connection) -> list[dict[str, Any]]:
            rows = CLAIM_DELIVERIES.rows(conn, params)
            # what waits behind each claimed head is not due before its claim ends
            held = [
                {"id": r["id"], "conversation_id": r["conversation_id"], "at": until, "soon": soon}
                for r in rows
            ]
            HOLD_FOLLOWERS_AT_CLAIM.execute_many(conn, held)
            return rows

        rows = await self.db.run(job)
        return sorted((delivery_row(r) for r in rows), key=lambda r: int(r["id"]))

    async def claim_line(
        self, conversation_id: str, owner: str, now: float, lease: float, after: int = 0
    ) -> DeliveryRow | None:
        """The head of ``conversation_id``'s line claimed for ``lease`` seconds if it is queued and its id is
        above ``after``, due or not (its recipient is connected here); None otherwise."""
        params = {
            "owner": owner,
            "now": now,
            "until": now + lease,
            "after": after,
            "conversation_id": conversation_id,
        }
        rows = await self.db.run(lambda conn: CLAIM_LINE.rows(conn, params))
        return delivery_row(rows[0]) if rows else None

    async def held(self, ids: Sequence[int]) -> list[DeliveryRow]:
        """The rows among ``ids`` still held for a passive reply, in order."""
        if not ids:
            return []
        async with self.db.engine.connect() as conn:
            held = outbox.c.id.in_(list(ids)) & (outbox.c.status == "held")
            result = await conn.execute(select(outbox).where(held).order_by(outbox.c.id))
            return [delivery_row(r) for r in result.mappings()]

    async def mark_sent(self, outbox_id: int, platform_message_id: str | None, attempts: int) -> None:
        sent = {
            "id": outbox_id,
            "platform_message_id": platform_message_id,
            "attempts": attempts,
            "now": time.time(),
        }
        await self._finish(MARK_SENT, sent)

    async def renew_claim(self, outbox_id: int, owner: str, claimed_until: float, until: float) -> bool:
        """Extend a claim to ``until`` if it is still the one that ended at ``claimed_until``; False when the
        row was recovered (and perhaps claimed again) meanwhile: its sender must not send it."""
        params = {"id": outbox_id, "owner": owner, "claimed_until": claimed_until, "until": until}
        return bool(await self.db.run(lambda conn: RENEW_CLAIM.execute(conn, params)))

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
        """Finish a claimed row that will not be sent. On SQLite a plain statement in the writer's next
        group commit: a skipped typing indicator or read mark (most of them, under load) must not cost a
        transaction of its own on a second connection (docs/benchmarks.md, "Where the time goes")."""
        params = {
            "id": outbox_id,
            "status": "dead" if dead else "failed",
            "attempts": attempts,
            "reason": reason,
            "now": time.time(),
        }
        await self._finish(MARK_FAILED, params)

    async def _finish(self, statement: Sql, params: dict[str, Any]) -> None:
        """End a head with ``statement`` and, in the same transaction, make the next row of its line due
        (``RELEASE_NEXT``): every way a head finishes must release its line."""
        release = {"id": params["id"], "now": params["now"]}

        def job(conn: Connection) -> None:
            statement.execute(conn, params)
            RELEASE_NEXT.execute(conn, release)

        await self.db.run(job)

    async def use_fallback(self, outbox_id: int, body: dict[str, Any], reason: str) -> None:
        """Replace a message the platform refused (closed window) with its fallback, queued at once."""
        params = {"id": outbox_id, "body": body, "reason": reason, "now": time.time()}
        await self.db.run(lambda conn: USE_FALLBACK.execute(conn, params))

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
