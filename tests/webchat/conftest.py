"""A gateway with one web chat integration on loopback and the bot it talks to: the channel test harness of
channelgate.testing, as any channel's tests use it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channelgate.channels.webchat import WebChatChannel
from channelgate.testing import ChannelHarness

from .chatkit import PIPELINE, RecordingBot


@pytest.fixture
def bot() -> RecordingBot:
    return RecordingBot()


@pytest.fixture
async def gw(bot: RecordingBot) -> AsyncIterator[ChannelHarness]:
    harness = ChannelHarness(WebChatChannel, label="site", bot=bot, config={"pipeline": PIPELINE})
    async with harness as running:
        yield running
