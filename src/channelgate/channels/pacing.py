"""The toolkit's per-conversation pacing: platforms that limit sends per chat as well as per integration.

Telegram (about one message a second per chat, 20 a minute per group) and Slack (``chat.postMessage``:
about one a second per channel) refuse with 429 beyond a per-conversation rate, on top of the integration's
own limit (``rate_limit``, which the delivery worker enforces). This is the per-conversation part: a token
bucket per conversation key, a short burst (a reply of two or three messages goes out at once), then the
platform's rate. :meth:`Pacer.wait` waits a little inside the channel's ``send`` (the conversation's next
message is behind it anyway: the delivery worker keeps one message per conversation in flight) and hands a
longer wait back as :class:`Throttled` with the wait as its hint, so it does not hold a send slot. The
buckets live in this process; the platform's own 429 remains the authority across replicas.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from channelgate.channels.base import Throttled

#: Added to every wait, so a send reaches the platform after its token is due there too (network jitter).
MARGIN = 0.1
#: Waits up to this long happen inside ``send``; longer ones are handed back as Throttled.
MAX_WAIT = 3.0
#: Buckets idle this long are full again and forgotten.
IDLE = 600.0

#: (sends per second, burst) for a conversation key
Limits = Callable[[str], tuple[float, float]]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class Pacer:
    """Token buckets per conversation key; ``limits`` gives each key's rate and burst."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._swept = clock()

    def reserve(self, key: str) -> float:
        """Take one send for ``key`` now; the seconds to wait before it goes (0: at once). The token is
        taken even when the caller decides to send later, so two sends never count on the same token."""
        now = self.clock()
        rate, burst = self.limits(key)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        bucket.tokens -= 1
        self._sweep(now)
        return 0.0 if bucket.tokens >= 0 else -bucket.tokens / rate + MARGIN

    def give_back(self, key: str) -> None:
        """A reserved send did not go (handed back as Throttled): return its token."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self.limits(key)[1], bucket.tokens + 1)

    async def wait(self, key: str, why: str) -> None:
        """Wait for ``key``'s next send, or raise Throttled (saying ``why``) when that would take long."""
        delay = self.reserve(key)
        if delay > MAX_WAIT:
            self.give_back(key)
            raise Throttled(why, retry_after=delay)
        if delay > 0:
            await asyncio.sleep(delay)

    def _sweep(self, now: float) -> None:
        if now - self._swept < IDLE:
            return
        self._swept = now
        for key, bucket in list(self._buckets.items()):
            if now - bucket.updated > IDLE:
                del self._buckets[key]
