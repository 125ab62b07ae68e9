"""Per-integration send limits: a rate limiter and a window of sends in flight, one lane per integration.

The delivery worker takes a slot and a token before each send; best-effort calls (typing indicators, read
marks) take them only when they are free at once. A lane is made on an integration's first send and dropped
when the integration is replaced, so a changed ``rate_limit`` applies from then on. With several replicas
each uses its share of the rate (shares.py), so that the fleet as a whole keeps to it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from channelgate.channels.base import Channel
from channelgate.shares import WHOLE, Shares


class RateLimiter:
    """A token bucket: ``rate`` sends per second with bursts of up to one second's worth, of which this
    replica uses its ``share`` (shares.py): ``rate * share`` per second, a burst of that (at least one).

    Alone (the whole share) the bucket starts full. In a fleet it starts empty, and empties again whenever
    the replica is (re)admitted (the share's ``epoch``): the fleet's tokens may have been spent by the
    others, and a fresh full bucket would add a burst the platform never allowed."""

    #: how long a replica without a share waits before looking again (seconds)
    idle_wait = 0.1

    def __init__(self, rate: float, share: Shares = WHOLE) -> None:
        self.rate = rate
        self.share = share
        self.capacity = max(rate, 1.0)
        self._epoch = share.epoch
        self.tokens = self.capacity if share.epoch == 0 else 0.0
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self, now: float) -> float:
        """Add the tokens earned since the last call at this replica's share; the rate now (0: the
        replica may not send)."""
        fraction = self.share.fraction()
        epoch = self.share.epoch
        if epoch != self._epoch:
            self._epoch = epoch
            self.tokens = 0.0
        rate = self.rate * fraction
        if rate > 0:
            self.capacity = max(rate, 1.0)
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * rate)
        self.updated = now
        return rate

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                rate = self._refill(time.monotonic())
                if rate > 0 and self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / rate if rate > 0 else self.idle_wait)

    def try_acquire(self, reserve: float) -> bool:
        """Take a token only if ``reserve`` of the bucket's capacity (a fraction) is still left after it,
        or the bucket is full (a small bucket has no room for a reserve; full, it is idle); never waits.
        For best-effort calls: they spend what real messages leave over, and the reserve keeps a burst's
        worth of tokens for the replies that may arrive next."""
        if self._refill(time.monotonic()) <= 0:
            return False
        if self.tokens < min(self.capacity, 1 + self.capacity * reserve):
            return False
        self.tokens -= 1
        return True


class RecentMinimum:
    """The lowest value seen in the last one to two ``span``\\ s (two buckets of ``span`` seconds; the send
    window uses half-second spans).

    A platform's latency floor, learned again quickly when it changes: a minimum kept for ever (or one that
    drifts up slowly) stays at what a fast platform answered long after it became slow. That held the send
    window at 4 for a minute and more when the bench's platform went from 1 ms to 150 ms: 25 sends a second
    where 1,000 were allowed (docs/benchmarks.md, "Fourth round")."""

    def __init__(self, span: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.span = span
        self.clock = clock
        self._started = clock()
        self._current = math.inf
        self._previous = math.inf

    def add(self, value: float) -> None:
        now = self.clock()
        elapsed = now - self._started
        if elapsed >= self.span:
            # the bucket just ended becomes the previous one, unless a whole span passed with nothing in it
            self._previous = self._current if elapsed < 2 * self.span else math.inf
            self._current = math.inf
            self._started = now
        self._current = min(self._current, value)

    @property
    def value(self) -> float:
        """The minimum (``inf`` before any value, or after two spans without one)."""
        return min(self._previous, self._current)


class SendWindow:
    """How many sends of one integration are in flight: sized by Little's law, up to the channel's
    ``send_concurrency``.

    Why not a fixed semaphore at the maximum: every connection httpx keeps open costs CPU on every request
    (its pool scans all of them, polling each idle socket), so when the platform answers in a millisecond a
    wide window only burns the event loop (measured: 115 → 288 replies/s with 4 sends in flight instead of
    32; docs/benchmarks.md). When the platform takes 150 ms a send, the window must be wide to reach the
    rate limit. So the window is ``rate * latency * 1.5``, with the platform's latency taken as the lowest
    seen in the last half second to second (:class:`RecentMinimum`): what the platform costs, not what our own
    busy event loop adds under load (that part more sends in flight would not shorten)."""

    minimum = 4
    headroom = 1.5
    #: seconds of sends over which the lowest latency is taken
    latency_span = 0.5

    def __init__(self, maximum: int, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = max(maximum, 1)
        self.rate = rate
        self.limit = min(self.minimum, self.maximum)
        self.in_flight = 0
        self.latency = RecentMinimum(self.latency_span, clock)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._woken = 0  # waiters given a freed slot that have not run yet (try_acquire leaves it to them)

    async def acquire(self) -> None:
        while self.in_flight >= max(self.limit, 1):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._woken -= 1
                    self._wake()  # pass the slot we were given on
                raise
            self._woken -= 1
        self.in_flight += 1

    def try_acquire(self) -> bool:
        """Take a slot only if one is free now and no send waits for one (best-effort calls never queue)."""
        if self._waiters or self._woken or self.in_flight >= max(self.limit, 1):
            return False
        self.in_flight += 1
        return True

    def release(self, latency: float | None) -> None:
        """A send finished after ``latency`` seconds (None: it failed before the platform answered)."""
        self.in_flight -= 1
        if latency is not None and latency > 0:
            self.latency.add(latency)
            wanted = math.ceil(self.latency.value * self.rate * self.headroom)
            self.limit = min(self.maximum, max(self.minimum, wanted))
        self._wake()

    def _wake(self) -> None:
        free = max(self.limit, 1) - self.in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._woken += 1
                free -= 1


#: a best-effort call (typing indicator, read mark) only takes a rate token when at least this fraction of
#: the bucket (half a second's worth of sends) is left after it: real messages keep a burst's reserve
BEST_EFFORT_RESERVE = 0.5
#: seconds after which a best-effort call is skipped: a typing indicator for a reply that was held up
#: this long shows nothing true
BEST_EFFORT_MAX_AGE = 2.0


@dataclass
class Lane:
    """Per-integration limits."""

    limiter: RateLimiter
    window: SendWindow


class Lanes:
    """The lanes of the integrations that sent since they were (re)started, by ``(channel, label)``; their
    rate limiters use this replica's ``share`` of each limit (shares.py)."""

    def __init__(self, share: Shares = WHOLE) -> None:
        self.share = share
        self._lanes: dict[tuple[str, str], Lane] = {}

    def of(self, channel: Channel[Any]) -> Lane:
        """The channel's lane, made with its ``rate_limit`` (else its platform's rate) on first use."""
        key = (channel.name, channel.ctx.label)
        lane = self._lanes.get(key)
        if lane is None:
            rate = channel.send_rate
            lane = Lane(
                RateLimiter(float(rate), self.share), SendWindow(channel.limits.send_concurrency, float(rate))
            )
            self._lanes[key] = lane
        return lane

    def forget(self, key: tuple[str, str]) -> None:
        """Drop an integration's lane, so a changed ``rate_limit`` applies from its next send."""
        self._lanes.pop(key, None)


__all__ = [
    "BEST_EFFORT_MAX_AGE",
    "BEST_EFFORT_RESERVE",
    "Lane",
    "Lanes",
    "RateLimiter",
    "RecentMinimum",
    "SendWindow",
]
