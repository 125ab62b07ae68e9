"""Slows down password guessing: after a few wrong passwords for a name (or many from one address) within
a window, sign-in is refused with 429 until the window has moved on, even with the right password.

It is kept in memory, per process: with replicas, a guesser gets the limit once per replica, which still
turns millions of guesses into a handful. Memory is bounded (the oldest entries are dropped first).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque

PER_NAME = 5
PER_ADDRESS = 30
WINDOW = 300.0
MAX_KEYS = 10_000


class SignInThrottle:
    def __init__(
        self, per_name: int = PER_NAME, per_address: int = PER_ADDRESS, window: float = WINDOW
    ) -> None:
        self.limits = {"name": per_name, "address": per_address}
        self.window = window
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def _keys(name: str, address: str) -> dict[str, str]:
        return {"name": f"name:{name.casefold()}", "address": f"address:{address}"}

    def wait(self, name: str, address: str, now: float | None = None) -> float:
        """Seconds until this name and address may try again (0: now)."""
        now = time.monotonic() if now is None else now
        longest = 0.0
        for kind, key in self._keys(name, address).items():
            times = self._failures.get(key)
            if not times:
                continue
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limits[kind]:
                longest = max(longest, times[0] + self.window - now)
        return longest

    def failed(self, name: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in self._keys(name, address).values():
            times = self._failures.pop(key, None) or deque()
            times.append(now)
            self._failures[key] = times  # most recent last
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, name: str, address: str) -> None:
        self._failures.pop(self._keys(name, address)["name"], None)
