"""Group commit: the jobs queued while one transaction runs are committed together in the next.

The hot path (accept, claim a turn, complete it, claim and mark deliveries) is written as plain functions
over a synchronous connection. On SQLite they run on one writer thread with its own connection, and the
jobs that queue up while a transaction runs are committed together in the next one (group commit): one
thread hop and one commit per batch instead of four hops per statement through aiosqlite. On PostgreSQL
the same queue runs its batches through ``AsyncConnection.run_sync`` on a pooled connection: one
``BEGIN`` and one ``COMMIT`` round trip per batch instead of per job (profiled: a WhatsApp message took
six jobs, twelve of its 28 round trips). Every caller still gets its answer only after its transaction
committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

Job = Callable[[Connection], Any]
Outcomes = list[tuple[bool, Any]]


class GroupCommit:
    """Jobs submitted while a transaction runs are committed together in the next, in submission order.

    With :attr:`concurrency` above one (PostgreSQL), batches in flight together commit in whichever
    order the server finishes them; a caller that needs one job committed before another awaits the
    first before it submits the second, as the hot path does. A job is a function of a synchronous
    connection. When a batch fails, its jobs are run again one
    transaction each, so one bad job fails alone. Subclasses say where a batch runs (:meth:`_commit`)."""

    #: jobs per transaction: bounds how long one batch keeps an urgent job (a webhook's accept) waiting
    max_batch = 64
    #: batches in flight at once, each a transaction of its own (SQLite: one, its single writer)
    concurrency = 1

    def __init__(self) -> None:
        self._queue: list[tuple[Job, asyncio.Future[Any]]] = []
        self._urgent = 0  # the first ``_urgent`` jobs of the queue are urgent ones
        self._draining: set[asyncio.Task[None]] = set()

    async def submit(self, job: Job, *, urgent: bool = False) -> Any:
        """Run ``job`` in the next batch; an urgent job goes ahead of the queued ordinary ones (a platform
        waits for its answer), in order among urgent jobs."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if urgent:
            self._queue.insert(self._urgent, (job, future))
            self._urgent += 1
        else:
            self._queue.append((job, future))
        # a drainer that found the queue empty is done at once (its done-callbacks come later)
        self._draining = {task for task in self._draining if not task.done()}
        if len(self._draining) < self.concurrency:
            self._draining.add(asyncio.create_task(self._drain()))
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            self._urgent = max(0, self._urgent - len(batch))
            try:
                outcomes = await self._commit([job for job, _ in batch])
            except Exception as exc:  # e.g. no connection to PostgreSQL: this batch fails, the next tries
                outcomes = [(False, exc)] * len(batch)
            except BaseException:  # cancelled at shutdown: nobody will read these any more
                for _, future in batch:
                    if not future.done():
                        future.set_exception(RuntimeError("store closed"))
                raise
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    async def _commit(self, jobs: list[Job]) -> Outcomes:
        raise NotImplementedError


Begin = Callable[[], AbstractContextManager[Connection]]


def run_batch(begin: Begin, jobs: list[Job], begin_batch: Begin | None = None) -> Outcomes:
    """All jobs in one transaction (``begin_batch`` when there are several, else ``begin``): (ok, result
    or error) per job. When it fails, each job runs again in a transaction of its own (``begin``), so one
    bad job fails alone; except when the connection was lost after every job had run: on PostgreSQL a
    connection lost during ``COMMIT`` leaves it unknown whether the batch was committed, so every job
    fails with it and none runs twice."""
    failed_job = False
    try:
        with (begin_batch if begin_batch is not None and len(jobs) > 1 else begin)() as conn:
            outcomes: Outcomes = []
            for job in jobs:
                failed_job = True
                outcomes.append((True, job(conn)))
                failed_job = False
            return outcomes
    except Exception as exc:
        lost = getattr(exc, "connection_invalidated", False)
        if len(jobs) == 1 or (lost and not failed_job):
            return [(False, exc)] * len(jobs)
    outcomes = []
    for job in jobs:
        try:
            with begin() as conn:
                result = job(conn)
            outcomes.append((True, result))  # committed: a failed commit is this job's failure
        except Exception as exc:
            outcomes.append((False, exc))
    return outcomes


class GroupWriter(GroupCommit):
    """SQLite's single writer: batches run on one dedicated thread (the connection's). The asyncio
    ``lock`` is the store's write lock: aiosqlite transactions of the rest of the store never overlap a
    batch."""

    def __init__(self, engine: Engine, lock: asyncio.Lock) -> None:
        super().__init__()
        self.engine = engine
        self.lock = lock
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="channelgate-sqlite")

    async def _commit(self, jobs: list[Job]) -> Outcomes:
        loop = asyncio.get_running_loop()
        async with self.lock:
            return await loop.run_in_executor(self.executor, run_batch, self.engine.begin, jobs)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.engine.dispose()


class PgGroupCommit(GroupCommit):
    """PostgreSQL: each batch on a connection of the store's pool, through ``run_sync``; a few batches in
    flight at once, so a job waits for a round trip of the server only when all of them are busy, and
    the jobs that arrive meanwhile make the next batch. One batch at a time would chain every job of the
    process behind one connection's round trips: profiled under closed-loop load on a busy machine, the
    replies fell from 135 to 27 a second while acknowledgements (urgent, first in every batch) ran ahead.
    The rest of the store keeps its own transactions on the pool beside them.

    Batches in flight together (in this process or another) can lock the same rows in opposite orders,
    which jobs one transaction each never did (each touches one conversation): measured, ~10 deadlocks in
    15 s of closed-loop load, each found only after the server's ``deadlock_timeout`` (1 s). So a batch of
    several jobs waits at most :attr:`lock_timeout` for a row lock, then runs again job by job, as a
    batch with a failing job does; a job alone waits as long as it takes, as before."""

    max_batch = 16
    concurrency = 4
    #: how long a batch of several jobs waits for a row lock before it runs again job by job
    lock_timeout = "100ms"

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self.engine = engine

    async def _commit(self, jobs: list[Job]) -> Outcomes:
        async with self.engine.connect() as conn:
            return await conn.run_sync(self._run, jobs)

    def _run(self, conn: Connection, jobs: list[Job]) -> Outcomes:
        batch = partial(_transaction, conn, f"SET LOCAL lock_timeout = '{self.lock_timeout}'")
        return run_batch(partial(_transaction, conn), jobs, batch)


@contextmanager
def _transaction(conn: Connection, first: str | None = None) -> Iterator[Connection]:
    """A transaction on ``conn`` (``first``: a statement it starts with), committed on leaving, rolled
    back on an error."""
    with conn.begin():
        if first is not None:
            conn.exec_driver_sql(first)
        yield conn
