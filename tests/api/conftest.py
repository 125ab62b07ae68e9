"""Fixtures for the admin API tests: a gateway with the API mounted, served on loopback, whose sends reach a
relay peer; API keys; and an HTTP client holding a full key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from channelgate.bots.base import Bot
from channelgate.store import admin
from channelgate.testing.gateway import RunningGateway, run_gateway
from channelgate.turns import EventInput, Reply, Turn
from tests.core import conftest as core_fixtures
from tests.core.relay_peer import SECRET, RelayPeer


class NotifyingBot(Bot):
    """Echoes text; answers an ``order_shipped`` event with a notification naming the order."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        if isinstance(turn.input, EventInput):
            order = (turn.input.data or {}).get("order", "?")
            return Reply(messages=[{"type": "text", "text": f"Your order {order} shipped"}])
        text = getattr(turn.input, "text", None) or getattr(turn.input, "payload", "?")
        return Reply(messages=[{"type": "text", "text": f"echo: {text}"}])


@dataclass
class Api:
    """A running gateway, its bot, the relay peer, and keys of each kind."""

    gw: RunningGateway
    bot: NotifyingBot
    peer: RelayPeer
    full_key: str
    read_key: str

    @property
    def url(self) -> str:
        return f"{self.gw.url}/api/v1"

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key or self.full_key}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


def relay_integration(peer_url: str, label: str = "main", **extra: Any) -> dict[str, Any]:
    return {
        "channel": "relay",
        "label": label,
        "locale": "en-US",
        "secret": SECRET,
        "send_url": f"{peer_url}/send",
        **extra,
    }


def gateway_config(peer_url: str, store: str, **extra: Any) -> dict[str, Any]:
    """The API may point integrations at the loopback simulators and peers (admin_api.allowed_hosts):
    tests/api/test_exfiltration.py checks what happens without that."""
    return {
        "store": store,
        "pipeline": {"poll_interval": 0.05, "max_backoff": 0.2, "retry_budget": 1.0},
        "integrations": [relay_integration(peer_url)],
        "admin_api": {"allowed_hosts": ["127.0.0.1"]},
        **extra,
    }


#: the relay peer that records what the gateway sends, shared with the core and fleet tests
peer = core_fixtures.peer


@asynccontextmanager
async def start_api(
    peer: RelayPeer, store: str, *, integrations: list[dict[str, Any]] | None = None, **settings: Any
) -> AsyncIterator[Api]:
    """A gateway with the API, the relay integration ``relay/main`` (unless ``integrations`` says otherwise)
    and two keys: one full, one read-only."""
    bot = NotifyingBot()
    config = gateway_config(peer.url, store, **settings)  # type: ignore[attr-defined]
    if integrations is not None:
        config["integrations"] = integrations
    async with run_gateway(config, bot=bot) as gw:
        _, full = await admin.create_key(gw.store, "tests", "full")
        _, read = await admin.create_key(gw.store, "dashboard", "read")
        yield Api(gw, bot, peer, full, read)


@pytest.fixture
async def api(peer: RelayPeer, tmp_path: Path) -> AsyncIterator[Api]:
    async with start_api(peer, f"sqlite:///{tmp_path}/gw.db") as running:
        yield running


@pytest.fixture
async def client(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with api.client() as http:
        yield http
