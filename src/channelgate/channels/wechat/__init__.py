"""WeChat Official Account channel: see :mod:`channelgate.channels.wechat.channel` for how it is split."""

from channelgate.channels.wechat.channel import WeChatChannel
from channelgate.channels.wechat.config import WeChatConfig

__all__ = ["WeChatChannel", "WeChatConfig"]
