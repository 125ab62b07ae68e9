"""What a bot receives (a :class:`Turn`) and what it answers (a :class:`Reply`).

Inputs are channel-neutral: a quick-reply tap on Messenger, a button on WhatsApp, a suggestion on Google
and a menu click on WeChat all arrive as a ``postback``. ``raw`` keeps the platform's own event for bots
that need more.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from channelgate.messages import UniversalMessage


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextInput(_Model):
    type: Literal["text"] = "text"
    text: str


class PostbackInput(_Model):
    type: Literal["postback"] = "postback"
    payload: str
    title: str | None = None


class MediaInput(_Model):
    """Media the user sent. ``url`` when the platform gives one; ``media_id`` when it must be fetched
    through the gateway (``GET /api/v1/media/{channel}/{label}/{media_id}``), so that platform tokens
    never reach the bot."""

    type: Literal["media"] = "media"
    kind: Literal["image", "video", "audio", "file", "sticker"]
    url: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    caption: str | None = None


class LocationInput(_Model):
    type: Literal["location"] = "location"
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class EventInput(_Model):
    """Something that happened rather than something said: subscribed, referral, locale_changed, ..."""

    type: Literal["event"] = "event"
    name: str = Field(min_length=1)
    data: dict[str, Any] | None = None


Input = Annotated[
    TextInput | PostbackInput | MediaInput | LocationInput | EventInput, Field(discriminator="type")
]
input_adapter: TypeAdapter[Input] = TypeAdapter(Input)


class User(_Model):
    id: str
    name: str | None = None


class Turn(_Model):
    id: str
    conversation_id: str
    channel: str
    label: str
    user: User
    locale: str
    input: Input
    raw: Any = None


class HandoffRequest(_Model):
    """A bot's request for a person: ``"handoff": {"note": "..."}`` (the note is for the agent)."""

    note: str | None = Field(default=None, max_length=4000)


class Reply(BaseModel):
    """A bot's answer. ``messages`` are validated one by one by the pipeline (see messages.parse_messages),
    so they stay raw JSON here; ``locale`` switches the conversation's language; ``handoff`` (``true`` or
    ``{"note": "..."}``) hands the conversation to a person after the messages are sent (docs/handoff.md)."""

    model_config = ConfigDict(extra="ignore")

    messages: list[Any] = Field(default_factory=list)
    locale: str | None = None
    handoff: bool | HandoffRequest | None = None

    @property
    def handoff_request(self) -> HandoffRequest | None:
        """The hand-off the bot asked for (``true`` is one without a note), or None."""
        if self.handoff is True:
            return HandoffRequest()
        if isinstance(self.handoff, HandoffRequest):
            return self.handoff
        return None

    @classmethod
    def coerce(cls, value: Any) -> Reply:
        """Accept what bots return: a Reply, a dict, a bare list of messages, a string, or None."""
        if value is None:
            return cls()
        if isinstance(value, Reply):
            return value
        if isinstance(value, str):
            return cls(messages=[value])
        if isinstance(value, list | tuple):
            return cls(messages=[_jsonable(m) for m in value])
        if isinstance(value, dict):
            if "messages" in value or "locale" in value or "handoff" in value:
                return cls(
                    messages=[_jsonable(m) for m in value.get("messages") or []],
                    locale=value.get("locale"),
                    handoff=value.get("handoff"),
                )
            return cls(messages=[value])
        if isinstance(value, BaseModel):
            return cls(messages=[_jsonable(value)])
        raise TypeError(
            f"a bot must return a Reply, a dict, a list of messages or None, not {type(value).__name__}"
        )


def _jsonable(message: Any) -> Any:
    if isinstance(message, BaseModel):
        return message.model_dump(mode="json", exclude_none=True)
    return message


__all__ = [
    "EventInput",
    "HandoffRequest",
    "Input",
    "LocationInput",
    "MediaInput",
    "PostbackInput",
    "Reply",
    "TextInput",
    "Turn",
    "UniversalMessage",
    "User",
    "input_adapter",
]
