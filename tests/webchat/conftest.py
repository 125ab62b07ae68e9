"""A gateway with one web chat integration on loopback and the bot it talks to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from channelgate.testing.gateway import RunningGateway, run_gateway

from .chatkit import RecordingBot, webchat_config


@pytest.fixture
def bot() -> RecordingBot:
    return RecordingBot()


@pytest.fixture
async def gw(bot: RecordingBot, tmp_path: Any) -> AsyncIterator[RunningGateway]:
    config = {**webchat_config(), "store": f"sqlite:///{tmp_path}/webchat.db"}
    async with run_gateway(config, bot=bot) as running:
        yield running
