"""RCS for Business (RBM): a package per concern (config, inbound, render, api, channel)."""

from channelgate.channels.rbm.channel import RBMChannel
from channelgate.channels.rbm.config import SCOPE, RBMConfig

__all__ = ["SCOPE", "RBMChannel", "RBMConfig"]
