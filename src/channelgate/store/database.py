"""The connection to the store's database, which every repository of this package shares.

SQLAlchemy Core with async drivers: SQLite (aiosqlite, WAL) embedded by default, PostgreSQL (asyncpg) when
several replicas share the work. The same queries run on both; the only dialect-specific piece is the
``INSERT ... ON CONFLICT`` that makes dedup atomic under concurrent redelivery (:meth:`Database.insert`).

SQLite allows one writer at a time. Jobs of the hot path go through :class:`~channelgate.store.writer.
GroupWriter` (one thread, group commit); the rest of the store goes through one aiosqlite connection under
the same asyncio lock, so contention becomes a short queue in memory instead of "database is locked"
errors. On PostgreSQL the same jobs are group-committed too (:class:`~channelgate.store.writer.
PgGroupCommit`, batches through ``AsyncConnection.run_sync``), so the same code runs on both engines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

import orjson
from sqlalchemy import Connection, create_engine, event, exc, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from channelgate.store import admin_tables  # noqa: F401  (their tables are part of the schema)
from channelgate.store.secret_box import SecretBox, SecretKeyMissing, create_private, sqlite_path
from channelgate.store.tables import metadata
from channelgate.store.writer import GroupCommit, GroupWriter, PgGroupCommit

if TYPE_CHECKING:
    from channelgate.config import Settings

T = TypeVar("T")

#: PostgreSQL: a pooled connection idle longer than this (seconds) is pinged before it is used again
IDLE_PING = 5.0


def async_url(url: str) -> str:
    """``sqlite:///x.db`` → ``sqlite+aiosqlite:///x.db``; ``postgresql://`` → ``postgresql+asyncpg://``."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    """``synchronous``: SQLite's ``PRAGMA synchronous``. ``normal`` (WAL) survives a crash of the process
    but may lose the last commits on an OS crash or power loss; ``full`` syncs the WAL at every commit and
    survives those too (docs/configuration.md has the measured cost). PostgreSQL is durable by its own
    ``synchronous_commit``. ``secrets``: how stored secrets are encrypted (default: from the environment,
    see :mod:`channelgate.store.secret_box`)."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        synchronous: Literal["normal", "full"] = "normal",
        secrets: SecretBox | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.synchronous = synchronous
        self.secrets = secrets if secrets is not None else SecretBox.for_store(url)
        # hide_parameters: statements logged (``echo``, the sqlalchemy.engine logger at INFO) or quoted in
        # an exception never carry their values, which include tokens and users' messages
        kwargs: dict[str, Any] = {
            "echo": echo,
            "hide_parameters": True,
            "json_serializer": _dumps,
            "json_deserializer": orjson.loads,
        }
        if self.is_sqlite:
            kwargs.update(poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0)
            database = sqlite_path(url)
            if database is not None and database.parent.is_dir():
                create_private(database)  # 0600 before SQLite makes it; -wal and -shm inherit its mode
        else:
            kwargs.update(pool_size=10, max_overflow=10)
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        if not self.is_sqlite:
            ping_when_idle(self.engine)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer: GroupWriter | None = None
        self._pg_batches = None if self.is_sqlite else PgGroupCommit(self.engine)
        in_memory = url.rstrip("/") in ("sqlite:", "sqlite:/") or ":memory:" in url or "mode=memory" in url
        self._threaded = self.is_sqlite and not in_memory
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", self._sqlite_connect)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The store the config names, with its durability and secret-key settings."""
        secrets = SecretBox.for_store(settings.store, settings.secret_key_file)
        return cls(settings.store, synchronous=settings.sqlite_synchronous, secrets=secrets)

    def _sqlite_connect(self, dbapi_conn: Any, record: Any) -> None:
        _sqlite_pragmas(dbapi_conn, record, self.synchronous)

    def _sqlite_writer_connect(self, dbapi_conn: Any, record: Any) -> None:
        """The writer thread's connection: the same pragmas, and transactions begun by us (BEGIN IMMEDIATE),
        not by the driver, so a job that reads before it writes never has its snapshot go stale."""
        _sqlite_pragmas(dbapi_conn, record, self.synchronous)
        dbapi_conn.isolation_level = None

    def _group_writer(self) -> GroupWriter:
        """SQLite: the writer thread and its own connection, made on first use (in the running loop)."""
        if self._writer is None:
            assert self._write_lock is not None
            engine = create_engine(
                self.url,
                hide_parameters=True,
                json_serializer=_dumps,
                json_deserializer=orjson.loads,
                pool_size=1,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            event.listen(engine, "connect", self._sqlite_writer_connect)
            event.listen(engine, "begin", _sqlite_begin_immediate)
            self._writer = GroupWriter(engine, self._write_lock)
        return self._writer

    async def run(self, job: Callable[[Connection], T], *, urgent: bool = False) -> T:
        """Run ``job`` in a transaction, group-committed with the jobs queued meanwhile (SQLite's writer
        thread, or a pooled PostgreSQL connection). ``urgent``: someone waits on the line for it (a
        webhook's acknowledgement)."""
        batches: GroupCommit | None = self._group_writer() if self._threaded else self._pg_batches
        if batches is not None:
            result: T = await batches.submit(job, urgent=urgent)
            return result
        async with self.tx() as conn:  # an in-memory SQLite only its own connection sees
            return await conn.run_sync(job)

    # --- lifecycle ---

    async def create_schema(self) -> None:
        if not self.secrets.usable:  # fail at start, not at the first secret a channel or the API stores
            raise SecretKeyMissing(self.secrets.missing_reason)
        async with self.engine.begin() as conn:
            if not self.is_sqlite:  # replicas and workers starting together: one creates, the others wait
                await conn.execute(text("SELECT pg_advisory_xact_lock(7204151)"))
            await conn.run_sync(metadata.create_all)
            await conn.run_sync(_add_missing_columns)
            await conn.run_sync(_create_missing_indexes)

    async def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            async with writer.lock:
                await asyncio.get_running_loop().run_in_executor(None, writer.close)
        await self.engine.dispose()

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; on SQLite also the single-writer turn."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    def insert(self, table: Any) -> Any:
        """``INSERT`` with the dialect's ``ON CONFLICT`` support."""
        return (sqlite.insert if self.is_sqlite else postgresql.insert)(table)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(select(1))


def ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it sat idle over ``idle`` seconds, where a server
    restart or a firewall may have cut it unseen. Why not ``pool_pre_ping``: it pings at every checkout,
    and SQLAlchemy's asyncpg ping is ``BEGIN; ;; ROLLBACK``, three round trips before each job of the hot
    path, whose own are three or four (profiled: 40 % of the store's round trips). A connection in use
    seconds ago is alive or fails its job like any statement would; that failure invalidates the pool
    (SQLAlchemy's disconnect handling), so the next checkouts reconnect. A failed ping does the same, and
    the checkout goes on with a new connection. The limit is :data:`IDLE_PING`, read at each checkout."""
    pool = engine.sync_engine.pool

    def checkin(_dbapi: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    def checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= IDLE_PING:
            return
        try:
            dbapi.ping()
        except Exception as error:
            raise exc.InvalidatePoolError() from error

    event.listen(pool, "checkin", checkin)
    event.listen(pool, "checkout", checkout)


def _add_missing_columns(conn: Connection) -> None:
    """``create_all`` makes a table's columns only with the table: add the nullable ones a newer version
    defines (e.g. ``outbox.retry_since``), so a store written by an older version keeps working."""
    found = inspect(conn)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in found.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have and column.nullable:
                kind = column.type.compile(dialect=conn.dialect)
                # PostgreSQL: replicas starting together may race to add it
                guard = "" if conn.dialect.name == "sqlite" else "IF NOT EXISTS "
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN {guard}"{column.name}" {kind}')


def _create_missing_indexes(conn: Connection) -> None:
    """``create_all`` makes a table's indexes only with the table: add those a newer version defines."""
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _sqlite_begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, synchronous: str = "normal") -> None:
    if synchronous not in ("normal", "full"):  # it goes into the statement: only the two known words
        raise ValueError(f"synchronous must be normal or full, not {synchronous!r}")
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # statement journals (the pages a multi-row statement changed, kept to undo that statement alone) in
    # memory, not in temporary files: under load they were a third of the writer's pwrite calls (strace)
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()
