"""Broadcasts of the admin API: one message to many recipients, each queued in its own conversation by the
broadcast worker (api/broadcaster.py), and cancelled together when asked.

A recipient's conversation and messages come from the same function as the send API's
(``outbox.queue``, over ``conversations.ids`` and ``outbox.insert``), so a broadcast's message waits in
its conversation's line like any other. The admin API reads these rows as ``RowMapping``\\ s
(api/broadcaster.py, api/broadcasts.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.elements import ColumnElement

from channelgate.store import outbox as outbox_rows
from channelgate.store.admin_tables import broadcast_recipients, broadcasts
from channelgate.store.database import Database
from channelgate.store.idempotency import Idempotency, Taken, after_race, remember
from channelgate.store.outbox import NewOutbound
from channelgate.store.tables import outbox

CANCELLED = "cancelled by the API before it was sent"


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: str
    parameters: list[Any] | None = None


async def create_broadcast(
    store: Database,
    *,
    channel: str,
    label: str,
    message: dict[str, Any],
    options: dict[str, Any] | None,
    recipients: Sequence[Recipient],
    idem: Idempotency | None,
) -> tuple[dict[str, Any], bool]:
    """Record a broadcast and its recipients (pending). Returns the answer and whether it is new."""
    now = time.time()
    broadcast_id = uuid.uuid4().hex
    try:
        async with store.tx() as conn:
            await conn.execute(
                broadcasts.insert().values(
                    id=broadcast_id,
                    channel=channel,
                    label=label,
                    status="running",
                    message=message,
                    options=options,
                    total=len(recipients),
                    created_at=now,
                    updated_at=now,
                )
            )
            if recipients:
                await conn.execute(
                    broadcast_recipients.insert(),
                    [
                        {
                            "broadcast_id": broadcast_id,
                            "user_id": r.user_id,
                            "parameters": r.parameters,
                            "status": "pending",
                            "updated_at": now,
                        }
                        for r in recipients
                    ],
                )
            response = {"id": broadcast_id, "status": "running", "total": len(recipients)}
            if idem is not None:
                await remember(store, conn, idem, response)
    except Taken:
        assert idem is not None
        return await after_race(store, idem), False
    return response, True


async def broadcast(store: Database, broadcast_id: str) -> RowMapping | None:
    async with store.engine.connect() as conn:
        result = await conn.execute(select(broadcasts).where(broadcasts.c.id == broadcast_id))
        return result.mappings().first()


async def list_broadcasts(
    store: Database, *, limit: int, before: tuple[float, str] | None
) -> list[RowMapping]:
    b = broadcasts.c
    where: list[ColumnElement[bool]] = []
    if before is not None:
        where.append(or_(b.created_at < before[0], and_(b.created_at == before[0], b.id < before[1])))
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(broadcasts).where(*where).order_by(b.created_at.desc(), b.id.desc()).limit(limit)
        )
        return list(result.mappings())


async def running_broadcasts(store: Database) -> list[str]:
    async with store.engine.connect() as conn:
        result = await conn.execute(select(broadcasts.c.id).where(broadcasts.c.status == "running"))
        return [r[0] for r in result]


async def pending_recipients(store: Database, broadcast_id: str, limit: int) -> list[RowMapping]:
    r = broadcast_recipients.c
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(broadcast_recipients)
            .where(r.broadcast_id == broadcast_id, r.status == "pending")
            .order_by(r.id)
            .limit(limit)
        )
        return list(result.mappings())


async def queue_recipient(
    store: Database,
    recipient: RowMapping,
    *,
    channel: str,
    label: str,
    locale: str,
    items: Sequence[NewOutbound],
) -> bool:
    """Queue one recipient's messages and mark it queued, in one transaction; False (and nothing queued)
    when the recipient is no longer pending (cancelled, or handled by another replica)."""
    now = time.time()
    try:
        async with store.tx() as conn:
            conversation_id, ids = await conn.run_sync(
                lambda c: outbox_rows.queue(
                    c,
                    channel=channel,
                    label=label,
                    user_id=recipient["user_id"],
                    locale=locale,
                    conversation_id=None,
                    items=items,
                    request_id=recipient["broadcast_id"],
                    idempotency_key=None,
                    now=now,
                )
            )
            result = await conn.execute(
                update(broadcast_recipients)
                .where(
                    broadcast_recipients.c.id == recipient["id"], broadcast_recipients.c.status == "pending"
                )
                .values(status="queued", conversation_id=conversation_id, message_ids=ids, updated_at=now)
            )
            if not result.rowcount:
                raise Taken()
    except Taken:
        return False
    return True


async def refuse_recipient(
    store: Database, recipient_id: int, reason: str, conversation_id: str | None
) -> None:
    async with store.tx() as conn:
        await conn.execute(
            update(broadcast_recipients)
            .where(broadcast_recipients.c.id == recipient_id, broadcast_recipients.c.status == "pending")
            .values(status="refused", reason=reason, conversation_id=conversation_id, updated_at=time.time())
        )


async def finish_broadcast(store: Database, broadcast_id: str, status: str = "completed") -> None:
    now = time.time()
    async with store.tx() as conn:
        await conn.execute(
            update(broadcasts)
            .where(broadcasts.c.id == broadcast_id, broadcasts.c.status == "running")
            .values(status=status, updated_at=now, finished_at=now)
        )


async def cancel_broadcast(store: Database, broadcast_id: str) -> int:
    """Stop a broadcast: pending recipients and messages not yet handed to the platform are cancelled.
    Returns how many recipients were stopped (0: nothing was left to stop)."""
    now = time.time()
    r = broadcast_recipients.c
    async with store.tx() as conn:
        await conn.execute(
            update(broadcasts)
            .where(broadcasts.c.id == broadcast_id, broadcasts.c.status != "cancelled")
            .values(status="cancelled", updated_at=now, finished_at=now)
        )
        pending = await conn.execute(
            update(broadcast_recipients)
            .where(r.broadcast_id == broadcast_id, r.status == "pending")
            .values(status="cancelled", reason=CANCELLED, updated_at=now)
        )
        stopped = int(pending.rowcount)
        # Only rows still ``queued`` are taken back: one the delivery worker holds (``sending``) goes out.
        taken = await conn.execute(
            update(outbox)
            .where(outbox.c.request_id == broadcast_id, outbox.c.status.in_(["queued", "held"]))
            .values(status="failed", reason=CANCELLED, updated_at=now)
            .returning(outbox.c.id)
        )
        taken_ids = {int(row[0]) for row in taken}
        if taken_ids:
            queued = await conn.execute(
                select(r.id, r.message_ids).where(r.broadcast_id == broadcast_id, r.status == "queued")
            )
            hit = [row.id for row in queued if taken_ids.intersection(row.message_ids or [])]
            if hit:
                await conn.execute(
                    update(broadcast_recipients)
                    .where(r.id.in_(hit))
                    .values(status="cancelled", reason=CANCELLED, updated_at=now)
                )
            stopped += len(hit)
    return stopped


async def recipients_page(
    store: Database, broadcast_id: str, *, limit: int, after_id: int | None
) -> list[RowMapping]:
    r = broadcast_recipients.c
    where: list[ColumnElement[bool]] = [r.broadcast_id == broadcast_id]
    if after_id is not None:
        where.append(r.id > after_id)
    async with store.engine.connect() as conn:
        result = await conn.execute(select(broadcast_recipients).where(*where).order_by(r.id).limit(limit))
        return list(result.mappings())


async def broadcast_recipient_states(store: Database, broadcast_id: str) -> list[tuple[str, list[int]]]:
    """(status, message ids) of every recipient, for the progress counts."""
    r = broadcast_recipients.c
    async with store.engine.connect() as conn:
        result = await conn.execute(select(r.status, r.message_ids).where(r.broadcast_id == broadcast_id))
        return [(row.status, list(row.message_ids or [])) for row in result]
