"""In-memory stand-ins for the store's shared state, for unit tests of channels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class MemoryKeyValue:
    """The KeyValue protocol (channels.base.KeyValue) in a dict, for one process."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.time():
            del self._data[key]
            return None
        return value

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self._data[key] = (value, time.time() + ttl if ttl else None)

    @asynccontextmanager
    async def lock(self, key: str, ttl: float = 30.0) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            yield


class MemoryReplayCache:
    """The ReplayCache protocol (channels.base.ReplayCache) in a dict, for one process."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, str], tuple[str, float]] = {}

    async def first_seen(
        self, timestamp: int, nonce: str, fingerprint: str, *, now: float, until: float
    ) -> str | None:
        known = self.seen.get((timestamp, nonce))
        if known is not None and known[1] > now:
            return known[0]
        self.seen[(timestamp, nonce)] = (fingerprint, until)
        return None
