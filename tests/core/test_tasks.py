"""How background loops wait (tasks.py): a cancellation is never lost, even when it arrives in the loop turn
in which the awaited event is set. On Python 3.11 ``asyncio.wait_for`` loses it there, and a replica's
SIGTERM drain hung for ever on the shares' heartbeat task (a peer's leave notice set its event just as the
drain cancelled it; tests/fleet/test_kill_replica.py found it)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import channelgate
from channelgate.shares import FleetShares
from channelgate.tasks import stop_task, wait_set

#: loop turns between setting the event and cancelling: the race sits at one of them
TURNS = range(8)


async def loop_on(event: asyncio.Event, wait: Callable[[asyncio.Event], Awaitable[object]]) -> None:
    """A background loop as the gateway's are: wait for the event or a while, clear it, do a round."""
    while True:
        await wait(event)
        event.clear()


async def cancelled_as_the_event_is_set(wait: Callable[[asyncio.Event], Awaitable[object]]) -> list[int]:
    """The loop turns (of :data:`TURNS`) at which a cancellation was lost: the loop kept running."""
    lost = []
    for turns in TURNS:
        event = asyncio.Event()
        task = asyncio.create_task(loop_on(event, wait))
        await asyncio.sleep(0.01)  # it waits
        event.set()
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.5)
        if not done:
            lost.append(turns)
            task.cancel()  # again: the loop is waiting now, and this one lands
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:
            assert task.cancelled()
    return lost


async def test_a_loop_waiting_with_wait_set_ends_when_cancelled_as_its_event_is_set() -> None:
    assert await cancelled_as_the_event_is_set(lambda event: wait_set(event, 10)) == []


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 made wait_for keep the cancellation")
async def test_the_same_loop_on_wait_for_loses_the_cancellation_on_python_3_11() -> None:
    """Why wait_set exists: the race is real on the Python the gateway supports."""
    lost = await cancelled_as_the_event_is_set(lambda event: asyncio.wait_for(event.wait(), 10))
    assert lost


class Replicas:
    """The ``replicas`` table of one live replica, in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}

    async def beat(self, owner: str, share_of: int) -> None:
        self.rows[owner] = share_of

    async def live(self, expiry: float) -> dict[str, int]:
        return dict(self.rows)

    async def leave(self, owner: str) -> None:
        self.rows.pop(owner, None)

    async def close(self) -> None:
        return None


class Coordination:
    def members_changed(self) -> None:
        return None


@pytest.mark.parametrize("turns", TURNS)
async def test_a_replica_stops_when_a_peers_notice_lands_as_its_drain_begins(turns: int) -> None:
    shares = FleetShares(Replicas(), Coordination(), "a", heartbeat=10)  # type: ignore[arg-type]
    await shares.start()
    assert shares.fraction() == 1.0
    shares.heard()  # a peer left: its notice wakes the heartbeat loop ...
    for _ in range(turns):
        await asyncio.sleep(0)
    stopping = asyncio.ensure_future(shares.stop())  # ... as SIGTERM's drain stops it
    done, _ = await asyncio.wait({stopping}, timeout=2)  # (waits without cancelling anything)
    if not done:  # free the test's loop, then say what happened
        stopping.cancel()
        await asyncio.wait({stopping})
    assert done, "the heartbeat task did not end when cancelled: stop() waited for ever"
    assert shares.fraction() == 0.0


async def test_stopping_a_task_that_will_not_end_takes_its_deadline_and_a_second_not_for_ever() -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():  # swallows every cancellation until released
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)

    task = asyncio.create_task(stubborn())
    started = asyncio.get_running_loop().time()
    await stop_task(task, 0.2)
    assert 1.0 < asyncio.get_running_loop().time() - started < 2.0 and not task.done()
    released.set()  # end it for the test's loop
    task.cancel()
    await task


async def test_stopping_a_task_that_ends_by_itself_retrieves_what_it_raised() -> None:
    async def fails() -> None:
        raise RuntimeError("the loop's own error, logged by the loop")

    task = asyncio.create_task(fails())
    await stop_task(task, 1.0)
    assert task.done() and not task.cancelled()
    assert task._log_traceback is False  # type: ignore[attr-defined]  # retrieved: no "never retrieved" log


def test_the_gateway_never_waits_with_wait_for() -> None:
    """``asyncio.wait_for`` loses cancellations on Python 3.11 (above): the package uses ``asyncio.timeout``
    and ``wait_set``."""
    package = Path(channelgate.__file__).parent
    users = [
        str(p.relative_to(package)) for p in package.rglob("*.py") if "asyncio.wait_for(" in p.read_text()
    ]
    assert users == []
