"""A conversation's transcript: its inbound inputs and its outbound messages, in time order, a page at a
time. A read across the inbox and the outbox (the admin API's and the console's conversation view), so it
has its own module rather than a half in each repository.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, false, or_, select, true
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.elements import ColumnElement

from channelgate.store.database import Database
from channelgate.store.tables import inbox, outbox


def _after(table: Any, rank: int, after: tuple[float, int, int] | None) -> ColumnElement[bool]:
    """Rows of ``table`` (of rank ``rank`` in the transcript's order) that come after ``after``."""
    if after is None:
        return true()
    at, after_rank, after_id = after
    same_time = true() if rank > after_rank else (table.c.id > after_id if rank == after_rank else false())
    return or_(table.c.created_at > at, and_(table.c.created_at == at, same_time))


async def transcript(
    store: Database, conversation_id: str, *, limit: int, after: tuple[float, int, int] | None = None
) -> list[tuple[int, RowMapping]]:
    """Inbound inputs (rank 0) and outbound messages (rank 1) in time order, ``limit`` at a time, after the
    position ``after`` = (created_at, rank, id)."""
    async with store.engine.connect() as conn:
        ins = await conn.execute(
            select(inbox)
            .where(inbox.c.conversation_id == conversation_id, _after(inbox, 0, after))
            .order_by(inbox.c.created_at, inbox.c.id)
            .limit(limit)
        )
        outs = await conn.execute(
            select(outbox)
            .where(outbox.c.conversation_id == conversation_id, _after(outbox, 1, after))
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(limit)
        )
        entries = [(0, r) for r in ins.mappings()] + [(1, r) for r in outs.mappings()]
    entries.sort(key=lambda e: (e[1]["created_at"], e[0], e[1]["id"]))
    return entries[:limit]
