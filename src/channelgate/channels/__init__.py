"""Channels: the official ones ship in this package, external ones are found through the entry point
group ``channelgate.channels`` (see docs/write-your-own-channel.md)."""

from channelgate.channels.base import (
    BadRequest,
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Forbidden,
    InboundEvent,
    InboundMessage,
    Outbound,
    RenderContext,
    SendError,
    SendResult,
    StatusUpdate,
    Unauthorized,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.registry import ChannelRegistry, load_registry

__all__ = [
    "BadRequest",
    "Channel",
    "ChannelConfig",
    "ChannelContext",
    "ChannelLimits",
    "ChannelRegistry",
    "Forbidden",
    "InboundEvent",
    "InboundMessage",
    "Outbound",
    "RenderContext",
    "SendError",
    "SendResult",
    "StatusUpdate",
    "Unauthorized",
    "WebhookRequest",
    "WebhookResponse",
    "load_registry",
]
