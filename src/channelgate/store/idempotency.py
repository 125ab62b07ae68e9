"""Idempotent requests of the admin API: the answer given to a request that carried an idempotency key,
so that a retry gets the same answer and causes nothing twice.

The answer is remembered in the same transaction as what the request did (:func:`remember`); when another
request with the same key committed first, :class:`Taken` rolls this one back and :func:`after_race`
returns the winner's answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from channelgate.store.admin_tables import api_requests
from channelgate.store.database import Database


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An idempotency key (namespaced by the kind of request) and the hash of the request it came with."""

    key: str
    body_hash: str


class KeyReused(Exception):
    """The idempotency key was used before with a different request."""


class Taken(Exception):
    """Another request with the same key committed first; this transaction is rolled back."""


async def remembered(store: Database, idem: Idempotency | None) -> dict[str, Any] | None:
    """The answer given before to this key, or None; KeyReused when the request differs."""
    if idem is None:
        return None
    async with store.engine.connect() as conn:
        result = await conn.execute(select(api_requests).where(api_requests.c.key == idem.key))
        row = result.mappings().first()
    if row is None:
        return None
    if row["body_hash"] != idem.body_hash:
        raise KeyReused(idem.key)
    return dict(row["response"])


async def remember(
    store: Database, conn: AsyncConnection, idem: Idempotency, response: dict[str, Any]
) -> None:
    """In the caller's transaction: remember ``response``; Taken when another request has the key."""
    result = await conn.execute(
        store.insert(api_requests)
        .values(key=idem.key, body_hash=idem.body_hash, response=response, created_at=time.time())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(api_requests.c.key)
    )
    if result.first() is None:
        raise Taken()


async def after_race(store: Database, idem: Idempotency) -> dict[str, Any]:
    """The answer of the request that took the key first."""
    previous = await remembered(store, idem)
    if previous is None:  # pragma: no cover - the row was committed before our insert saw it
        raise RuntimeError("idempotent request vanished")
    return previous
