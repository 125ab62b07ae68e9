"""Fixtures for the Instagram tests: the Instagram messaging simulator served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channelgate.testing.instagram import InstagramSimulator
from channelgate.testing.server import serve_app


@pytest.fixture
def sim() -> InstagramSimulator:
    return InstagramSimulator()


@pytest.fixture
async def api_url(sim: InstagramSimulator) -> AsyncIterator[str]:
    """The simulator on a loopback port; yields the ``api_base_url`` to configure."""
    async with serve_app(sim.app) as url:
        yield sim.api_base_url(url)
