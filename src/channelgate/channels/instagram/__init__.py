"""Instagram messaging (Meta): a package split by concern (config, inbound, render, api, channel), built on
the shared Meta code (:mod:`channels.meta`) and on Messenger's where Instagram's Send API is the same."""

from channelgate.channels.instagram.channel import InstagramChannel
from channelgate.channels.instagram.config import InstagramConfig

__all__ = ["InstagramChannel", "InstagramConfig"]
