"""Each replica's share of the fleet's limits (shares.py), on the test PostgreSQL with real heartbeats.

The property that matters: at no instant do the replicas' shares add up to more than the whole, while
replicas join, leave, are cut off from the store or die; and the survivors take a dead one's share.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.engine import make_url

from channelgate.coordination import Handlers, PgCoordination, asyncpg_dsn
from channelgate.lanes import RateLimiter
from channelgate.shares import FleetShares
from channelgate.store import Store
from channelgate.store.replicas import Replicas
from channelgate.testing.gateway import wait_until

FAST = {"heartbeat": 0.1, "stale_after": 0.3, "expiry": 0.6}


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[Store]:
    s = Store(pg_url)
    await s.create_schema()
    yield s
    await s.close()


@asynccontextmanager
async def replica(store: Store, owner: str, **timing: float) -> AsyncIterator[FleetShares]:
    """A replica's shares, announcing joins and leaves over a real LISTEN/NOTIFY connection."""
    coordination = PgCoordination(asyncpg_dsn(make_url(store.engine.url)), owner)
    # each replica its own heartbeat connection, as each process has in a fleet
    shares = FleetShares(Replicas(store), coordination, owner, **{**FAST, **timing})

    async def nothing() -> None:
        return None

    handlers = Handlers(
        integration=lambda _c, _l: nothing(),
        turns=lambda _ids: None,
        outbox=lambda: None,
        poll=lambda: None,
        resync=nothing,
        members=shares.heard,
    )
    await coordination.start(handlers)
    try:
        await shares.start()
        yield shares
        await shares.stop()
        await coordination.flush()
    finally:
        await coordination.stop()


@asynccontextmanager
async def never_over(*shares: Callable[[], list[FleetShares]]) -> AsyncIterator[list[float]]:
    """Sample the sum of the live replicas' shares every millisecond; fail if it ever exceeds 1."""
    worst: list[float] = [0.0]
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            total = sum(s.fraction() for group in shares for s in group())
            worst[0] = max(worst[0], total)
            await asyncio.sleep(0.001)

    task = asyncio.create_task(sample())
    try:
        yield worst
    finally:
        stop.set()
        await task
    assert worst[0] <= 1.0 + 1e-9


async def test_joins_and_leaves_never_give_out_more_than_the_whole(store: Store) -> None:
    fleet: list[FleetShares] = []
    async with never_over(lambda: fleet) as worst, replica(store, "a") as a:
        fleet.append(a)
        assert a.fraction() == 1.0 and a.members == 1
        async with replica(store, "b") as b:
            fleet.append(b)
            started = time.monotonic()
            await wait_until(lambda: a.fraction() == b.fraction() == 0.5, timeout=2)
            # the members notice adapts the shares at once, not at the next heartbeat
            assert time.monotonic() - started < 1.0
            async with replica(store, "c") as c:
                fleet.append(c)
                await wait_until(lambda: all(abs(s.fraction() - 1 / 3) < 1e-9 for s in fleet), timeout=2)
            fleet.remove(c)
            await wait_until(lambda: a.fraction() == b.fraction() == 0.5, timeout=2)  # c left: its row went
        fleet.remove(b)
        await wait_until(lambda: a.fraction() == 1.0, timeout=2)
    assert worst[0] == pytest.approx(1.0)


async def test_a_dead_replica_stops_itself_before_the_others_take_its_share(store: Store) -> None:
    fleet: list[FleetShares] = []
    async with replica(store, "a") as a, replica(store, "b") as b, never_over(lambda: fleet):
        fleet += [a, b]
        await wait_until(lambda: a.fraction() == b.fraction() == 0.5, timeout=2)
        # b's heartbeats stop (a hung process, a lost store): it cuts itself off after stale_after, and a
        # takes the whole only after expiry; b's sampled share counts all along
        assert b._task is not None
        b._task.cancel()
        cut = time.monotonic()
        await wait_until(lambda: b.fraction() == 0.0, timeout=2)
        assert a.fraction() == 0.5
        await wait_until(lambda: a.fraction() == 1.0, timeout=3)
        assert time.monotonic() - cut >= FAST["expiry"] - FAST["heartbeat"]


async def test_a_joiners_rate_bucket_starts_empty(store: Store) -> None:
    async with replica(store, "a") as a:
        limiter = RateLimiter(40, a)
        assert limiter.tokens == 0  # the fleet's burst may have been spent by the others
        started = time.monotonic()
        for _ in range(4):
            await limiter.acquire()
        assert time.monotonic() - started >= 3 / 40
