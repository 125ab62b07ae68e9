"""SQLite's single writer: the jobs queued while one transaction runs are committed together in the next.

The hot path (accept, claim a turn, complete it, claim and mark deliveries) is written as plain functions
over a synchronous connection. On SQLite they run on one writer thread with its own connection, and the
jobs that queue up while a transaction runs are committed together in the next one (group commit): one
thread hop and one commit per batch instead of four hops per statement through aiosqlite. Every caller
still gets its answer only after its transaction committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

Job = Callable[[Connection], Any]


class GroupWriter:
    """SQLite's single writer: jobs submitted while a transaction runs are committed together in the next.

    A job is a function of a synchronous connection; it runs on one dedicated thread (the connection's),
    in submission order. When a batch fails, its jobs are run again one transaction each, so one bad
    job fails alone. The asyncio ``lock`` is the store's write lock: aiosqlite transactions of the
    rest of the store never overlap a batch."""

    #: jobs per transaction: bounds how long one batch keeps an urgent job (a webhook's accept) waiting
    max_batch = 64

    def __init__(self, engine: Engine, lock: asyncio.Lock) -> None:
        self.engine = engine
        self.lock = lock
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="channelgate-sqlite")
        self._queue: list[tuple[Job, asyncio.Future[Any]]] = []
        self._urgent = 0  # the first ``_urgent`` jobs of the queue are urgent ones
        self._draining: asyncio.Task[None] | None = None

    async def submit(self, job: Job, *, urgent: bool = False) -> Any:
        """Run ``job`` in the next batch; an urgent job goes ahead of the queued ordinary ones (a platform
        waits for its answer), in order among urgent jobs."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if urgent:
            self._queue.insert(self._urgent, (job, future))
            self._urgent += 1
        else:
            self._queue.append((job, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            self._urgent = max(0, self._urgent - len(batch))
            try:
                async with self.lock:
                    outcomes = await loop.run_in_executor(self.executor, self._run, [job for job, _ in batch])
            except BaseException as exc:  # cancelled at shutdown: nobody will read these any more
                for _, future in batch:
                    if not future.done():
                        future.set_exception(
                            exc if isinstance(exc, Exception) else RuntimeError("store closed")
                        )
                raise
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _run(self, jobs: list[Job]) -> list[tuple[bool, Any]]:
        """On the writer thread: all jobs in one transaction, or each in its own when that fails."""
        try:
            with self.engine.begin() as conn:
                return [(True, job(conn)) for job in jobs]
        except Exception as exc:
            if len(jobs) == 1:
                return [(False, exc)]
        outcomes: list[tuple[bool, Any]] = []
        for job in jobs:
            try:
                with self.engine.begin() as conn:
                    outcomes.append((True, job(conn)))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.engine.dispose()
