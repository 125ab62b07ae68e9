"""The console's Overview: webhooks, turns and deliveries per minute, bot latency and queue depths, as small
charts, from the metrics the gateway already keeps.

Prometheus counters only say "how many since start", so a sampler reads them every ``interval`` seconds
(and the store's queue depths with them) and keeps the last hour; a chart point is the difference between
two samples, scaled to a minute. The metrics are labelled by channel (not by integration), so the charts
are per channel. The sampler runs while the gateway runs (``web/app.py`` enters :meth:`Sampler.running`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from channelgate.gateway import Gateway
from channelgate.store.operators import Session
from channelgate.web.console.texts import T

if TYPE_CHECKING:
    from channelgate.web.console.app import Console

log = logging.getLogger("channelgate.console")

INTERVAL = 15.0
KEEP = 240  # an hour of 15-second samples
#: The series each channel gets, with the metric behind them.
SERIES = ("webhooks", "turns", "sent", "failed")
PER_MINUTE = T("/min")


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    #: per channel: series name -> running total (latency: seconds summed, and how many)
    totals: dict[str, dict[str, float]]
    depths: dict[str, int] = field(default_factory=dict)


def _sum_by_channel(metric: Any, suffix: str, outcomes: Iterable[str] | None = None) -> dict[str, float]:
    wanted = set(outcomes) if outcomes is not None else None
    out: dict[str, float] = {}
    for family in metric.collect():
        for s in family.samples:
            if not s.name.endswith(suffix):
                continue
            if wanted is not None and s.labels.get("outcome") not in wanted:
                continue
            channel = s.labels.get("channel", "?")
            out[channel] = out.get(channel, 0.0) + float(s.value)
    return out


def read_totals(gateway: Gateway) -> dict[str, dict[str, float]]:
    m = gateway.metrics
    columns = {
        "webhooks": _sum_by_channel(m.webhooks, "_total", ("accepted", "duplicate", "empty")),
        "turns": _sum_by_channel(m.turns, "_total"),
        "sent": _sum_by_channel(m.deliveries, "_total", ("sent", "fallback")),
        "failed": _sum_by_channel(m.deliveries, "_total", ("failed", "dead")),
        "latency_sum": _sum_by_channel(m.bot_latency, "_sum"),
        "latency_count": _sum_by_channel(m.bot_latency, "_count"),
    }
    totals: dict[str, dict[str, float]] = {}
    for column, by_channel in columns.items():
        for channel, value in by_channel.items():
            totals.setdefault(channel, {})[column] = value
    return totals


class Sampler:
    def __init__(self, gateway: Gateway, interval: float = INTERVAL, keep: int = KEEP) -> None:
        self.gateway = gateway
        self.interval = interval
        self.samples: deque[Sample] = deque(maxlen=keep)

    async def sample(self) -> Sample:
        depths: dict[str, int] = {}
        with contextlib.suppress(Exception):  # a store hiccup leaves a gap in the depths, not an error
            depths = await self.gateway.store.depths()
        taken = Sample(time.time(), read_totals(self.gateway), depths)
        self.samples.append(taken)
        return taken

    async def _loop(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:
                log.exception("console overview: sampling failed")
            await asyncio.sleep(self.interval)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._loop(), name="console-overview-sampler")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def charts(self) -> dict[str, Any]:
        """Per channel and series: points per minute between samples, the latest rate and an SVG path;
        the bot's mean latency per interval; and the queue depths over time."""
        samples = list(self.samples)
        channels = sorted({c for s in samples for c in s.totals})
        per_channel: dict[str, dict[str, Any]] = {}
        for channel in channels:
            rows: dict[str, Any] = {}
            for series in SERIES:
                rows[series] = chart(_rates(samples, channel, series))
            rows["latency"] = chart(_latencies(samples, channel), unit="s")
            per_channel[channel] = rows
        depth_names = sorted({k for s in samples for k in s.depths})
        depths = {
            name: chart([(s.at, float(s.depths.get(name, 0))) for s in samples]) for name in depth_names
        }
        return {
            "channels": per_channel,
            "depths": depths,
            "since": samples[0].at if samples else None,
            "interval": self.interval,
        }


def _rates(samples: list[Sample], channel: str, series: str) -> list[tuple[float, float]]:
    points = []
    for before, after in itertools.pairwise(samples):
        elapsed = after.at - before.at
        if elapsed <= 0:
            continue
        delta = after.totals.get(channel, {}).get(series, 0.0) - before.totals.get(channel, {}).get(
            series, 0.0
        )
        points.append((after.at, max(delta, 0.0) * 60.0 / elapsed))
    return points


def _latencies(samples: list[Sample], channel: str) -> list[tuple[float, float]]:
    points = []
    for before, after in itertools.pairwise(samples):
        a, b = after.totals.get(channel, {}), before.totals.get(channel, {})
        count = a.get("latency_count", 0.0) - b.get("latency_count", 0.0)
        if count > 0:
            points.append((after.at, (a.get("latency_sum", 0.0) - b.get("latency_sum", 0.0)) / count))
    return points


WIDTH, HEIGHT = 240.0, 48.0


def chart(points: list[tuple[float, float]], unit: str = PER_MINUTE) -> dict[str, Any]:
    """A sparkline: SVG ``points`` scaled into a WIDTH x HEIGHT box (numbers only), the last and highest
    values for the text next to it."""
    if not points:
        return {"points": "", "last": None, "peak": None, "unit": unit}
    values = [v for _, v in points]
    peak = max(values) or 1.0
    if len(points) == 1:  # one interval so far: a level line across, rather than an invisible dot
        points = [(points[0][0] - 1, values[0]), points[0]]
        values = [values[0], values[0]]
        xs = [0.0, WIDTH]
    else:
        first, last = points[0][0], points[-1][0]
        span = (last - first) or 1.0
        xs = [(t - first) / span * WIDTH for t, _ in points]
    coords = " ".join(
        f"{x:.1f},{HEIGHT - v / peak * (HEIGHT - 4) - 2:.1f}" for x, v in zip(xs, values, strict=True)
    )
    return {"points": coords, "last": values[-1], "peak": max(values), "unit": unit}


class OverviewPages:
    """The overview page and its chart fragment (the page reloads it every 15 seconds)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def overview(self, request: Request, session: Session) -> Response:
        if len(self.console.sampler.samples) < 2:  # the first look right after a start: a point to draw from
            await self.console.sampler.sample()
        return self.console.page(
            request, "overview.html", session, o=self.console.sampler.charts(), poll_ms=15000
        )

    async def charts(self, request: Request, session: Session) -> Response:
        return self.console.page(request, "_overview.html", session, o=self.console.sampler.charts())
