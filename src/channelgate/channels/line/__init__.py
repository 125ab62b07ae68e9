"""LINE (Messaging API): see ``channel.py``."""

from channelgate.channels.line.channel import LineChannel
from channelgate.channels.line.config import LineConfig

__all__ = ["LineChannel", "LineConfig"]
