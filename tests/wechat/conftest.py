"""Fixtures for the WeChat channel tests: the simulator on a loopback port and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channelgate.channels.http import PlatformHTTP
from channelgate.testing.server import serve_app
from channelgate.testing.wechat import WeChatSimulator

from .helpers import simulator


@pytest.fixture
def sim() -> WeChatSimulator:
    return simulator(callback_timeout=0.5)


@pytest.fixture
async def api_url(sim: WeChatSimulator) -> AsyncIterator[str]:
    async with serve_app(sim.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[PlatformHTTP]:
    async with PlatformHTTP(timeout=5) as client:
        yield client
