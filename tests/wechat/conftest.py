"""Fixtures for the WeChat channel tests: the simulator on a loopback port and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from channelgate.testing.server import serve_app
from channelgate.testing.wechat import WeChatSimulator

from .helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN


@pytest.fixture
def sim() -> WeChatSimulator:
    return WeChatSimulator(
        app_id=APP_ID,
        app_secret=APP_SECRET,
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        account="gh_abcdef123456",
        grace_period=0,
        callback_timeout=0.5,
    )


@pytest.fixture
async def api_url(sim: WeChatSimulator) -> AsyncIterator[str]:
    async with serve_app(sim.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client
