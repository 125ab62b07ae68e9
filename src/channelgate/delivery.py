"""Delivery: durable outbound payloads to the platforms' send APIs.

Many sends are in flight at once (the platforms take 100-300 ms per call), but never two of the same
conversation: the store only hands out the head of each conversation's line, so order is kept. Each
integration has a rate limit and a bound on calls in flight. Failures are typed by the channel
(channels.base.SendError) and acted on here:

* transient (``Unavailable``: 5xx, network; ``Throttled``): retry with capped exponential backoff, never
  sooner than the platform's hint, for ``pipeline.retry_budget`` seconds counted from the message's
  creation (or its replay); past that it is dead-lettered. Its conversation's later messages wait behind it.
* ``InvalidCredentials``: the integration's deliveries pause (health red) without using tries or budget;
  they resume when the integration is replaced (the admin API, or a restart with a new token in the config
  file) or when the one send tried every ``pipeline.credentials_probe_interval`` seconds goes through (a
  token fixed on the platform's side).
* ``WindowClosed``: the fallback template when there is one; ``Offline`` (web chat): wait for the user
  without counting a try; anything else (``Rejected``): failed at once with the platform's reason.

Best-effort actions (typing indicators, read marks) are sent only when they can go at once, with room left
in the rate budget, and are skipped otherwise (``Deliverer._best_effort_skip``): they never make the reply
behind them wait, and are never retried.
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

from channelgate.channels.base import (
    Channel,
    InvalidCredentials,
    Offline,
    Outbound,
    SendError,
    Unavailable,
    WindowClosed,
)
from channelgate.retry import backoff, budget_left
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

    def try_acquire(self, reserve: float) -> bool:
        """Take a token only if ``reserve`` of the bucket's capacity (a fraction) is still left after it,
        or the bucket is full (a small bucket has no room for a reserve; full, it is idle); never waits.
        For best-effort calls: they spend what real messages leave over, and the reserve keeps a burst's
        worth of tokens for the replies that may arrive next."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < min(self.capacity, 1 + self.capacity * reserve):
            return False
        self.tokens -= 1
        return True


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
                self._woken += 1
                free -= 1


#: a best-effort call (typing indicator, read mark) only takes a rate token when at least this fraction of
#: the bucket (half a second's worth of sends) is left after it: real messages keep a burst's reserve
BEST_EFFORT_RESERVE = 0.5
#: seconds after which a best-effort call is skipped: a typing indicator for a reply that was held up
#: this long shows nothing true
BEST_EFFORT_MAX_AGE = 2.0


@dataclass
class _Lane:
    """Per-integration limits."""

    limiter: RateLimiter
    window: SendWindow


#: what health says while an integration's deliveries are paused
PAUSED_NOTE = (
    "; deliveries are paused: they resume when the integration is replaced (admin API, or a restart with a "
    "new token in the config file) or when the send tried every "
)


@dataclass
class _Pause:
    """An integration whose credentials the platform refused: its deliveries wait, one probe at a time.

    Kept per Channel instance: the gateway makes a new one when the integration is replaced (admin API),
    and that is the sign the credentials may have been fixed. A restart resumes what was paused
    (``Store.resume_paused``): the config file may hold a new token."""

    channel: Channel[Any]
    reason: str
    probe_at: float  # wall clock: when the next probe may go
    probing: bool = False


@dataclass
class Deliverer:
    gateway: Gateway
    owner: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    batch: int = 256
    _lanes: dict[tuple[str, str], _Lane] = field(default_factory=dict)
    _paused: dict[tuple[str, str], _Pause] = field(default_factory=dict)
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
            rate = channel.send_rate
            lane = _Lane(RateLimiter(float(rate)), SendWindow(channel.limits.send_concurrency, float(rate)))
            self._lanes[key] = lane
        return lane

    async def run(self) -> None:
        """Claim due payloads and send them until stopped."""
        settings = self.gateway.settings.pipeline
        max_in_flight = self.batch * 2
        try:  # a restart may come with fixed credentials in the config: try what was paused at once
            await self.gateway.store.resume_paused()
        except Exception:
            log.exception("could not resume paused deliveries; they wait for their next probe")
        while not self._stopping:
            self._wake.clear()
            await self._resume_replaced()
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
            if pending:  # let them unwind (leases, store connections) before the store closes
                await asyncio.wait(pending, timeout=1.0)

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
        key = (channel.name, channel.ctx.label)
        pause = self._paused.get(key)
        lane = self._lane(channel)
        if outbound.best_effort:
            paused = pause is not None and pause.channel is channel
            skipped = self._best_effort_skip(lane, row, paused)
            if skipped is not None:
                # no try was made: the row is finished so its conversation's line moves on at once
                log.debug("%s/%s: best-effort %s skipped: %s", *key, outbound.summary, skipped)
                await gw.store.mark_failed(row["id"], f"skipped: {skipped}", attempts - 1)
                gw.metrics.best_effort.labels(channel.name, "skipped").inc()
                return
        elif pause is not None and pause.channel is channel:
            if pause.probing or time.time() < pause.probe_at:
                # paused: back in the queue until the probe time, no try and no budget used
                await gw.store.mark_retry(
                    row["id"],
                    row["conversation_id"],
                    attempts - 1,
                    pause.probe_at,
                    pause.reason,
                    row["retry_since"],
                )
                return
            # this send is the probe; the rest wait for the next one (or for its success)
            pause.probing = True
            pause.probe_at = time.time() + gw.settings.pipeline.credentials_probe_interval
        try:
            if not outbound.best_effort:  # a best-effort call already holds its slot and token
                await lane.window.acquire()
            latency: float | None = None
            try:
                if not outbound.best_effort:
                    await lane.limiter.acquire()
                started = time.monotonic()
                result = await channel.send(outbound)
                latency = time.monotonic() - started
            finally:
                lane.window.release(latency)
        except SendError as exc:
            await self._after_probe(key, channel, exc)
            await self._failed(channel, row, outbound, attempts, exc)
            return
        except Exception as exc:
            log.exception("%s/%s: send raised unexpectedly", channel.name, channel.ctx.label)
            error = Unavailable(f"{type(exc).__name__}: {exc}")
            await self._after_probe(key, channel, error)
            await self._failed(channel, row, outbound, attempts, error)
            return
        await gw.store.mark_sent(row["id"], result.platform_message_id, attempts)
        gw.metrics.deliveries.labels(channel.name, "sent").inc()
        if outbound.best_effort:
            gw.metrics.best_effort.labels(channel.name, "sent").inc()
        if key in self._paused and self._paused[key].channel is channel:
            log.warning("%s/%s: a send went through again; deliveries resume", *key)
            channel.ctx.health.ok()
            await self._resume(key)

    @staticmethod
    def _best_effort_skip(lane: _Lane, row: Row, paused: bool) -> str | None:
        """Why a typing indicator or read mark at the head of its line is not sent now (None: it is sent,
        and it took its send slot and rate token here). It never waits: the real message behind it (the
        channels render these actions just before a reply) would wait with it. It is sent only when it can
        go at once, so it costs its conversation one round trip at most, and it is dropped first when the
        integration is busy: no free send slot, or less than ``BEST_EFFORT_RESERVE`` of the rate budget
        left. An action older than ``BEST_EFFORT_MAX_AGE`` shows the user nothing true any more (the reply
        it announced was held up), and a paused integration's sends fail anyway (an action is never the
        probe)."""
        if paused:
            return "deliveries paused"
        age = time.time() - float(row["created_at"])
        if age > BEST_EFFORT_MAX_AGE:
            return f"stale ({age:.1f}s old)"
        if not lane.window.try_acquire():
            return "rate budget (no free send slot)"
        if not lane.limiter.try_acquire(BEST_EFFORT_RESERVE):
            lane.window.release(None)
            return "rate budget"
        return None

    async def _after_probe(self, key: tuple[str, str], channel: Channel[Any], exc: SendError) -> None:
        """A send of a paused integration failed. Refused credentials: ``_pause`` schedules the next probe.
        Another refusal of the message itself (a 4xx, a closed window) means the platform took the
        credentials: resume. A transient failure says nothing about them: probe again later."""
        pause = self._paused.get(key)
        if pause is None or pause.channel is not channel or isinstance(exc, InvalidCredentials):
            return
        if exc.retryable:
            pause.probing = False
            pause.probe_at = time.time() + self.gateway.settings.pipeline.credentials_probe_interval
            return
        log.warning("%s/%s: the platform took the credentials again; deliveries resume", *key)
        channel.ctx.health.ok()
        await self._resume(key)

    async def _resume_replaced(self) -> None:
        """Resume the paused integrations that were replaced (admin API) or removed."""
        for key, pause in list(self._paused.items()):
            if self.gateway.channel(*key) is not pause.channel:
                log.info("%s/%s: the integration was replaced; its deliveries resume", *key)
                try:
                    await self._resume(key)
                except Exception:
                    log.exception("%s/%s: could not resume deliveries; trying again", *key)

    async def _resume(self, key: tuple[str, str]) -> None:
        await self.gateway.store.resume_deliveries(*key)
        self._paused.pop(key, None)
        self._wake.set()

    async def _pause(self, channel: Channel[Any], row: Row, attempts: int, exc: SendError) -> None:
        """Credentials refused: pause the integration's deliveries; this row waits for the next probe."""
        gw = self.gateway
        key = (channel.name, channel.ctx.label)
        interval = gw.settings.pipeline.credentials_probe_interval
        probe_at = time.time() + interval
        pause = self._paused.get(key)
        if pause is None or pause.channel is not channel:
            log.error(
                "%s/%s: the platform refused the credentials (%s); deliveries pause until the integration is "
                "replaced or a send tried every %gs goes through",
                *key,
                exc.reason,
                interval,
            )
            pause = self._paused[key] = _Pause(
                channel, f"paused: credentials refused: {exc.reason}", probe_at
            )
        pause.probe_at, pause.probing = probe_at, False
        # the channel's own message names the field to fix; it is set again on each refusal, ours is added
        message = channel.ctx.health.message if channel.ctx.health.status == "failing" else exc.reason
        message = message.split(PAUSED_NOTE)[0]
        channel.ctx.health.fail(f"{message}{PAUSED_NOTE}{interval:g}s goes through")
        gw.metrics.deliveries.labels(channel.name, "paused").inc()
        await gw.store.mark_retry(
            row["id"], row["conversation_id"], attempts - 1, probe_at, pause.reason, row["retry_since"]
        )

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
        if outbound.best_effort and not isinstance(exc, Offline):
            # a typing indicator or a receipt is not worth keeping for later
            log.debug("%s: best-effort %s failed: %s", where, outbound.summary, exc.reason)
            gw.metrics.best_effort.labels(channel.name, "failed").inc()
            await gw.store.mark_failed(row["id"], exc.reason, attempts)
            return
        if isinstance(exc, InvalidCredentials):
            await self._pause(channel, row, attempts, exc)
            return
        now = time.time()
        since = row["retry_since"] if row["retry_since"] is not None else row["created_at"]
        left = budget_left(since, now, settings.retry_budget)
        if exc.retryable and left > 0:
            counted = attempts - 1 if isinstance(exc, Offline) else attempts  # waiting for a user is no try
            delay = min(backoff(max(counted, 1), settings.max_backoff, exc.retry_after), left)
            if not isinstance(exc, Offline):
                log.warning(
                    "%s: send failed (%s); try %d in %.1fs (%.0fs of the retry budget left)",
                    where,
                    exc.reason,
                    attempts + 1,
                    delay,
                    left,
                )
                gw.metrics.deliveries.labels(channel.name, "retry").inc()
            await gw.store.mark_retry(
                row["id"], row["conversation_id"], counted, now + delay, exc.reason, row["retry_since"]
            )
            return
        dead = exc.retryable
        if dead:
            reason = f"{exc.reason} (still failing after the retry budget of {settings.retry_budget:g}s)"
            log.error("%s: message dead-lettered: %s", where, reason)
        else:
            reason = exc.reason
            log.error("%s: message refused: %s", where, reason)
        gw.metrics.deliveries.labels(channel.name, "dead" if dead else "failed").inc()
        await gw.store.mark_failed(row["id"], reason, attempts, dead=dead)
