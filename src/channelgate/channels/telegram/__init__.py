"""Telegram (Bot API): see ``channel.py``."""

from channelgate.channels.telegram.channel import TelegramChannel
from channelgate.channels.telegram.config import TelegramConfig

__all__ = ["TelegramChannel", "TelegramConfig"]
