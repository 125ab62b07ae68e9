"""The overview's arithmetic: per-minute rates from counter samples, mean latency per interval, sparklines."""

from __future__ import annotations

from typing import Any

from channelgate.web.console.overview import Sample, Sampler, chart


def sampler_with(*samples: Sample) -> Sampler:
    sampler = Sampler(gateway=None)  # type: ignore[arg-type]  # charts() reads only the samples
    sampler.samples.extend(samples)
    return sampler


def test_rates_are_per_minute_between_samples_and_never_negative() -> None:
    charts: dict[str, Any] = sampler_with(
        Sample(
            0.0,
            {"messenger": {"webhooks": 10, "latency_sum": 1.0, "latency_count": 10}},
            {"outbox_queued": 3},
        ),
        Sample(
            15.0,
            {"messenger": {"webhooks": 40, "latency_sum": 4.0, "latency_count": 20}},
            {"outbox_queued": 1},
        ),
        Sample(30.0, {"messenger": {"webhooks": 5}}, {"outbox_queued": 0}),  # a counter reset (restart)
    ).charts()
    webhooks = charts["channels"]["messenger"]["webhooks"]
    assert webhooks["last"] == 0.0 and webhooks["peak"] == 120.0  # 30 in 15 s = 120/min
    latency = charts["channels"]["messenger"]["latency"]
    assert latency["last"] == 0.3  # (4.0 - 1.0) s over 10 turns
    assert charts["depths"]["outbox_queued"]["last"] == 0.0
    assert charts["since"] == 0.0


def test_a_sparkline_fits_its_box() -> None:
    line = chart([(0.0, 0.0), (10.0, 5.0), (20.0, 10.0)])
    coords = [tuple(map(float, p.split(","))) for p in line["points"].split()]
    assert coords[0] == (0.0, 46.0) and coords[-1] == (240.0, 2.0)
    assert chart([])["points"] == "" and chart([])["last"] is None
    assert chart([(5.0, 3.0)])["points"] == "0.0,2.0 240.0,2.0"  # one interval: a level line
