"""The web chat's renderer: the browser shows every universal type, so each passes through as its JSON.

A pass-through renderer still earns its place on the :class:`Renderer` base: the base's exhaustive dispatch
names every type the browser is sent, channel-specific messages follow the same rules as on every other
channel (this channel's payload, else the fallback, else skipped with a note), and a universal type added
later degrades to text here through the base's default until static/widget.js learns to show it and this
class says so by overriding its method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from channelgate.channels.renderer import Renderer
from channelgate.channels.rendering import truncate
from channelgate.messages import (
    Action,
    Card,
    Carousel,
    ChannelSpecific,
    ListMessage,
    Location,
    Media,
    Template,
    Text,
    UniversalMessage,
    dump_message,
    parse_message,
)

#: the longest text sent to a browser, in characters (a browser shows anything; this bounds a frame)
TEXT_MAX = 20_000

Body = dict[str, Any]


class WebChatRenderer(Renderer[Body]):
    """Universal messages → the universal JSON the browser renders (one body per message)."""

    channel = "webchat"
    product = "The web chat"

    def universal(self, message: UniversalMessage) -> Body:
        """A message as the browser takes it: its JSON without delivery options (they are for platforms),
        its text cut to :data:`TEXT_MAX` with a note."""
        data = dump_message(message)
        data.pop("options", None)
        if isinstance(message, Text):
            data["text"] = truncate(message.text, TEXT_MAX, self.ctx)
        return data

    def texts(self, text: str) -> list[Body]:
        return [{"type": "text", "text": truncate(text, TEXT_MAX, self.ctx)}]

    def passthrough(self, payload: dict[str, Any]) -> Body:
        """``payloads["webchat"]`` is itself a universal message; anything else is shown as text."""
        try:
            parsed = parse_message(payload)
        except (ValidationError, ValueError):
            parsed = None
        if parsed is not None and not isinstance(parsed, ChannelSpecific):
            return self.universal(parsed)
        self.ctx.note("payloads['webchat'] is not a universal message: shown as text")
        text = payload.get("text") if isinstance(payload.get("text"), str) and payload["text"] else None
        [body] = self.texts(text or orjson.dumps(payload).decode())
        return body

    # every type the browser shows natively, quick replies included (they travel inside the message's JSON)

    def text(self, message: Text) -> list[Body]:
        return [self.universal(message)]

    def media(self, message: Media) -> list[Body]:
        return [self.universal(message)]

    def card(self, message: Card) -> list[Body]:
        return [self.universal(message)]

    def carousel(self, message: Carousel) -> list[Body]:
        return [self.universal(message)]

    def list_message(self, message: ListMessage) -> list[Body]:
        return [self.universal(message)]

    def location(self, message: Location) -> list[Body]:
        return [self.universal(message)]

    def template(self, message: Template) -> list[Body]:
        return [self.universal(message)]

    def quick_replies(self, bodies: list[Body], actions: Sequence[Action]) -> list[Body]:
        return bodies
