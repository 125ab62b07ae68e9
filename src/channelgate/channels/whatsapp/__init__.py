"""WhatsApp Business: a package split by concern (config, inbound, render, window, api, channel)."""

from channelgate.channels.whatsapp.channel import WhatsAppChannel
from channelgate.channels.whatsapp.config import WhatsAppConfig

__all__ = ["WhatsAppChannel", "WhatsAppConfig"]
