"""WeChat Official Account channel: see :mod:`channelgate.channels.wechat.channel`."""

from channelgate.channels.wechat.channel import WeChatChannel, WeChatConfig

__all__ = ["WeChatChannel", "WeChatConfig"]
