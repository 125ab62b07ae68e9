"""Retry timing: how long to wait before the next try, when to stop trying, and the one parser of the
``Retry-After`` hint that platforms and HTTP bots send.

Both the turn runner (a failing bot) and the delivery worker (a failing platform) wait the same way:
exponential backoff with full jitter, capped, never sooner than the platform's own hint. Sends stop on a
time budget rather than a count, because an outage is measured in minutes or hours, not in tries: eight
tries with a 300 s cap gave up after ~48 s of 5xx, while platforms themselves redeliver webhooks for days.
"""

from __future__ import annotations

import math
import random
import time
from email.utils import parsedate_to_datetime


def backoff(attempt: int, maximum: float, hint: float | None = None, base: float = 0.5) -> float:
    """Seconds before try ``attempt + 1``: exponential with full jitter, never below the platform's hint
    (itself capped at ``maximum``, so a bogus hint cannot park a message for a day)."""
    delay = min(maximum, base * (2 ** min(max(attempt - 1, 0), 62)))
    delay = delay / 2 + random.uniform(0, delay / 2)
    if hint is not None:
        delay = max(delay, min(float(hint), maximum))
    return float(delay)


def budget_left(failing_since: float | None, now: float, budget: float) -> float:
    """Seconds a message that has been failing since ``failing_since`` may still be retried (None: this is
    its first failure, so the whole budget)."""
    if failing_since is None:
        return budget
    return budget - (now - failing_since)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
