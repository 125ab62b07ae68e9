"""Per-conversation pacing: ``chat.postMessage`` allows about one message a second per channel.

Slack's rate-limit guide ("Posting messages: 1 per second, short bursts >1 allowed"): beyond that Slack
answers 429 ``ratelimited`` with ``Retry-After``. The workspace-wide part is the integration's
``rate_limit``, enforced by the delivery worker; the per-channel part is the toolkit's
:class:`~channelgate.channels.pacing.Pacer` with these limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from channelgate.channels.pacing import MAX_WAIT, Pacer

__all__ = ["BURST", "MAX_WAIT", "RATE", "channel_pacer"]

#: Messages per second to one channel, and the burst allowed before that rate applies.
RATE, BURST = 1.0, 3.0


def channel_pacer(
    rate: float = RATE, burst: float = BURST, clock: Callable[[], float] = time.monotonic
) -> Pacer:
    """Per-channel buckets with Slack's limits."""
    return Pacer(lambda channel: (rate, burst), clock)
