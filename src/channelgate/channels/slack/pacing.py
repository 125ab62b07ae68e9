"""Per-conversation pacing: ``chat.postMessage`` allows about one message a second per channel.

Slack's rate-limit guide ("Posting messages: 1 per second, short bursts >1 allowed"): beyond that Slack
answers 429 ``ratelimited`` with ``Retry-After``. The workspace-wide part is the integration's
``rate_limit``, enforced by the delivery worker; the per-channel part is here, a token bucket per channel:
a short burst (a reply of two or three messages goes out at once), then one a second. A send that must wait
a little waits in ``send`` (the conversation's next message is behind it anyway: the delivery worker keeps
one message per conversation in flight); one that would wait longer is handed back as ``Throttled`` with the
wait as its hint, so it does not hold a send slot. The buckets live in this process; Slack's own 429 remains
the authority across replicas.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

#: Messages per second to one channel, and the burst allowed before that rate applies.
RATE, BURST = 1.0, 3.0
#: Added to every wait, so a send reaches Slack after its token is due there too (network jitter).
MARGIN = 0.1
#: Waits up to this long happen inside ``send``; longer ones are handed back as Throttled.
MAX_WAIT = 3.0
#: Buckets idle this long are full again and forgotten.
IDLE = 600.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class ChannelPacer:
    """Token buckets per channel id. ``reserve(channel)`` takes a token and says how long to wait first."""

    def __init__(
        self, rate: float = RATE, burst: float = BURST, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, _Bucket] = {}
        self._swept = clock()

    def reserve(self, channel: str) -> float:
        """Take one send for ``channel`` now; the seconds to wait before it goes (0: at once)."""
        now = self.clock()
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        bucket.tokens -= 1
        self._sweep(now)
        return 0.0 if bucket.tokens >= 0 else -bucket.tokens / self.rate + MARGIN

    def give_back(self, channel: str) -> None:
        """A reserved send did not go (handed back as Throttled): return its token."""
        bucket = self._buckets.get(channel)
        if bucket is not None:
            bucket.tokens = min(self.burst, bucket.tokens + 1)

    def _sweep(self, now: float) -> None:
        if now - self._swept < IDLE:
            return
        self._swept = now
        for channel, bucket in list(self._buckets.items()):
            if now - bucket.updated > IDLE:
                del self._buckets[channel]
