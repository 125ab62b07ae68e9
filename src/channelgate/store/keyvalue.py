"""Shared key-values and locks: what channels keep across replicas (platform access tokens, the web chat's
HMAC key, cached media ids) and the locks that keep two replicas from refreshing the same token at once.

Values channels store go through :class:`StoreKeyValue`, which seals them with the store's secret key
(store/secret_box.py). The replay cache of signed webhooks, the third piece of shared state, is in
replay.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from channelgate.store.database import Database
from channelgate.store.secret_box import SecretBox
from channelgate.store.tables import kv, locks


class KeyValues:
    """The ``kv`` and ``locks`` tables, values as stored (see :class:`StoreKeyValue` for sealing)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        async with self.db.engine.connect() as conn:
            result = await conn.execute(select(kv.c.value, kv.c.expires_at).where(kv.c.key == key))
            row = result.first()
        if row is None or (row.expires_at is not None and row.expires_at <= time.time()):
            return None
        return str(row.value)

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        expires = time.time() + ttl if ttl else None
        stmt = self.db.insert(kv).values(key=key, value=value, expires_at=expires)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": value, "expires_at": expires}
        )
        async with self.db.tx() as conn:
            await conn.execute(stmt)

    async def try_lock(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        async with self.db.tx() as conn:
            await conn.execute(delete(locks).where(locks.c.name == name, locks.c.expires_at < now))
            result = await conn.execute(
                self.db.insert(locks)
                .values(name=name, owner=owner, expires_at=now + ttl)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(locks.c.name)
            )
            return result.first() is not None

    async def unlock(self, name: str, owner: str) -> None:
        async with self.db.tx() as conn:
            await conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == owner))


async def reseal(conn: AsyncConnection, secrets: SecretBox, prefixes: tuple[str, ...]) -> int:
    """In the caller's transaction: re-encrypt every sealed value with the first key, and seal the values
    an earlier version stored in clear under one of ``prefixes`` (channels' namespaces). How many."""
    count = 0
    for key, value in (await conn.execute(select(kv.c.key, kv.c.value))).all():
        if not value or not (secrets.sealed(value) or str(key).startswith(prefixes)):
            continue
        await conn.execute(update(kv).where(kv.c.key == key).values(value=secrets.rotate(value)))
        count += 1
    return count


class StoreKeyValue:
    """The KeyValue protocol of channels.base over the store, with namespaced keys."""

    def __init__(self, store: Database, owner: str, namespace: str = "") -> None:
        self.store = store
        self.values = KeyValues(store)
        self.owner = owner
        self.namespace = namespace

    async def get(self, key: str) -> str | None:
        value = await self.values.get(self.namespace + key)
        return self.store.secrets.open(value) if value else value

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Values are sealed: channels keep secrets here (the web chat's HMAC key, access tokens)."""
        sealed = self.store.secrets.seal(value) if value else value
        await self.values.set(self.namespace + key, sealed, ttl)

    @asynccontextmanager
    async def lock(self, key: str, ttl: float = 30.0) -> AsyncIterator[None]:
        name = self.namespace + key
        delay = 0.02
        while not await self.values.try_lock(name, self.owner, ttl):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            await self.values.unlock(name, self.owner)
