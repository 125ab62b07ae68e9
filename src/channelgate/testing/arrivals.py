"""Waiting for what a simulator received: a test awaits a count, the simulator says when more arrived.

Every platform simulator records the sends it accepted and lets a test wait for the n-th; this is that
waiting, once, for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Arrivals:
    """Events for the tests waiting on a count; ``arrived()`` wakes them to look again."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Event] = set()

    def arrived(self) -> None:
        for event in list(self._waiters):
            event.set()

    async def until(self, count: Callable[[], int], n: int, timeout: float, what: str = "sends") -> None:  # noqa: ASYNC109
        """Return once ``count()`` reaches ``n``, or raise TimeoutError saying how many came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while count() < n:
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                async with asyncio.timeout_at(deadline):
                    await event.wait()
            except TimeoutError:
                raise TimeoutError(f"expected {n} {what} within {timeout}s, got {count()}") from None
            finally:
                self._waiters.discard(event)
