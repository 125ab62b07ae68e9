"""Delivery: durable outbound payloads to the platforms' send APIs.

Many sends are in flight at once (the platforms take 100-300 ms per call), but never two of the same
conversation: the store only hands out the head of each conversation's line, so order is kept. Each
integration has a rate limit and a bound on calls in flight (its lane: lanes.py). Failures are typed by
the channel (channels.base.SendError) and acted on here:

* transient (``Unavailable``: 5xx, network; ``Throttled``): retry with capped exponential backoff, never
  sooner than the platform's hint, for ``pipeline.retry_budget`` seconds counted from the message's
  creation (or its replay); past that it is dead-lettered. Its conversation's later messages wait behind it.
* ``InvalidCredentials``: the integration's deliveries pause (health red) without using tries or budget;
  they resume when the integration is replaced (the admin API, or a restart with a new token in the config
  file) or when the one send tried every ``pipeline.credentials_probe_interval`` seconds goes through (a
  token fixed on the platform's side). pauses.py keeps them.
* ``WindowClosed``: the fallback template when there is one; ``Offline`` (web chat): wait for the user
  without counting a try, and tell ``offline`` (connection_routes.py asks the other replicas whether one
  holds the user's socket: that one takes the line at once with :meth:`Deliverer.take_line`); anything else
  (``Rejected``): failed at once with the platform's reason.

Best-effort actions (typing indicators, read marks) are sent only when they can go at once, with room left
in the rate budget, and are skipped otherwise (``Deliverer._best_effort_skip``): they never make the reply
behind them wait, and are never retried. Those rendered just before a message ride on its row (its
``before``, store/outbox.fold): they are tried, under the same rules, once the reply has its send slot and
rate token, and the reply is sent next whatever became of them (``Deliverer._send_before``); a retry of the
reply tries them again (sent again while under 2 s old, skipped as stale after). An action with no message
after it is a row of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from channelgate.channels.base import (
    Channel,
    InvalidCredentials,
    Offline,
    Outbound,
    SendError,
    Unavailable,
    WindowClosed,
)
from channelgate.config import PipelineSettings
from channelgate.lanes import BEST_EFFORT_MAX_AGE, BEST_EFFORT_RESERVE, Lane, Lanes, RateLimiter, SendWindow
from channelgate.lookup import ChannelLookup
from channelgate.metrics import Metrics
from channelgate.pauses import CredentialPauses
from channelgate.retry import backoff, budget_left
from channelgate.shares import WHOLE, Shares
from channelgate.store import Store
from channelgate.store.handoffs import DESK_KIND
from channelgate.store.rows import DeliveryRow
from channelgate.tasks import stop_task, wait_set

#: the part of a claim kept free after a send, for recording its outcome before the claim ends
CLAIM_MARGIN = 0.2

#: rows one routed line hands over at most (connection_routes.py); the rest take the usual claim
LINE_MAX = 100

#: tells an agent desk one queued thing (a hand-off's ``kind = 'desk'`` row); its message id, or a SendError
DeskSend = Callable[[DeliveryRow], Awaitable[str | None]]

log = logging.getLogger("channelgate.delivery")


def outbound_of(row: DeliveryRow) -> Outbound:
    """The payload an outbox row sends to its platform (a hand-off's desk row is sent through the desk)."""
    kind = row["kind"]
    if kind == DESK_KIND:
        raise ValueError("a desk row is no platform payload")
    return Outbound(
        body=row["body"],
        kind=kind,
        best_effort=row["best_effort"],
        fallback=row["fallback"],
        summary=row["summary"] or "",
    )


def actions_of(row: DeliveryRow) -> list[Outbound]:
    """The best-effort actions riding on an outbox row, sent just before its payload (store/outbox.fold)."""
    return [
        Outbound(body=a["body"], kind=a["kind"], best_effort=True, summary=a["summary"] or "")
        for a in row.get("before") or ()
    ]


class Deliverer:
    """The delivery worker: claims due outbox rows and sends them through their channel.

    It is given what it uses: the store, the pipeline settings, a lookup of the live channels (an
    integration replaced or removed is seen at its next send), the metrics, and what tells a hand-off's
    agent desk its queued rows (``desk``), and this replica's share of the rate limits (``share``)."""

    def __init__(
        self,
        store: Store,
        settings: PipelineSettings,
        *,
        channel: ChannelLookup,
        metrics: Metrics,
        owner: str | None = None,
        batch: int = 256,
        desk: DeskSend | None = None,
        share: Shares = WHOLE,
        offline: Callable[[DeliveryRow], None] | None = None,
    ) -> None:
        self.store = store
        self.desk = desk
        #: told of a row put back because its recipient is not connected here (after the retry committed)
        self.offline = offline
        self.settings = settings
        self.channel = channel
        self.metrics = metrics
        self.owner = owner or uuid.uuid4().hex[:16]
        #: outbox id → the end of the claim this worker holds on it (the fence its send is checked against)
        self._claims: dict[int, float] = {}
        self.batch = batch
        self.lanes = Lanes(share)
        self.pauses = CredentialPauses(
            store.deliveries,
            metrics,
            probe_interval=settings.credentials_probe_interval,
            channel=channel,
            wake=self.wake,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self.run(), name="delivery")

    def forget_lane(self, key: tuple[str, str]) -> None:
        """Drop an integration's rate limiter and send window, so a changed ``rate_limit`` applies."""
        self.lanes.forget(key)

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll (a turn committed, a row was released)."""
        self._wake.set()

    async def run(self) -> None:
        """Claim due payloads and send them until stopped."""
        settings = self.settings
        max_in_flight = self.batch * 2
        try:  # a restart may come with fixed credentials in the config: try what was paused at once
            await self.store.deliveries.resume_paused()
        except Exception:
            log.exception("could not resume paused deliveries; they wait for their next probe")
        while not self._stopping:
            self._wake.clear()
            await self.pauses.resume_replaced()
            rows: list[DeliveryRow] = []
            if len(self._tasks) < max_in_flight:
                try:
                    rows = await self.store.deliveries.claim(
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
                await self.store.deliveries.unclaim([r["id"] for r in rows])
                break
            for row in rows:
                if row["id"] in self._claims:
                    # recovered while its send still waited here, and claimed again by us: the waiting task
                    # keeps it, under the new claim
                    self._claims[row["id"]] = float(row["lease_until"] or 0.0)
                    continue
                self._start(row)
            if rows and len(rows) == self.batch:
                continue
            await wait_set(self._wake, settings.poll_interval)

    async def take_line(self, conversation_id: str) -> int:
        """Send a conversation's queued rows now, head first, due or not: its recipient is connected here
        and a peer found them away. Each row is claimed like any other (the store fences it, so a row is
        never sent twice) and goes through the same send path; a send that fails leaves the row to its
        retry, and ends the hand-over. Returns how many rows were claimed."""
        taken, after = 0, 0
        while not self._stopping and taken < LINE_MAX:
            row = await self.store.deliveries.claim_line(
                conversation_id, self.owner, time.time(), self.settings.lease_seconds, after
            )
            if row is None:
                return taken
            if self._stopping:  # shutdown began while it was claimed: hand it back, as ``run`` does
                await self.store.deliveries.unclaim([row["id"]])
                return taken
            taken, after = taken + 1, int(row["id"])
            await asyncio.wait({self._start(row)})  # one at a time: the line's order is kept
        return taken

    def _start(self, row: DeliveryRow) -> asyncio.Task[None]:
        """Send a row this worker has just claimed, in a task of its own, fenced by that claim."""
        self._claims[row["id"]] = float(row["lease_until"] or 0.0)
        task = asyncio.create_task(self._deliver(row))
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109 - a budget for the drain, not a call's
        """Stop claiming, then let sends in flight finish (up to ``timeout``)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await stop_task(self._loop_task, timeout)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:  # let them unwind (leases, store connections) before the store closes
                await asyncio.wait(pending, timeout=1.0)

    async def _deliver(self, row: DeliveryRow) -> None:
        try:
            await self._deliver_claimed(row)
        finally:
            self._claims.pop(row["id"], None)

    async def _deliver_claimed(self, row: DeliveryRow) -> None:
        channel = self.channel(row["channel"], row["label"])
        attempts = int(row["attempts"]) + 1
        if channel is None:
            await self.store.deliveries.mark_failed(
                row["id"], "integration is no longer configured", attempts
            )
            return
        if row["kind"] == DESK_KIND:
            await self._deliver_desk(channel, row, attempts)
            return
        outbound = outbound_of(row)
        key = (channel.name, channel.ctx.label)
        lane = self.lanes.of(channel)
        if outbound.best_effort:
            skipped = self._best_effort_skip(lane, row, self.pauses.of(channel) is not None)
            if skipped is not None:
                # no try was made: the row is finished so its conversation's line moves on at once
                log.debug("%s/%s: best-effort %s skipped: %s", *key, outbound.summary, skipped)
                await self.store.deliveries.mark_failed(row["id"], f"skipped: {skipped}", attempts - 1)
                self.metrics.best_effort.labels(channel.name, "skipped").inc()
                return
        elif await self.pauses.hold(channel, row, attempts):
            return  # paused: back in the queue until the probe time
        try:
            if not outbound.best_effort:  # a best-effort call already holds its slot and token
                await lane.window.acquire()
            latency: float | None = None
            try:
                if not outbound.best_effort:
                    await lane.limiter.acquire()
                if row.get("before"):
                    await self._send_before(channel, lane, row)
                left = await self._claim_left(row["id"])
                if left is None:
                    log.warning(
                        "%s/%s: outbox %s was taken back before its send: not sent here", *key, row["id"]
                    )
                    return
                started = time.monotonic()
                try:
                    async with asyncio.timeout(left):
                        result = await channel.send(outbound)
                except TimeoutError:
                    raise Unavailable(
                        f"the send took over {left:.1f} s, what was left of its claim"
                    ) from None
                latency = time.monotonic() - started
            finally:
                lane.window.release(latency)
        except SendError as exc:
            await self.pauses.after_failure(channel, exc)
            await self._failed(channel, row, outbound, attempts, exc)
            return
        except Exception as exc:
            log.exception("%s/%s: send raised unexpectedly", channel.name, channel.ctx.label)
            error = Unavailable(f"{type(exc).__name__}: {exc}")
            await self.pauses.after_failure(channel, error)
            await self._failed(channel, row, outbound, attempts, error)
            return
        await self.store.deliveries.mark_sent(row["id"], result.platform_message_id, attempts)
        self.metrics.deliveries.labels(channel.name, "sent").inc()
        if outbound.best_effort:
            self.metrics.best_effort.labels(channel.name, "sent").inc()
        await self.pauses.went_through(channel)

    async def _send_before(self, channel: Channel[Any], lane: Lane, row: DeliveryRow) -> None:
        """Send the best-effort actions riding on ``row`` (its ``before``), in order, just before it: each
        under the rules of an action row of its own (``_best_effort_skip``, counted from the row's creation),
        within the row's claim. Whatever becomes of them (sent, skipped, failed) is counted and logged, and
        never the reply's concern: it is sent next. The caller holds the reply's send slot and rate token."""
        paused = self.pauses.of(channel) is not None
        for action in actions_of(row):
            outcome = await self._send_action(channel, lane, row, action, paused)
            self.metrics.best_effort.labels(channel.name, outcome).inc()

    async def _send_action(
        self, channel: Channel[Any], lane: Lane, row: DeliveryRow, action: Outbound, paused: bool
    ) -> str:
        """One action riding on ``row``: ``sent``, ``skipped`` or ``failed`` (logged at debug)."""
        where = f"{channel.name}/{channel.ctx.label}"
        skipped = self._best_effort_skip(lane, row, paused)
        if skipped is not None:
            log.debug("%s: best-effort %s skipped: %s", where, action.summary, skipped)
            return "skipped"
        latency: float | None = None
        try:  # it holds a send slot and a rate token of its own (taken by _best_effort_skip)
            left = await self._claim_left(row["id"])
            if left is None:
                return "skipped"  # the claim is lost: the reply will not be sent here either
            started = time.monotonic()
            async with asyncio.timeout(left):
                await channel.send(action)
            latency = time.monotonic() - started
        except (SendError, TimeoutError) as exc:
            reason = exc.reason if isinstance(exc, SendError) else f"the send took over {left:.1f} s"
            log.debug("%s: best-effort %s failed: %s", where, action.summary, reason)
            return "failed"
        except Exception:
            log.exception("%s: best-effort %s: send raised unexpectedly", where, action.summary)
            return "failed"
        finally:
            lane.window.release(latency)
        return "sent"

    async def _claim_left(self, outbox_id: int) -> float | None:
        """Seconds the send may take within this worker's claim on the row, or None when the claim is lost.

        Waiting for a send slot and a rate token can outlast the claim (a backlog behind a rate limit, a
        loaded machine); the recovery loop then puts the row back and another claim sends it. So a send
        never starts on a claim with under half a lease left: the claim is renewed first, fenced by the
        lease it was taken with, and a lost one is not sent. The send itself ends before the claim does,
        with a margin for the commit that follows it."""
        lease = self.settings.lease_seconds
        margin = lease * CLAIM_MARGIN
        claimed_until = self._claims[outbox_id]
        now = time.time()
        if claimed_until - now - margin >= lease / 2:
            return claimed_until - now - margin
        until = now + lease
        if not await self.store.deliveries.renew_claim(outbox_id, self.owner, claimed_until, until):
            return None
        self._claims[outbox_id] = until
        return until - now - margin

    async def _deliver_desk(self, channel: Channel[Any], row: DeliveryRow, attempts: int) -> None:
        """A row for a hand-off's agent desk (Chatwoot): sent through the desk, not the channel, without
        the channel's rate lane or credentials pause (the desk's refusal is not the platform's). Failures
        are retried within the retry budget like a platform send; the desk's line is its own, so a desk that
        is down holds back only what goes to the desk."""
        outbound = Outbound(body=row["body"], summary=row["summary"] or "")
        try:
            if self.desk is None:
                raise Unavailable("no hand-off desk is running")
            result = await self.desk(row)
        except SendError as exc:
            error = Unavailable(exc.reason) if isinstance(exc, InvalidCredentials) else exc
            await self._failed(channel, row, outbound, attempts, error)
            return
        except Exception as exc:
            log.exception("%s/%s: the hand-off desk raised unexpectedly", channel.name, channel.ctx.label)
            await self._failed(channel, row, outbound, attempts, Unavailable(f"{type(exc).__name__}: {exc}"))
            return
        await self.store.deliveries.mark_sent(row["id"], result, attempts)
        self.metrics.deliveries.labels("desk", "sent").inc()

    @staticmethod
    def _best_effort_skip(lane: Lane, row: DeliveryRow, paused: bool) -> str | None:
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

    async def _failed(
        self, channel: Channel[Any], row: DeliveryRow, outbound: Outbound, attempts: int, exc: SendError
    ) -> None:
        settings = self.settings
        where = f"{channel.name}/{channel.ctx.label} conversation {row['conversation_id']}"
        if isinstance(exc, WindowClosed) and outbound.fallback is not None:
            log.info("%s: %s; sending the fallback template", where, exc.reason)
            self.metrics.deliveries.labels(channel.name, "fallback").inc()
            await self.store.deliveries.use_fallback(
                row["id"], outbound.fallback, f"window closed, fallback sent: {exc.reason}"
            )
            return
        if outbound.best_effort and not isinstance(exc, Offline):
            # a typing indicator or a receipt is not worth keeping for later
            log.debug("%s: best-effort %s failed: %s", where, outbound.summary, exc.reason)
            self.metrics.best_effort.labels(channel.name, "failed").inc()
            await self.store.deliveries.mark_failed(row["id"], exc.reason, attempts)
            return
        if isinstance(exc, InvalidCredentials):
            await self.pauses.pause(channel, row, attempts, exc)
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
                self.metrics.deliveries.labels(channel.name, "retry").inc()
            await self.store.deliveries.mark_retry(
                row["id"], row["conversation_id"], counted, now + delay, exc.reason, row["retry_since"]
            )
            if isinstance(exc, Offline) and self.offline is not None:
                self.offline(row)
            return
        dead = exc.retryable
        if dead:
            reason = f"{exc.reason} (still failing after the retry budget of {settings.retry_budget:g}s)"
            log.error("%s: message dead-lettered: %s", where, reason)
        else:
            reason = exc.reason
            log.error("%s: message refused: %s", where, reason)
        self.metrics.deliveries.labels(channel.name, "dead" if dead else "failed").inc()
        await self.store.deliveries.mark_failed(row["id"], reason, attempts, dead=dead)


__all__ = [
    "BEST_EFFORT_MAX_AGE",
    "BEST_EFFORT_RESERVE",
    "Deliverer",
    "RateLimiter",
    "SendWindow",
    "actions_of",
    "outbound_of",
]
