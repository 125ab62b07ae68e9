"""How much one client address, and one web chat integration as a whole, may ask of the gateway.

Per-socket limits alone do not hold: identities are free (a ``hello`` without a token gets a new one), so one
client with ten sockets had ten times the allowance (200 bot turns in 0.1 s). The limits here are per
**client address** and per **integration**, on open sockets and on inputs per second (token buckets: a burst,
then a sustained rate). They hold for the whole fleet: each replica enforces its share of them
(``1/N`` with N replicas alive, shares.py) on the sockets it holds; the per-socket limits need no sharing.

The client address is the TCP peer's, or, behind a reverse proxy the gateway is told to trust
(``trusted_proxies``), the one the proxy puts in ``X-Forwarded-For`` (uvicorn resolves it before the app sees
it). An IPv6 client counts by its /64 network, since one host usually has a whole /64 to pick addresses from.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from channelgate.shares import WHOLE, Shares

#: how often addresses that have no socket and a full bucket are forgotten (seconds)
SWEEP_INTERVAL = 60.0


class WebChatLimits(BaseModel):
    """``limits:`` of a web chat integration (docs/channels/webchat.md, "Limits")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sockets: int = Field(default=10_000, ge=1, description="open sockets, whole integration")
    inputs: float = Field(default=200.0, gt=0, description="inputs per second, whole integration")
    input_burst: int = Field(default=400, ge=1, description="inputs at once, whole integration")
    sockets_per_address: int = Field(default=20, ge=1, description="open sockets per client address")
    inputs_per_address: float = Field(default=5.0, gt=0, description="inputs per second per address")
    input_burst_per_address: int = Field(default=20, ge=1, description="inputs at once per address")
    inputs_per_socket: float = Field(default=3.0, gt=0, description="inputs per second per socket")
    input_burst_per_socket: int = Field(default=20, ge=1, description="inputs at once per socket")


#: what a replica that may not serve (no share of the limits yet) tells a client to wait (seconds)
NO_SHARE_WAIT = 1.0


class Bucket:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` per second; of which this replica uses its
    ``share`` (shares.py; a burst of at least one)."""

    def __init__(self, burst: int, rate: float, share: Shares = WHOLE) -> None:
        self.burst, self.base_rate, self.share = float(burst), rate, share
        self.capacity, self.rate = self.burst, rate
        self.tokens, self.updated = float(burst), time.monotonic()  # full: cut to the share at first use

    def wait(self, now: float) -> float:
        """Seconds until one token is there (0: now). Refills, takes nothing."""
        fraction = self.share.fraction()
        if fraction <= 0:
            self.updated = now
            return NO_SHARE_WAIT
        self.capacity, self.rate = max(self.burst * fraction, 1.0), self.base_rate * fraction
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1

    def full(self, now: float) -> bool:
        self.wait(now)
        return self.tokens >= self.capacity


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    retry_after: float | None = None


@dataclass
class _Address:
    bucket: Bucket
    sockets: int = 0


def address_key(host: str | None) -> str:
    """The unit an address limit counts: the IPv4 address, the IPv6 /64, or the host string as it is."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class Limiter:
    """The counters of one integration in this process, which enforces its ``share`` of them."""

    limits: WebChatLimits
    share: Shares = WHOLE
    sockets: int = 0
    _addresses: dict[str, _Address] = field(default_factory=dict)
    _bucket: Bucket | None = None
    _swept: float = field(default_factory=lambda: time.monotonic())

    def __post_init__(self) -> None:
        self._bucket = Bucket(self.limits.input_burst, self.limits.inputs, self.share)

    def socket_bucket(self) -> Bucket:
        """The bucket of one new socket's inputs."""
        return Bucket(self.limits.input_burst_per_socket, self.limits.inputs_per_socket)

    def _address(self, key: str) -> _Address:
        entry = self._addresses.get(key)
        if entry is None:
            bucket = Bucket(self.limits.input_burst_per_address, self.limits.inputs_per_address, self.share)
            entry = self._addresses[key] = _Address(bucket)
        return entry

    def open(self, key: str) -> Refusal | None:
        """Count a new socket from ``key``, or say why it may not open (nothing counted then)."""
        self._sweep()
        if self.share.fraction() <= 0:
            return Refusal("this chat is not ready yet; try again in a moment", NO_SHARE_WAIT)
        entry = self._address(key)
        per_address = self.share.scaled(self.limits.sockets_per_address)
        if entry.sockets >= per_address:
            return Refusal(f"too many open chats from your address (limit {per_address})")
        if self.sockets >= self.share.scaled(self.limits.sockets):
            return Refusal("this chat has too many visitors right now")
        entry.sockets += 1
        self.sockets += 1
        return None

    def close(self, key: str) -> None:
        entry = self._addresses.get(key)
        if entry is not None and entry.sockets > 0:
            entry.sockets -= 1
            self.sockets -= 1

    def take_input(self, key: str, socket: Bucket) -> Refusal | None:
        """Spend one input of the socket, its address and the integration, or none of them when one is
        used up: the refusal then says which, and after how long to send again."""
        now = time.monotonic()
        assert self._bucket is not None
        address = self._address(key).bucket
        for bucket, reason in (
            (socket, "too many messages; wait a moment"),
            (address, "too many messages from your address; wait a moment"),
            (self._bucket, "this chat is very busy; wait a moment"),
        ):
            wait = bucket.wait(now)
            if wait:
                return Refusal(reason, round(max(wait, 0.01), 2))
        for bucket in (socket, address, self._bucket):
            bucket.take()
        return None

    def _sweep(self) -> None:
        """Forget addresses with no socket whose allowance is whole again (so memory follows live
        clients, and closing a socket does not hand out a fresh burst)."""
        now = time.monotonic()
        if now - self._swept < SWEEP_INTERVAL:
            return
        self._swept = now
        for key in [k for k, a in self._addresses.items() if a.sockets == 0 and a.bucket.full(now)]:
            del self._addresses[key]

    @property
    def addresses(self) -> int:
        """Addresses currently remembered (tests, diagnostics)."""
        return len(self._addresses)
