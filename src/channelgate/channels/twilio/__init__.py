"""SMS and MMS through Twilio Programmable Messaging: see ``channel.py``."""

from channelgate.channels.twilio.channel import TwilioChannel
from channelgate.channels.twilio.config import TwilioConfig

__all__ = ["TwilioChannel", "TwilioConfig"]
