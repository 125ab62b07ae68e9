"""Which channels exist: the entry point group ``channelgate.channels``, official and external alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from channelgate.channels.base import Channel

log = logging.getLogger(__name__)

GROUP = "channelgate.channels"

#: The official channels, used when the package is run from a source tree without its metadata.
BUILTIN = {
    "webchat": "channelgate.channels.webchat:WebChatChannel",
    "messenger": "channelgate.channels.messenger:MessengerChannel",
    "whatsapp": "channelgate.channels.whatsapp:WhatsAppChannel",
    "wechat": "channelgate.channels.wechat:WeChatChannel",
    "gbm": "channelgate.channels.gbm:GBMChannel",
    "rbm": "channelgate.channels.rbm:RBMChannel",
    "telegram": "channelgate.channels.telegram:TelegramChannel",
    "line": "channelgate.channels.line:LineChannel",
    "twilio": "channelgate.channels.twilio:TwilioChannel",
    "slack": "channelgate.channels.slack:SlackChannel",
    "instagram": "channelgate.channels.instagram:InstagramChannel",
}


@dataclass
class ChannelRegistry:
    channels: dict[str, type[Channel[Any]]] = field(default_factory=dict)
    #: channels whose package is installed but failed to load, with the reason (shown by ``doctor``)
    broken: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> type[Channel[Any]] | None:
        return self.channels.get(name)

    def names(self) -> list[str]:
        return sorted(self.channels)

    def register(self, cls: type[Channel[Any]]) -> None:
        self.channels[cls.name] = cls


def _load(name: str, target: str) -> type[Channel[Any]]:
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=[attr])
    cls = getattr(module, attr)
    if not (isinstance(cls, type) and issubclass(cls, Channel)):
        raise TypeError(f"{target} is not a channelgate Channel subclass")
    if getattr(cls, "name", None) != name:
        raise TypeError(
            f"{target} declares name {getattr(cls, 'name', None)!r}, but is registered as {name!r}"
        )
    return cls


def load_registry() -> ChannelRegistry:
    """Load every channel. One broken external package is logged and skipped, never fatal to the rest."""
    registry = ChannelRegistry()
    targets = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        targets[ep.name] = ep.value
    for name, target in sorted(targets.items()):
        try:
            registry.channels[name] = _load(name, target)
        except Exception as exc:  # an external package can fail in any way; say which and go on
            registry.broken[name] = f"{type(exc).__name__}: {exc}"
            log.error("channel %r (%s) could not be loaded: %s", name, target, exc)
    return registry
