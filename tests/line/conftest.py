"""Fixtures for the LINE tests: the Messaging API simulator served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channelgate.channels.http import PlatformHTTP
from channelgate.testing.line import LineSimulator
from channelgate.testing.server import serve_app


@pytest.fixture
def sim() -> LineSimulator:
    return LineSimulator()


@pytest.fixture
async def api_url(sim: LineSimulator) -> AsyncIterator[str]:
    """The simulator on a loopback port; yields the ``api_base_url`` to configure."""
    async with serve_app(sim.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[PlatformHTTP]:
    async with PlatformHTTP(timeout=5) as client:
        yield client
