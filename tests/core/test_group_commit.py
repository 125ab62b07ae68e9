"""Group commit of the hot path's jobs (store/writer.py) on both engines, and PostgreSQL's pooled connections
pinged only after they sat idle (store/database.py): what each must still guarantee."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import Connection, exc, text

from channelgate.store import Store, database
from tests.conftest import PG_ADMIN_URL


async def probe_table(store: Store, *, deferred: bool = False) -> None:
    """A scratch table; ``deferred``: its uniqueness is checked at COMMIT (PostgreSQL only)."""
    check = " DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    async with store.engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE probe (n INTEGER, UNIQUE (n){check})"))


def insert(n: int, into: list[int] | None = None) -> object:
    """A job inserting ``n`` (and returning the server's transaction id on PostgreSQL)."""

    def job(conn: Connection) -> object:
        if into is not None:
            into.append(n)
        conn.execute(text("INSERT INTO probe (n) VALUES (:n)"), {"n": n})
        if conn.dialect.name == "sqlite":
            return None
        return conn.execute(text("SELECT txid_current()")).scalar_one()

    return job


async def stored(store: Store) -> list[int]:
    async with store.engine.connect() as conn:
        return [r[0] for r in await conn.execute(text("SELECT n FROM probe ORDER BY n"))]


async def test_jobs_queued_together_commit_together_and_a_bad_one_fails_alone(store: Store) -> None:
    await probe_table(store)
    jobs = [insert(n) for n in range(20)] + [insert(5)]  # the last breaks the unique key
    outcomes = await asyncio.gather(*(store.run(job) for job in jobs), return_exceptions=True)
    # SQLite's writer commits one batch at a time, in submission order: the second 5 fails. PostgreSQL
    # runs its batches of 16 side by side on pooled connections, so the batch holding the second 5 may
    # take the row first: then the first 5 fails. Either way exactly one fails, and it fails alone.
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
    expected = [[20]] if store.is_sqlite else [[20], [5]]
    assert failed in expected
    assert isinstance(outcomes[failed[0]], exc.IntegrityError)
    assert await stored(store) == list(range(20))
    if not store.is_sqlite:  # fewer transactions than jobs: the point of it (20 good jobs, batches of 16)
        assert len({o for i, o in enumerate(outcomes) if i != failed[0]}) < 20


@pytest.mark.postgres
async def test_a_batch_refused_at_its_commit_runs_again_job_by_job(pg_url: str) -> None:
    store = Store(pg_url)
    await store.create_schema()
    try:
        await probe_table(store, deferred=True)
        ran: list[int] = []
        first, second = await asyncio.gather(
            store.run(insert(1, ran)), store.run(insert(1, ran)), return_exceptions=True
        )
        assert not isinstance(first, BaseException)
        assert isinstance(second, exc.IntegrityError)
        assert ran == [1, 1, 1, 1]  # the batch, then each job alone
        assert await stored(store) == [1]
    finally:
        await store.close()


@pytest.mark.postgres
async def test_a_connection_killed_while_idle_is_replaced_before_a_job_uses_it(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(pg_url)
    await store.create_schema()
    try:
        await probe_table(store)
        await store.run(insert(1))  # a pooled connection, now idle
        admin = await asyncpg.connect(PG_ADMIN_URL.replace("postgresql://", "postgres://", 1))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                pg_url.rsplit("/", 1)[1],
            )
        finally:
            await admin.close()
        assert killed >= 1
        monkeypatch.setattr(database, "IDLE_PING", 0.0)  # every connection has now sat idle long enough
        await store.run(insert(2))  # the dead connection failed its ping; the job ran on a new one
        assert await stored(store) == [1, 2]
    finally:
        await store.close()


@pytest.mark.postgres
async def test_a_batch_kept_waiting_for_a_row_lock_runs_again_job_by_job(pg_url: str) -> None:
    """Batches can lock rows in opposite orders (a deadlock the server finds only after a second): a batch
    waits for a lock at most ``lock_timeout``, then each job runs alone and waits as long as it takes."""
    store = Store(pg_url)
    await store.create_schema()
    try:
        await probe_table(store)
        await store.run(insert(1))
        ran: list[str] = []

        def bump(conn: Connection) -> None:
            ran.append("bump")
            conn.execute(text("UPDATE probe SET n = 10 WHERE n = 1"))

        def add(conn: Connection) -> None:
            ran.append("add")
            conn.execute(text("INSERT INTO probe (n) VALUES (2)"))

        async with store.engine.connect() as holder:
            await holder.execute(text("SELECT n FROM probe WHERE n = 1 FOR UPDATE"))  # held until rollback
            jobs = asyncio.gather(store.run(bump), store.run(add))
            await asyncio.sleep(0.5)  # past the batch's lock_timeout: it gave up, "bump" now waits alone
            assert ran == ["bump", "bump"]
            await holder.rollback()
        await jobs
        assert ran == ["bump", "bump", "add"]
        assert await stored(store) == [2, 10]
    finally:
        await store.close()
