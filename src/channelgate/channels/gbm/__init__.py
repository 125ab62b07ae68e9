"""Google Business Messages (GBM): a package per concern (config, inbound, render, api, channel)."""

from channelgate.channels.gbm.channel import GBMChannel
from channelgate.channels.gbm.config import SCOPE, GBMConfig

__all__ = ["SCOPE", "GBMChannel", "GBMConfig"]
