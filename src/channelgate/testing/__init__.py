"""Helpers for testing bots and channels: platform simulators that speak the real wire formats, a
loopback server runner, and :class:`ChannelHarness`, a whole gateway around one channel with a recording
bot and signed requests (docs/write-your-own-channel.md, "Testing it"). Usable by channelgate's own tests,
by channel authors and by bot developers."""

from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.harness import ChannelHarness, OutgoingRequest, RecordingBot, Signer, echo
from channelgate.testing.memory import MemoryKeyValue, MemoryReplayCache
from channelgate.testing.server import FakePlatform, Received, serve_app

__all__ = [
    "ChannelHarness",
    "FakePlatform",
    "MemoryKeyValue",
    "MemoryReplayCache",
    "OutgoingRequest",
    "Received",
    "RecordingBot",
    "RunningGateway",
    "Signer",
    "echo",
    "run_gateway",
    "serve_app",
    "wait_until",
]
