"""The web chat channel: a page, an embeddable widget and a WebSocket (docs/channels/webchat.md)."""

from channelgate.channels.webchat.channel import WebChatChannel, WebChatConfig

__all__ = ["WebChatChannel", "WebChatConfig"]
