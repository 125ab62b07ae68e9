"""The universal message: what a bot answers, once, for every channel.

Each channel renders these models as well as its platform allows (see ``channels/``). The models are
pydantic so that the JSON Schema published by ``channelgate schema`` is generated from the same code that
validates a bot's output, and the two can never disagree.

The brief's own format (``rich``, ``listText``, ``listRich`` with ``insideActions``/``floatActions``) is
accepted on input and translated here, in one place, by :func:`from_brief`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

log = logging.getLogger(__name__)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- actions ---------------------------------------------------------------------------------------------


class ReplyAction(_Model):
    """A button that sends ``payload`` back to the bot as a postback input."""

    type: Literal["reply"] = "reply"
    title: str = Field(min_length=1)
    payload: str = Field(min_length=1)


class UrlAction(_Model):
    """A button that opens a web page."""

    type: Literal["url"] = "url"
    title: str = Field(min_length=1)
    url: str = Field(min_length=1)


class CallAction(_Model):
    """A button that dials a phone number (E.164 or RFC 3966)."""

    type: Literal["call"] = "call"
    title: str = Field(min_length=1)
    phone: str = Field(min_length=1)


Action = Annotated[ReplyAction | UrlAction | CallAction, Field(discriminator="type")]


class MessageOptions(_Model):
    """Per-message delivery options a bot may set; channels ignore what they cannot use.

    ``tag``: Messenger message tag for sends outside the 24-hour window (``HUMAN_AGENT``, ...).
    ``quote``: answer as a quoted reply to the user's message (WhatsApp ``context.message_id``).
    ``template_fallback``: the template to send instead when the platform's window has closed (WhatsApp).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    tag: str | None = None
    quote: bool = False
    template_fallback: Template | None = None


class _Message(_Model):
    quick_replies: list[Action] | None = None
    options: MessageOptions | None = None


# --- messages --------------------------------------------------------------------------------------------


class Text(_Message):
    type: Literal["text"] = "text"
    text: str = Field(min_length=1)


class Media(_Message):
    type: Literal["media"] = "media"
    kind: Literal["image", "video", "audio", "file"]
    url: str = Field(min_length=1)
    caption: str | None = None
    filename: str | None = None


class CardMedia(_Model):
    url: str = Field(min_length=1)
    alt_text: str | None = None
    height: Literal["short", "medium", "tall"] | None = None


class Card(_Message):
    type: Literal["card"] = "card"
    title: str = Field(min_length=1)
    description: str | None = None
    media: CardMedia | None = None
    buttons: list[Action] | None = None


class Carousel(_Message):
    type: Literal["carousel"] = "carousel"
    cards: list[Card] = Field(min_length=1)


class ListItem(_Model):
    title: str = Field(min_length=1)
    description: str | None = None
    payload: str = Field(min_length=1)


class ListMessage(_Message):
    type: Literal["list"] = "list"
    text: str = Field(min_length=1)
    header: str | None = None
    footer: str | None = None
    button: str | None = None
    items: list[ListItem] = Field(min_length=1)


class Location(_Message):
    type: Literal["location"] = "location"
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = None
    address: str | None = None


class Template(_Message):
    """A pre-approved notification template (WhatsApp, WeChat template messages).

    ``parameters`` are either plain values (filled into the body in order) or platform-shaped component
    objects, which channels pass through.
    """

    type: Literal["template"] = "template"
    name: str = Field(min_length=1)
    language: str = "en_US"
    parameters: list[Any] | None = None


class ChannelSpecific(_Message):
    """Raw platform messages keyed by channel name, passed through untouched."""

    type: Literal["channel"] = "channel"
    payloads: dict[str, dict[str, Any]]
    fallback: UniversalMessage | None = None


UniversalMessage = Annotated[
    Text | Media | Card | Carousel | ListMessage | Location | Template | ChannelSpecific,
    Field(discriminator="type"),
]

MessageOptions.model_rebuild()
ChannelSpecific.model_rebuild()

_adapter: TypeAdapter[UniversalMessage] = TypeAdapter(UniversalMessage)
_list_adapter: TypeAdapter[list[UniversalMessage]] = TypeAdapter(list[UniversalMessage])

BRIEF_TYPES = frozenset({"rich", "listText", "listRich"})


# --- the brief's format ----------------------------------------------------------------------------------


def _brief_action(action: dict[str, Any]) -> dict[str, Any]:
    kind = action.get("type")
    title = action.get("display") or action.get("title") or ""
    if kind == "click":
        return {"type": "url", "title": title, "url": action.get("url", "")}
    if kind == "call":
        return {"type": "call", "title": title, "phone": action.get("phoneNumber", "")}
    if kind == "reply":
        return {"type": "reply", "title": title, "payload": action.get("payload") or title}
    raise ValueError(f"unknown action type {kind!r} (expected reply, click or call)")


def _brief_media(rich_media: dict[str, Any] | None, fallback_url: str | None = None) -> dict[str, Any] | None:
    if rich_media:
        media: dict[str, Any] = {"url": rich_media.get("fileUrl", "")}
        if rich_media.get("altText"):
            media["alt_text"] = rich_media["altText"]
        height = str(rich_media.get("height", "")).lower()
        if height in ("short", "medium", "tall"):
            media["height"] = height
        return media
    if fallback_url:
        return {"url": fallback_url}
    return None


def _brief_card(
    title: str, description: str | None, media: dict[str, Any] | None, actions: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "card", "title": title}
    if description:
        card["description"] = description
    if media:
        card["media"] = media
    buttons = [_brief_action(a) for a in actions]
    if buttons:
        card["buttons"] = buttons
    return card


def from_brief(obj: dict[str, Any]) -> dict[str, Any]:
    """Translate one message in the brief's format (``rich``, ``listText``, ``listRich``) to ours."""
    kind = obj.get("type")
    if kind == "rich":
        card = _brief_card(
            obj.get("title", ""),
            obj.get("description"),
            _brief_media(obj.get("richMedia")),
            obj.get("insideActions") or [],
        )
        floats = [_brief_action(a) for a in obj.get("floatActions") or []]
        if floats:
            card["quick_replies"] = floats
        return card
    if kind == "listText":
        body = [str(line) for line in obj.get("body") or []]
        actions = [_brief_action(a) for a in obj.get("inputActions") or []]
        text = obj.get("text", "")
        if body:
            text = "\n".join([text, *body]) if text else "\n".join(body)
        out: dict[str, Any] = {"type": "text", "text": text}
        if actions:
            out["quick_replies"] = actions
        return out
    if kind == "listRich":
        titles = obj.get("cardTitles") or []
        descriptions = obj.get("cardDescriptions") or []
        urls = obj.get("fileUrls") or []
        card_actions = obj.get("cardInputActions") or []
        cards = [
            _brief_card(
                title,
                descriptions[i] if i < len(descriptions) else None,
                _brief_media(None, urls[i] if i < len(urls) else None),
                card_actions[i] if i < len(card_actions) else [],
            )
            for i, title in enumerate(titles)
        ]
        carousel: dict[str, Any] = {"type": "carousel", "cards": cards}
        main = [_brief_action(a) for a in obj.get("mainInputActions") or []]
        if main:
            carousel["quick_replies"] = main
        return carousel
    raise ValueError(f"not a message in the brief's format: type {kind!r}")


# --- parsing and validation ------------------------------------------------------------------------------


def parse_message(obj: Any) -> UniversalMessage:
    """Validate one message (ours or the brief's format; a bare string is text)."""
    if isinstance(obj, str):
        obj = {"type": "text", "text": obj}
    if isinstance(obj, dict) and obj.get("type") in BRIEF_TYPES:
        obj = from_brief(obj)
    return _adapter.validate_python(obj)


class InvalidMessage(ValueError):
    """A message a bot returned that is not a valid universal message."""

    def __init__(self, index: int, original: Any, error: str) -> None:
        super().__init__(f"message {index}: {error}")
        self.index = index
        self.original = original
        self.error = error


def parse_messages(objs: Iterable[Any]) -> tuple[list[UniversalMessage], list[InvalidMessage]]:
    """Validate a bot's messages one by one, so one bad message does not cost the user the others."""
    good: list[UniversalMessage] = []
    bad: list[InvalidMessage] = []
    for index, obj in enumerate(objs):
        try:
            good.append(parse_message(obj))
        except (ValidationError, ValueError) as exc:
            bad.append(InvalidMessage(index, obj, _describe(exc)))
    return good, bad


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "message"
            parts.append(f"{where}: {err['msg']}")
        return "; ".join(parts)
    return str(exc)


def dump_message(message: UniversalMessage) -> dict[str, Any]:
    """The JSON form of a message, without unset optional fields."""
    return message.model_dump(mode="json", exclude_none=True)


def dump_messages(messages: Iterable[UniversalMessage]) -> list[dict[str, Any]]:
    return [dump_message(m) for m in messages]


def load_messages(objs: Iterable[dict[str, Any]]) -> list[UniversalMessage]:
    """Load messages that were validated before (from the store): no brief translation needed."""
    return _list_adapter.validate_python(list(objs))


# --- JSON Schema -----------------------------------------------------------------------------------------


def universal_schema() -> dict[str, Any]:
    schema = _adapter.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "channelgate universal message"
    return schema


def brief_schema() -> dict[str, Any]:
    """JSON Schema of the brief's message format, which channelgate accepts and translates."""
    action = {
        "type": "object",
        "required": ["type", "display"],
        "properties": {
            "type": {"enum": ["reply", "click", "call"]},
            "display": {"type": "string", "minLength": 1},
            "payload": {"type": "string"},
            "url": {"type": "string"},
            "phoneNumber": {"type": "string"},
        },
    }
    reply = {**action, "properties": {**action["properties"], "type": {"const": "reply"}}}  # type: ignore[dict-item]
    rich_media = {
        "type": "object",
        "required": ["fileUrl"],
        "properties": {
            "fileUrl": {"type": "string"},
            "altText": {"type": "string"},
            "height": {"enum": ["SHORT", "MEDIUM", "TALL", "HEIGHT_UNSPECIFIED", "short", "medium", "tall"]},
            "thumbnailUrl": {"type": "string"},
            "forceRefresh": {"type": "boolean"},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "brief message format (accepted on input)",
        "oneOf": [
            {
                "type": "object",
                "required": ["type", "title"],
                "properties": {
                    "type": {"const": "rich"},
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "richMedia": rich_media,
                    "insideActions": {"type": "array", "items": action},
                    "floatActions": {"type": "array", "items": reply},
                },
            },
            {
                "type": "object",
                "required": ["type", "text"],
                "properties": {
                    "type": {"const": "listText"},
                    "flavor": {"type": "string"},
                    "text": {"type": "string"},
                    "body": {"type": "array", "items": {"type": "string"}},
                    "inputActions": {"type": "array", "items": action},
                },
            },
            {
                "type": "object",
                "required": ["type", "cardTitles"],
                "properties": {
                    "type": {"const": "listRich"},
                    "flavor": {"type": "string"},
                    "text": {"type": "string"},
                    "cardTitles": {"type": "array", "items": {"type": "string"}},
                    "cardDescriptions": {"type": "array", "items": {"type": "string"}},
                    "fileUrls": {"type": "array", "items": {"type": "string"}},
                    "cardInputActions": {"type": "array", "items": {"type": "array", "items": action}},
                    "mainInputActions": {"type": "array", "items": action},
                },
            },
        ],
    }
