"""Delivery: durable outbound payloads to the platforms' send APIs.

Many sends are in flight at once (the platforms take 100-300 ms per call), but never two of the same
conversation: the store only hands out the head of each conversation's line, so order is kept. Each
integration has a rate limit and a bound on calls in flight. Failures are typed by the channel
(channels.base.SendError) and acted on here: retry with backoff honouring the platform's hint, use the
fallback when a window has closed, fail with the reason, or dead-letter after the last try.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from channelgate.channels.base import Channel, Offline, Outbound, SendError, Unavailable, WindowClosed
from channelgate.pipeline import backoff
from channelgate.store.statements import Row

if TYPE_CHECKING:
    from channelgate.gateway import Gateway

log = logging.getLogger("channelgate.delivery")


class RateLimiter:
    """A token bucket: ``rate`` sends per second with bursts of up to one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


class SendWindow:
    """How many sends of one integration are in flight: sized by Little's law, up to the channel's
    ``send_concurrency``.

    Why not a fixed semaphore at the maximum: every connection httpx keeps open costs CPU on every request
    (its pool scans all of them, polling each idle socket), so when the platform answers in a millisecond a
    wide window only burns the event loop (measured: 115 → 288 replies/s with 4 sends in flight instead of
    32; docs/benchmarks.md). When the platform takes 150 ms a send, the window must be wide to reach the
    rate limit. So the window is ``rate * latency * 1.5``, with the platform's latency taken as the lowest
    seen recently: what the platform costs, not what our own busy event loop adds under load (that part
    more sends in flight would not shorten)."""

    minimum = 4
    headroom = 1.5

    def __init__(self, maximum: int, rate: float) -> None:
        self.maximum = max(maximum, 1)
        self.rate = rate
        self.limit = min(self.minimum, self.maximum)
        self.in_flight = 0
        self.min_latency = float("inf")
        self._waiters: deque[asyncio.Future[None]] = deque()

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
                    self._wake()  # pass the slot we were given on
                raise
        self.in_flight += 1

    def release(self, latency: float | None) -> None:
        """A send finished after ``latency`` seconds (None: it failed before the platform answered)."""
        self.in_flight -= 1
        if latency is not None and latency > 0:
            # the lowest latency drifts up slowly, so a platform that became slower is learned again
            self.min_latency = min(latency, self.min_latency * 1.002)
            wanted = math.ceil(self.min_latency * self.rate * self.headroom)
            self.limit = min(self.maximum, max(self.minimum, wanted))
        self._wake()

    def _wake(self) -> None:
        free = max(self.limit, 1) - self.in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


@dataclass
class _Lane:
    """Per-integration limits."""

    limiter: RateLimiter
    window: SendWindow


@dataclass
class Deliverer:
    gateway: Gateway
    owner: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    batch: int = 256
    _lanes: dict[tuple[str, str], _Lane] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False
    _loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self.run(), name="delivery")

    def forget_lane(self, key: tuple[str, str]) -> None:
        """Drop an integration's rate limiter and send window, so a changed ``rate_limit`` applies."""
        self._lanes.pop(key, None)

    def wake(self) -> None:
        self._wake.set()

    def _lane(self, channel: Channel[Any]) -> _Lane:
        key = (channel.name, channel.ctx.label)
        lane = self._lanes.get(key)
        if lane is None:
            rate = getattr(channel.config, "rate_limit", None) or channel.limits.send_rate
            lane = _Lane(RateLimiter(float(rate)), SendWindow(channel.limits.send_concurrency, float(rate)))
            self._lanes[key] = lane
        return lane

    async def run(self) -> None:
        """Claim due payloads and send them until stopped."""
        settings = self.gateway.settings.pipeline
        max_in_flight = self.batch * 2
        while not self._stopping:
            self._wake.clear()
            rows: list[Row] = []
            if len(self._tasks) < max_in_flight:
                try:
                    rows = await self.gateway.store.claim_deliveries(
                        self.owner,
                        time.time(),
                        min(self.batch, max_in_flight - len(self._tasks)),
                        settings.lease_seconds,
                    )
                except Exception:
                    log.exception("could not read the outbox; trying again")
                    await asyncio.sleep(settings.poll_interval)
                    continue
            if self._stopping and rows:
                # claimed while shutdown began: hand them back rather than send on a closing client
                await self.gateway.store.unclaim([r["id"] for r in rows])
                break
            for row in rows:
                task = asyncio.create_task(self._deliver(row))
                self._tasks.add(task)
                task.add_done_callback(self._done)
            if rows and len(rows) == self.batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=settings.poll_interval)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109 - a budget for the drain, not a call's
        """Stop claiming, then let sends in flight finish (up to ``timeout``)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(self._loop_task, timeout)
            except (TimeoutError, asyncio.CancelledError):
                self._loop_task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()

    async def _deliver(self, row: Row) -> None:
        gw = self.gateway
        channel = gw.channel(row["channel"], row["label"])
        attempts = int(row["attempts"]) + 1
        if channel is None:
            await gw.store.mark_failed(row["id"], "integration is no longer configured", attempts)
            return
        outbound = Outbound(
            body=row["body"],
            kind=row["kind"],
            best_effort=row["best_effort"],
            fallback=row["fallback"],
            summary=row["summary"] or "",
        )
        lane = self._lane(channel)
        try:
            await lane.window.acquire()
            latency: float | None = None
            try:
                await lane.limiter.acquire()
                started = time.monotonic()
                result = await channel.send(outbound)
                latency = time.monotonic() - started
            finally:
                lane.window.release(latency)
        except SendError as exc:
            await self._failed(channel, row, outbound, attempts, exc)
            return
        except Exception as exc:
            log.exception("%s/%s: send raised unexpectedly", channel.name, channel.ctx.label)
            await self._failed(channel, row, outbound, attempts, Unavailable(f"{type(exc).__name__}: {exc}"))
            return
        await gw.store.mark_sent(row["id"], result.platform_message_id, attempts)
        gw.metrics.deliveries.labels(channel.name, "sent").inc()

    async def _failed(
        self, channel: Channel[Any], row: Row, outbound: Outbound, attempts: int, exc: SendError
    ) -> None:
        gw = self.gateway
        settings = gw.settings.pipeline
        where = f"{channel.name}/{channel.ctx.label} conversation {row['conversation_id']}"
        if isinstance(exc, WindowClosed) and outbound.fallback is not None:
            log.info("%s: %s; sending the fallback template", where, exc.reason)
            gw.metrics.deliveries.labels(channel.name, "fallback").inc()
            await gw.store.use_fallback(
                row["id"], outbound.fallback, f"window closed, fallback sent: {exc.reason}"
            )
            return
        if isinstance(exc, Offline):
            # not a failure of ours or the platform's: wait for the user, without counting a try
            await gw.store.mark_retry(row["id"], attempts - 1, time.time() + settings.max_backoff, exc.reason)
            return
        if outbound.best_effort:
            log.debug("%s: best-effort %s failed: %s", where, outbound.summary, exc.reason)
            await gw.store.mark_failed(row["id"], exc.reason, attempts)
            return
        if exc.retryable and attempts < settings.send_attempts:
            delay = backoff(attempts, settings.max_backoff, exc.retry_after)
            log.warning(
                "%s: send failed (%s); try %d of %d in %.1fs",
                where,
                exc.reason,
                attempts,
                settings.send_attempts,
                delay,
            )
            gw.metrics.deliveries.labels(channel.name, "retry").inc()
            await gw.store.mark_retry(row["id"], attempts, time.time() + delay, exc.reason)
            return
        dead = exc.retryable
        log.error(
            "%s: message %s: %s", where, "dead-lettered after the last try" if dead else "failed", exc.reason
        )
        gw.metrics.deliveries.labels(channel.name, "dead" if dead else "failed").inc()
        await gw.store.mark_failed(row["id"], exc.reason, attempts, dead=dead)
