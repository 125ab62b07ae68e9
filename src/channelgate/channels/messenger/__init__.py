"""Facebook Messenger: a package split by concern (config, inbound, render, envelope, api, channel)."""

from channelgate.channels.messenger.channel import MessengerChannel
from channelgate.channels.messenger.config import MessengerConfig

__all__ = ["MessengerChannel", "MessengerConfig"]
