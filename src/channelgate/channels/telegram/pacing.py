"""Per-chat pacing: Telegram's flood limits are per chat as well as per bot.

The Bot API FAQ ("My bot is hitting limits, how do I avoid this?"): in one chat, avoid more than about one
message per second ("we may allow short bursts that go over this limit, but eventually you'll begin
receiving 429 errors"); in a group, no more than 20 messages per minute; across chats, about 30 messages per
second (the integration's ``rate_limit``, enforced by the delivery worker's per-integration limiter).

The per-chat part is the toolkit's :class:`~channelgate.channels.pacing.Pacer` with these limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from channelgate.channels.pacing import MARGIN, MAX_WAIT, Pacer

__all__ = ["MARGIN", "MAX_WAIT", "chat_limits", "chat_pacer"]

#: Messages per second to one private chat, and the burst allowed before that rate applies.
PRIVATE_RATE, PRIVATE_BURST = 1.0, 3.0
#: Messages per second to one group (20 a minute), and its burst.
GROUP_RATE, GROUP_BURST = 20 / 60, 3.0


def chat_limits(chat_id: str) -> tuple[float, float]:
    """Group chats have negative ids (Bot API: ``Chat.id``) and get the group rate."""
    return (GROUP_RATE, GROUP_BURST) if chat_id.startswith("-") else (PRIVATE_RATE, PRIVATE_BURST)


def chat_pacer(clock: Callable[[], float] = time.monotonic) -> Pacer:
    """Per-chat buckets with Telegram's limits."""
    return Pacer(chat_limits, clock)
