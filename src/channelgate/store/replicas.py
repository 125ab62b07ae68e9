"""The replicas table: who is alive, and what each one divides the fleet's limits by (shares.py).

A heartbeat is its own transaction, committed before the rows are read back in another: the share
scheme relies on a replica's published divisor being visible to anyone who reads after it.
Times are the database's clock (``clock_timestamp()`` on PostgreSQL), never the replicas' own, so a
replica on a machine with a skewed clock is neither declared dead early nor kept alive late.

A heartbeat must not wait behind the hot path: in the kill test on a loaded machine, heartbeats through
the store's pool (taken by turns and sends) and with the usual commit (waiting on a busy disk) lapsed for
over 3 s and the replica cut itself off again and again. So on PostgreSQL the heartbeats have a connection
of their own, and commit without waiting for the WAL flush (``synchronous_commit`` off: a heartbeat lost
in a database crash costs nothing, and the commit is visible to the other sessions at once all the same).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from channelgate.store.database import Database
from channelgate.store.statements import Sql

#: the database's clock in seconds since the epoch, read in the transaction that uses it
PG_CLOCK = Sql("SELECT EXTRACT(EPOCH FROM clock_timestamp()) AS now")
SQLITE_CLOCK = Sql("SELECT (julianday('now') - 2440587.5) * 86400.0 AS now")
BEAT = Sql(
    """INSERT INTO replicas (owner, share_of, heartbeat_at) VALUES (:owner, :share_of, :now)
       ON CONFLICT (owner) DO UPDATE SET share_of = excluded.share_of, heartbeat_at = excluded.heartbeat_at"""
)
FORGET = Sql("DELETE FROM replicas WHERE heartbeat_at < :before")
LIVE = Sql("SELECT owner, share_of FROM replicas WHERE heartbeat_at > :since")
LEAVE = Sql("DELETE FROM replicas WHERE owner = :owner")
#: rows this old (seconds) are deleted at a heartbeat: replicas that died long ago
FORGET_AFTER = 600.0
#: seconds a heartbeat's connection, lock wait or statement may take before it fails. A heartbeat that
#: cannot commit must fail, not wait: failing, the replica stops sending after ``STALE_AFTER`` (shares.py),
#: which is the safe side; waiting (a row lock left by a cancelled transaction, a server that stopped
#: answering) would hang the replica's shutdown with it.
HEARTBEAT_TIMEOUT = 2.0


class Replicas:
    """Heartbeats of the gateway's replicas."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._clock = SQLITE_CLOCK if db.is_sqlite else PG_CLOCK
        self._engine: AsyncEngine | None = None  # PostgreSQL: the heartbeats' own connection

    def _own_engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_async_engine(
                self.db.engine.url,
                pool_size=1,
                max_overflow=0,
                pool_pre_ping=True,
                hide_parameters=True,
                pool_timeout=HEARTBEAT_TIMEOUT,
                connect_args={
                    "timeout": HEARTBEAT_TIMEOUT,
                    "command_timeout": HEARTBEAT_TIMEOUT,
                    "server_settings": {"lock_timeout": str(int(HEARTBEAT_TIMEOUT * 1000))},
                },
            )
        return self._engine

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()

    def _now(self, conn: Connection) -> float:
        row = self._clock.first(conn, {})
        assert row is not None
        return float(row["now"])

    async def beat(self, owner: str, share_of: int) -> None:
        """This replica is alive and divides its limits by ``share_of`` (committed on return)."""

        def job(conn: Connection) -> None:
            now = self._now(conn)
            BEAT.execute(conn, {"owner": owner, "share_of": share_of, "now": now})
            FORGET.execute(conn, {"before": now - FORGET_AFTER})

        if self.db.is_sqlite:
            await self.db.run(job)
            return
        async with self._own_engine().begin() as conn:
            await conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            await conn.run_sync(job)

    async def live(self, expiry: float) -> dict[str, int]:
        """The replicas whose heartbeat is under ``expiry`` seconds old: owner → its ``share_of``."""

        def read(conn: Connection) -> list[dict[str, Any]]:
            return LIVE.rows(conn, {"since": self._now(conn) - expiry})

        engine = self.db.engine if self.db.is_sqlite else self._own_engine()
        async with engine.connect() as conn:
            rows = await conn.run_sync(read)
        return {str(r["owner"]): int(r["share_of"]) for r in rows}

    async def leave(self, owner: str) -> None:
        """This replica stopped sending: the others may take its share at once."""
        if self.db.is_sqlite:
            await self.db.run(lambda conn: LEAVE.execute(conn, {"owner": owner}))
            return
        async with self._own_engine().begin() as conn:
            await conn.run_sync(lambda c: LEAVE.execute(c, {"owner": owner}))
