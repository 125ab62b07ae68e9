"""The send window learns the platform's latency floor again when the platform changes speed."""

from __future__ import annotations

import math

from channelgate.lanes import RecentMinimum, SendWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_recent_minimum_forgets_a_fast_past_within_two_spans() -> None:
    clock = Clock()
    floor = RecentMinimum(1.0, clock)
    assert floor.value == math.inf
    floor.add(0.001)
    clock.now += 1.2
    floor.add(0.150)
    assert floor.value == 0.001  # the previous span still counts
    clock.now += 1.2
    floor.add(0.160)
    assert floor.value == 0.150
    clock.now += 5.0  # a long silence: nothing from before it counts
    floor.add(0.200)
    assert floor.value == 0.200


def test_a_platform_that_became_slow_widens_the_window_to_its_rate_within_seconds() -> None:
    """Measured before the fix: after a warm-up at 1 ms, the window stayed at 4 sends for over a minute once
    the platform took 150 ms (25 sends a second where 1,000 were allowed)."""
    clock = Clock()
    window = SendWindow(maximum=256, rate=1000.0, clock=clock)
    for _ in range(100):
        window.in_flight += 1
        window.release(0.001)
        clock.now += 0.001
    assert window.limit == 4
    for _ in range(30):  # three seconds of sends at 150 ms, four at a time
        window.in_flight += 1
        window.release(0.150)
        clock.now += 0.1
    assert window.limit == math.ceil(0.150 * 1000 * 1.5)


def test_the_window_keeps_the_floor_not_the_latency_a_busy_loop_adds() -> None:
    clock = Clock()
    window = SendWindow(maximum=256, rate=100.0, clock=clock)
    for latency in (0.150, 0.400, 0.900, 0.150, 0.700):
        window.in_flight += 1
        window.release(latency)
        clock.now += 0.1
    assert window.limit == math.ceil(0.150 * 100 * 1.5)
