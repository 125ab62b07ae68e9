"""Per-chat pacing: Telegram's flood limits are per chat as well as per bot.

The Bot API FAQ ("My bot is hitting limits, how do I avoid this?"): in one chat, avoid more than about one
message per second ("we may allow short bursts that go over this limit, but eventually you'll begin
receiving 429 errors"); in a group, no more than 20 messages per minute; across chats, about 30 messages per
second (the integration's ``rate_limit``, enforced by the delivery worker's per-integration limiter).

The per-chat part is here, as a token bucket per chat: a short burst (a reply of two or three messages goes
out at once), then the documented rate. A send that would have to wait a little waits in the channel's
``send`` (the conversation's next message waits behind it anyway: the delivery worker keeps one message per
conversation in flight); one that would wait longer is handed back as ``Throttled`` with the wait as its
hint, so it does not hold a send slot. The buckets live in this process: another replica sending to the
same chat has its own (a conversation's sends normally stay with one replica), and Telegram's own 429 with
``retry_after`` remains the authority either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

#: Messages per second to one private chat, and the burst allowed before that rate applies.
PRIVATE_RATE, PRIVATE_BURST = 1.0, 3.0
#: Messages per second to one group (20 a minute), and its burst.
GROUP_RATE, GROUP_BURST = 20 / 60, 3.0
#: Added to every wait, so a send reaches Telegram after its token is due there too (network jitter).
MARGIN = 0.1
#: Waits up to this long happen inside ``send``; longer ones are handed back as Throttled.
MAX_WAIT = 3.0
#: Buckets idle this long are full again and forgotten.
IDLE = 600.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class ChatPacer:
    """Token buckets per chat id. ``reserve(chat)`` takes a token and says how long to wait before sending
    (0: at once). Group chats have negative ids (Bot API: ``Chat.id``), and get the group rate."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._swept = clock()

    @staticmethod
    def limits(chat_id: str) -> tuple[float, float]:
        return (GROUP_RATE, GROUP_BURST) if chat_id.startswith("-") else (PRIVATE_RATE, PRIVATE_BURST)

    def reserve(self, chat_id: str) -> float:
        """Take one send for ``chat_id`` now; the seconds to wait before it goes (the token is taken even
        when the caller decides to send later, so two sends never count on the same token)."""
        now = self.clock()
        rate, burst = self.limits(chat_id)
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            bucket = self._buckets[chat_id] = _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        bucket.tokens -= 1
        self._sweep(now)
        return 0.0 if bucket.tokens >= 0 else -bucket.tokens / rate + MARGIN

    def give_back(self, chat_id: str) -> None:
        """A reserved send did not go (handed back as Throttled): return its token."""
        bucket = self._buckets.get(chat_id)
        if bucket is not None:
            bucket.tokens = min(self.limits(chat_id)[1], bucket.tokens + 1)

    def _sweep(self, now: float) -> None:
        if now - self._swept < IDLE:
            return
        self._swept = now
        for chat_id, bucket in list(self._buckets.items()):
            if now - bucket.updated > IDLE:
                del self._buckets[chat_id]
