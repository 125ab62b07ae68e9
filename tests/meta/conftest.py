"""Fixtures for the Messenger and WhatsApp tests: the Graph API simulator served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channelgate.channels.http import PlatformHTTP
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app


@pytest.fixture
def sim() -> GraphSimulator:
    return GraphSimulator(access_token="EAAG-sim-token", app_secret="my_app_secret")


@pytest.fixture
async def graph_url(sim: GraphSimulator) -> AsyncIterator[str]:
    """The simulator on a loopback port; yields its ``api_base_url``."""
    async with serve_app(sim.app) as url:
        yield sim.api_base_url(url)


@pytest.fixture
async def http() -> AsyncIterator[PlatformHTTP]:
    async with PlatformHTTP(timeout=5) as client:
        yield client
