"""Fixtures for the Telegram tests: the Bot API simulator served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channelgate.channels.http import PlatformHTTP
from channelgate.testing.server import serve_app
from channelgate.testing.telegram import TelegramSimulator


@pytest.fixture
def sim() -> TelegramSimulator:
    return TelegramSimulator()


@pytest.fixture
async def api_url(sim: TelegramSimulator) -> AsyncIterator[str]:
    """The simulator on a loopback port; yields the ``api_base_url`` to configure."""
    async with serve_app(sim.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[PlatformHTTP]:
    async with PlatformHTTP(timeout=5) as client:
        yield client
