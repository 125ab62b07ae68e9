"""Slack (Events API, interactivity, Web API): see ``channel.py``."""

from channelgate.channels.slack.channel import SlackChannel
from channelgate.channels.slack.config import SlackConfig

__all__ = ["SlackChannel", "SlackConfig"]
