"""The replay cache: which (timestamp, nonce) pairs an integration's signed webhooks have used, and with what
message. WeChat's ``signature`` covers the Token, a timestamp and a nonce but not the body, so a captured
callback URL could carry any body until its timestamp goes stale; binding each pair to the first message that
came with it closes that (docs/channels/wechat.md, "Replays").

It lives in the store, not in memory, so that every replica sees the pairs any of them accepted: a replay
sent to another replica of the same deployment is caught too. Rows expire when their timestamp would no
longer pass the channel's clock check, and each integration deletes its expired rows about once a minute
while it receives webhooks, so the table holds a few minutes of traffic at most.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from channelgate.store.store import Store
from channelgate.store.tables import seen_nonces

#: how often an integration deletes its expired pairs (seconds)
PRUNE_INTERVAL = 60.0
#: the longest nonce kept (WeChat's are 9-10 digits); the channel refuses longer ones before they get here
MAX_NONCE = 64


async def first_seen(
    store: Store, scope: str, timestamp: int, nonce: str, fingerprint: str, *, now: float, until: float
) -> str | None:
    """Record (scope, timestamp, nonce) with ``fingerprint`` unless a live row has it: None when recorded
    here, else the fingerprint recorded first. Atomic across replicas: the primary key decides, and a pair
    whose row expired is taken over."""
    if len(nonce) > MAX_NONCE:
        raise ValueError(f"nonce over {MAX_NONCE} characters")
    key = {"scope": scope, "timestamp": timestamp, "nonce": nonce}
    insert = (sqlite.insert if store.is_sqlite else postgresql.insert)(seen_nonces)
    claim = (
        insert.values(**key, fingerprint=fingerprint, expires_at=until)
        .on_conflict_do_nothing(index_elements=["scope", "timestamp", "nonce"])
        .returning(seen_nonces.c.nonce)
    )
    where = (
        seen_nonces.c.scope == scope,
        seen_nonces.c.timestamp == timestamp,
        seen_nonces.c.nonce == nonce,
    )

    def job(conn: Connection) -> str | None:
        if conn.execute(claim).first() is not None:
            return None
        row = conn.execute(select(seen_nonces.c.fingerprint, seen_nonces.c.expires_at).where(*where)).first()
        if row is None:  # pruned between the two statements: it had expired
            return None
        if row.expires_at <= now:
            conn.execute(update(seen_nonces).where(*where).values(fingerprint=fingerprint, expires_at=until))
            return None
        return str(row.fingerprint)

    return await store.run(job, urgent=True)  # a platform waits on the line for this webhook's answer


async def prune(store: Store, scope: str, now: float) -> int:
    """Delete the scope's expired pairs; returns how many."""

    def job(conn: Connection) -> int:
        result = conn.execute(
            delete(seen_nonces).where(seen_nonces.c.scope == scope, seen_nonces.c.expires_at <= now)
        )
        return int(result.rowcount)

    return await store.run(job)


async def count(store: Store, scope: str) -> int:
    """Rows kept for ``scope`` (tests and diagnostics)."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(seen_nonces.c.nonce).where(seen_nonces.c.scope == scope))
        return len(rows.all())


class StoreReplayCache:
    """The ReplayCache protocol of channels.base for one integration (``scope`` = ``channel:label``)."""

    def __init__(self, store: Store, scope: str) -> None:
        self.store = store
        self.scope = scope
        self._pruned_at = time.monotonic()

    async def first_seen(
        self, timestamp: int, nonce: str, fingerprint: str, *, now: float, until: float
    ) -> str | None:
        if time.monotonic() - self._pruned_at >= PRUNE_INTERVAL:
            self._pruned_at = time.monotonic()
            await prune(self.store, self.scope, now)
        return await first_seen(self.store, self.scope, timestamp, nonce, fingerprint, now=now, until=until)
