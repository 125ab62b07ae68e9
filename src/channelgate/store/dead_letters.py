"""Dead letters: outbound messages that ran out of retries (or that a platform refused for good), kept
until an operator replays or discards them (the console's discard makes them failed).

A replay keeps the message's place in its conversation's line, so the messages queued after it wait for
it; retention never prunes the last message that went out before a dead letter, because the replay starts
from it (store/retention.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.elements import ColumnElement

from channelgate.store.database import Database
from channelgate.store.tables import outbox

#: statuses of a message that went out
WENT_OUT = ("sent", "delivered", "read")


class DeadLetters:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def page(
        self, *, channel: str | None, label: str | None, limit: int, after_id: int | None
    ) -> list[RowMapping]:
        """Oldest first, paged by id (the admin API reads ``RowMapping``\\ s, see api/deps.py)."""
        where: list[ColumnElement[bool]] = [outbox.c.status == "dead"]
        if channel:
            where.append(outbox.c.channel == channel)
        if label:
            where.append(outbox.c.label == label)
        if after_id is not None:
            where.append(outbox.c.id > after_id)
        async with self.db.engine.connect() as conn:
            result = await conn.execute(select(outbox).where(*where).order_by(outbox.c.id).limit(limit))
            return list(result.mappings())

    async def replay(self, message_id: int) -> RowMapping | None:
        """Queue a dead letter again with a fresh retry budget: the message as the replay left it (read in
        the replay's own transaction, so a delivery that sends it at once cannot change the answer), or
        None if it is not dead (any more).

        It keeps its place in its conversation's line (its id), so the messages queued after it wait for
        it, as they would have had it gone out. The conversation's dead letters it directly followed (those
        since the last message that went out) are replayed with it, so they go out before it, in their
        original order, rather than after it if they were replayed later. Messages already sent stay
        sent: a replay cannot go back in time."""
        now = time.time()

        def job(conn: Connection) -> RowMapping | None:
            found = conn.execute(
                select(outbox.c.conversation_id).where(outbox.c.id == message_id, outbox.c.status == "dead")
            ).first()
            if found is None:
                return None
            conversation_id = found[0]
            went_out = conn.execute(
                select(func.max(outbox.c.id)).where(
                    outbox.c.conversation_id == conversation_id,
                    outbox.c.id < message_id,
                    outbox.c.status.in_(WENT_OUT),
                )
            ).scalar()
            conn.execute(
                update(outbox)
                .where(
                    outbox.c.conversation_id == conversation_id,
                    outbox.c.status == "dead",
                    outbox.c.id <= message_id,
                    outbox.c.id > (went_out or 0),
                )
                .values(
                    status="queued",
                    attempts=0,
                    next_attempt_at=now,
                    retry_since=now,
                    updated_at=now,
                    lease_owner=None,
                    lease_until=None,
                    reason="replayed from the dead letters",
                )
            )
            return conn.execute(select(outbox).where(outbox.c.id == message_id)).mappings().one()

        return await self.db.run(job)

    async def discard(self, message_ids: Sequence[int], by: str) -> list[int]:
        """Give up on dead letters: they become failed (with who discarded them) and leave the dead letters.
        The ids that were dead letters."""
        now = time.time()
        async with self.db.tx() as conn:
            result = await conn.execute(
                select(outbox.c.id, outbox.c.reason).where(
                    outbox.c.id.in_(list(message_ids)), outbox.c.status == "dead"
                )
            )
            rows = list(result.mappings())
            for row in rows:  # the platform's reason stays, after who gave up on it
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row["id"], outbox.c.status == "dead")
                    .values(
                        status="failed", updated_at=now, reason=f"discarded by {by}: {row['reason'] or ''}"
                    )
                )
        return sorted(int(r["id"]) for r in rows)
