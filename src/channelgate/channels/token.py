"""The toolkit's shared access token: one per integration, cached in the store, refreshed under its lock.

Platforms whose API takes a short-lived token minted from long-lived credentials (WeChat's ``access_token``
from AppID/AppSecret, Google's OAuth2 token from a service-account key) limit how often a token may be
minted, and minting a new one may invalidate the old one (WeChat). So every replica must use the same
token: it lives in the store's key-value table, a replica that finds it missing or near expiry takes the
store's lock and checks again before minting (another replica may just have done it), and a token the
platform refuses is replaced once, unless another replica already replaced it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from channelgate.channels.base import KeyValue

#: refresh this long before expiry (or at half the lifetime of short-lived tokens)
REFRESH_MARGIN = 300.0


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_at: float
    refresh_at: float

    @classmethod
    def minted(cls, token: str, lifetime: float, now: float, margin: float = REFRESH_MARGIN) -> AccessToken:
        """A token valid for ``lifetime`` seconds from ``now``, refreshed ``margin`` before it ends."""
        return cls(token, now + lifetime, now + lifetime - min(margin, lifetime / 2))

    def fresh(self, now: float) -> bool:
        return bool(self.token) and now < self.refresh_at

    def dump(self) -> str:
        return orjson.dumps({"t": self.token, "e": self.expires_at, "r": self.refresh_at}).decode()

    @classmethod
    def load(cls, value: str | None) -> AccessToken | None:
        if not value:
            return None
        try:
            data = orjson.loads(value)
            return cls(str(data["t"]), float(data["e"]), float(data["r"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


#: mints a new token (one call to the platform's token endpoint); raises a SendError when it cannot
Mint = Callable[[], Awaitable[AccessToken]]


class SharedToken:
    """An access token shared by every replica through the store (``key`` names it there)."""

    def __init__(self, kv: KeyValue, key: str, mint: Mint, *, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.key = key
        self.mint = mint
        self.clock = clock
        self._cached: AccessToken | None = None

    async def get(self) -> str:
        """A valid token: this process's copy, else the store's, else a new one minted under the lock."""
        if self._cached is not None and self._cached.fresh(self.clock()):
            return self._cached.token
        stored = await self._stored()
        if stored is not None:
            return stored.token
        async with self.kv.lock(self._lock_key):
            stored = await self._stored()  # another replica may have minted one while we waited
            if stored is not None:
                return stored.token
            return (await self._mint()).token

    async def refused(self, token: str) -> None:
        """The platform refused ``token``: replace it, unless another replica already has."""
        if self._cached is not None and self._cached.token == token:
            self._cached = None
        async with self.kv.lock(self._lock_key):
            stored = AccessToken.load(await self.kv.get(self.key))
            if stored is not None and stored.token != token and stored.expires_at > self.clock():
                return
            await self._mint()

    async def forget(self, token: str) -> None:
        """Drop ``token`` here and in the store (unless a newer one is there) without minting a new one."""
        if self._cached is not None and self._cached.token == token:
            self._cached = None
        stored = AccessToken.load(await self.kv.get(self.key))
        if stored is not None and stored.token == token:
            await self.kv.set(self.key, "", ttl=1.0)

    @property
    def _lock_key(self) -> str:
        return f"{self.key}:refresh"

    async def _stored(self) -> AccessToken | None:
        stored = AccessToken.load(await self.kv.get(self.key))
        if stored is not None and stored.fresh(self.clock()):
            self._cached = stored
            return stored
        return None

    async def _mint(self) -> AccessToken:
        fresh = await self.mint()
        await self.kv.set(self.key, fresh.dump(), ttl=max(fresh.expires_at - self.clock(), 1.0))
        self._cached = fresh
        return fresh
