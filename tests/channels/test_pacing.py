"""Per-conversation pacing: a burst, then the rate; a long wait is handed back as Throttled."""

from __future__ import annotations

import pytest

from channelgate.channels.base import Throttled
from channelgate.channels.pacing import MARGIN, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate_per_key() -> None:
    pacer = Pacer(lambda key: (2.0, 2.0), Clock())
    assert [pacer.reserve("a") for _ in range(2)] == [0.0, 0.0]
    assert pacer.reserve("a") == pytest.approx(0.5 + MARGIN)
    assert pacer.reserve("b") == 0.0


async def test_a_wait_too_long_is_throttled_and_gives_its_token_back() -> None:
    clock = Clock()
    pacer = Pacer(lambda key: (0.1, 1.0), clock)
    await pacer.wait("a", "slow down")
    with pytest.raises(Throttled, match="slow down") as caught:
        await pacer.wait("a", "slow down")
    assert caught.value.retry_after == pytest.approx(10.0 + MARGIN)
    clock.now += 10.0
    await pacer.wait("a", "slow down")  # the refused send's token came back: one token is due again
