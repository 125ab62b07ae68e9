"""Bots: the Bot interface and the adapters the config's ``bot:`` setting chooses between (demo, python,
http, rasa)."""

from channelgate.bots.base import Bot, BotError
from channelgate.bots.spec import BotSpec, build_bot, parse_bot_spec

__all__ = ["Bot", "BotError", "BotSpec", "build_bot", "parse_bot_spec"]
