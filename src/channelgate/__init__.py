"""channelgate: one bot, every messaging channel."""

__version__ = "0.1.0"
