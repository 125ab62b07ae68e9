"""Background jobs a part starts and does not await (a peer's news, a routed hand-over, a poll), and how a
background loop waits.

A bare ``asyncio.create_task`` may be garbage-collected while it runs (the loop keeps only a weak
reference), and what it raised would surface as "exception never retrieved" long after. A
:class:`TaskSet` keeps each job until it ends, logs what it raised with the owner's message, and lets its
owner cancel or wait for the jobs when it stops.

Waiting with a deadline is ``asyncio.timeout``, never ``asyncio.wait_for``: on Python 3.11, a
cancellation that arrives in the loop turn in which the awaited thing finishes is dropped by ``wait_for``
(it returns the result instead of raising). A loop that waits on an event that way keeps running after
its task was cancelled, and whoever awaits that task at shutdown waits for ever. Seen: a replica's
SIGTERM drain hung when a peer's leave notice set the shares' event just as the drain cancelled the
heartbeat task (tests/core/test_tasks.py). ``asyncio.timeout`` keeps the cancellation;
:func:`wait_set` is the loops' form of it, and :func:`stop_task` how their owners stop them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any


class TaskSet:
    """The jobs one part has under way. ``failure`` is what its log says when a job raises."""

    def __init__(self, log: logging.Logger, failure: str) -> None:
        self.log = log
        self.failure = failure
        self._tasks: set[asyncio.Future[None]] = set()

    def spawn(self, job: Awaitable[None]) -> None:
        """Run ``job`` in the background; what it raises is logged, never lost."""

        task = asyncio.ensure_future(job)  # the job itself: cancelled before it starts, it is closed
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.log.error(self.failure, exc_info=error)

    def cancel(self) -> None:
        """Cancel every job under way."""
        for task in list(self._tasks):
            task.cancel()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109 - a drain deadline
        """Let the jobs under way finish, up to ``timeout`` seconds."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


async def stop_task(task: asyncio.Future[Any], timeout: float) -> None:  # noqa: ASYNC109 - a drain
    """Let ``task`` end by itself for up to ``timeout`` seconds, then cancel it and give it a second to
    unwind (a claim or a connection in use). It never waits longer, so a task that will not end cannot
    hang its stopper; what the task raised is retrieved here (its own loop logs its errors)."""
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if task.done() and not task.cancelled():
        task.exception()


async def wait_set(event: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109 - a loop's pause
    """Wait until ``event`` is set, for at most ``timeout`` seconds; whether it is set. A cancellation is
    never lost (the module's docstring says why that needs saying)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()


__all__ = ["TaskSet", "stop_task", "wait_set"]
