"""Fixtures the core tests share: the relay peer (relay_peer.py) that records what the gateway sends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channelgate.testing.server import serve_app

from .relay_peer import RelayPeer


@pytest.fixture
async def peer() -> AsyncIterator[RelayPeer]:
    """A relay peer on a loopback port; ``peer.url`` is where the relay integration sends."""
    relay = RelayPeer()
    async with serve_app(relay.app) as url:
        relay.url = url  # type: ignore[attr-defined]
        yield relay
