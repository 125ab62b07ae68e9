"""Telegram updates → inbound events.

One webhook POST carries one ``Update``: ``update_id`` and exactly one optional field naming what happened
(Bot API, Update). Its ``update_id`` is the dedup key: Telegram redelivers an update until it is answered
2xx, and the id is what tells a redelivery apart.

==========================  ==================================================================================
``message``, ``channel_post``, ``business_message``
                            text → text; photo, video, video note, animation, voice, audio, document,
                            sticker → media (by ``file_id``, fetched through the gateway: the download URL
                            carries the token); location and venue → location; contact → event ``contact``;
                            any other content (dice, poll, payment, service messages…) → an event named
                            for it, with the whole message
``edited_*``                event ``edit``: ``original_message_id`` and the edited message
``callback_query``          postback with the button's payload (mapped ones resolved, ``callbacks.py``) and
                            its label; its id rides along as ``platform_message_id`` ``callback:<id>``, so the
                            reply first answers it (the client's spinner stops)
anything else               an event named for the update type, with all its fields (``my_chat_member`` is
                            the block/unblock signal of a private chat)
==========================  ==================================================================================

Conversations are per chat: the user id is the chat's id (a private chat's id is the user's), which is
where replies go. An update naming no chat and no user (a poll's new state) is skipped with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from channelgate.channels.base import BadRequest, InboundEvent, InboundMessage
from channelgate.channels.inbound import SkipEvent, ident, load_json, mapping, number, optional_number, string
from channelgate.channels.telegram.callbacks import is_mapped
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

#: Update fields that carry a Message.
MESSAGES = ("message", "channel_post", "business_message")
EDITS = ("edited_message", "edited_channel_post", "edited_business_message")

#: Message fields holding media, in the order they are looked for (an animation also has ``document``),
#: with the universal kind each becomes.
MEDIA: tuple[tuple[str, str], ...] = (
    ("photo", "image"),
    ("animation", "video"),
    ("video", "video"),
    ("video_note", "video"),
    ("voice", "audio"),
    ("audio", "audio"),
    ("sticker", "sticker"),
    ("document", "file"),
)

#: Message fields that describe the message rather than being its content (Bot API, Message).
ENVELOPE = frozenset(
    {
        "message_id", "message_thread_id", "from", "sender_chat", "sender_boost_count", "sender_business_bot",
        "date", "business_connection_id", "chat", "forward_origin", "forward_from", "forward_from_chat",
        "forward_from_message_id", "forward_signature", "forward_sender_name", "forward_date",
        "is_topic_message", "is_automatic_forward", "reply_to_message", "external_reply", "quote",
        "reply_to_story", "via_bot", "edit_date", "has_protected_content", "is_from_offline",
        "media_group_id", "author_signature", "entities", "caption_entities", "link_preview_options",
        "effect_id", "show_caption_above_media", "has_media_spoiler", "reply_markup", "caption",
        "paid_star_count",
    }
)  # fmt: skip


@dataclass(slots=True)
class Update:
    """What ``authenticate`` decoded, for ``check_replay`` and ``parse``: the update, and the payloads of
    mapped callback data that ``check_replay`` read back from the store."""

    data: dict[str, Any]
    callbacks: dict[str, str] = field(default_factory=dict)

    def mapped_callback(self) -> str | None:
        """The callback data to look up in the store, when this update is a tap on a mapped button."""
        query = self.data.get("callback_query")
        data = query.get("data") if isinstance(query, dict) else None
        return data if isinstance(data, str) and is_mapped(data) else None


def decode(body: bytes) -> Update:
    """The update in a webhook body, or BadRequest: Telegram posts one JSON object per request."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object (a Telegram Update)")
    return Update(data)


def parse_update(update: Update) -> list[InboundEvent]:
    """The event in one update, or SkipEvent with the reason."""
    data = update.data
    update_id = ident(data.get("update_id"), "update_id")
    kinds = [k for k, v in data.items() if k != "update_id" and isinstance(v, dict)]
    if not kinds:
        raise SkipEvent(f"the update carries nothing (fields: {', '.join(sorted(data))[:200]})")
    kind = kinds[0]
    key = f"update:{update_id}"
    content: dict[str, Any] = data[kind]
    if kind in MESSAGES:
        return [_message(key, data, content)]
    if kind in EDITS:
        return [_edit(key, data, content)]
    if kind == "callback_query":
        return [_callback(key, data, content, update.callbacks)]
    return [_other(key, data, kind, content)]


# --- who ------------------------------------------------------------------------------------------------


def person(value: Any) -> str | None:
    """A User's (or private Chat's) name: first and last name, else the @username."""
    who = value if isinstance(value, dict) else {}
    names = [string(who.get(k), k) for k in ("first_name", "last_name")]
    name = " ".join(n for n in names if n)
    username = string(who.get("username"), "username")
    return name or (f"@{username}" if username else None)


def _chat_user(chat: dict[str, Any], sender: Any) -> User:
    """The conversation's user: the chat (a private chat's id is the user's); named after the sender in a
    private chat, after the chat's title in a group or channel."""
    chat_id = ident(chat.get("id"), "chat.id")
    if chat.get("type") in (None, "private"):
        return User(id=chat_id, name=person(sender) or person(chat))
    return User(id=chat_id, name=string(chat.get("title"), "chat.title") or person(sender))


def _language(sender: Any) -> str | None:
    return string(sender.get("language_code"), "language_code") if isinstance(sender, dict) else None


# --- messages -------------------------------------------------------------------------------------------


def _message(key: str, update: dict[str, Any], message: dict[str, Any]) -> InboundMessage:
    chat = mapping(message.get("chat"), "message.chat")
    sender = message.get("from")
    return InboundMessage(
        dedup_key=key,
        user=_chat_user(chat, sender),
        input=message_input(message),
        raw=update,
        platform_message_id=ident(message.get("message_id"), "message.message_id"),
        locale_hint=_language(sender),
        timestamp=optional_number(message.get("date")),
    )


def message_input(message: dict[str, Any]) -> Input:
    """What a message says, as the most specific input there is for it."""
    text = string(message.get("text"), "message.text")
    if text is not None:
        return TextInput(text=text)
    for name, kind in MEDIA:
        if message.get(name) is not None:
            return _media(message, name, kind)
    venue = message.get("venue")
    if isinstance(venue, dict):
        where = mapping(venue.get("location"), "venue.location")
        return LocationInput(
            latitude=number(where.get("latitude"), "venue.location.latitude"),
            longitude=number(where.get("longitude"), "venue.location.longitude"),
            name=string(venue.get("title"), "venue.title"),
            address=string(venue.get("address"), "venue.address"),
        )
    location = message.get("location")
    if isinstance(location, dict):
        return LocationInput(
            latitude=number(location.get("latitude"), "location.latitude"),
            longitude=number(location.get("longitude"), "location.longitude"),
        )
    contact = message.get("contact")
    if isinstance(contact, dict):
        return EventInput(name="contact", data=contact)
    content = [k for k in message if k not in ENVELOPE]
    return EventInput(name=content[0] if content else "message", data=message)


def _media(message: dict[str, Any], name: str, kind: str) -> MediaInput:
    item = message[name]
    if name == "photo":  # the sizes of one photo, smallest first: the last is the largest
        sizes = [s for s in item if isinstance(s, dict)] if isinstance(item, list) else []
        if not sizes:
            raise SkipEvent("message.photo has no sizes")
        item = sizes[-1]
    item = mapping(item, f"message.{name}")
    mime = string(item.get("mime_type"), f"{name}.mime_type")
    if mime is None and name == "photo":
        mime = "image/jpeg"  # Telegram re-encodes photos as JPEG
    elif mime is None and name == "sticker":
        mime = (
            "video/webm"
            if item.get("is_video")
            else ("application/x-tgsticker" if item.get("is_animated") else "image/webp")
        )
    return MediaInput(
        kind=kind,
        media_id=ident(item.get("file_id"), f"{name}.file_id"),
        mime_type=mime,
        caption=string(message.get("caption"), "message.caption"),
    )


def _edit(key: str, update: dict[str, Any], message: dict[str, Any]) -> InboundMessage:
    chat = mapping(message.get("chat"), "edited message chat")
    sender = message.get("from")
    original = ident(message.get("message_id"), "edited message id")
    return InboundMessage(
        dedup_key=key,
        user=_chat_user(chat, sender),
        input=EventInput(name="edit", data={"original_message_id": original, "message": message}),
        raw=update,
        locale_hint=_language(sender),
        timestamp=optional_number(message.get("edit_date") or message.get("date")),
    )


# --- buttons --------------------------------------------------------------------------------------------


def _callback(
    key: str, update: dict[str, Any], query: dict[str, Any], callbacks: dict[str, str]
) -> InboundMessage:
    query_id = ident(query.get("id"), "callback_query.id")
    sender = mapping(query.get("from"), "callback_query.from")
    message = query.get("message")
    chat = message.get("chat") if isinstance(message, dict) else None
    user = (
        _chat_user(chat, sender)
        if isinstance(chat, dict)
        else User(id=ident(sender.get("id"), "callback_query.from.id"), name=person(sender))
    )
    data = string(query.get("data"), "callback_query.data")
    payload = callbacks.get(data, data) if data is not None else None
    if payload is None or (is_mapped(payload) and data not in callbacks):
        # a game's button, or a mapped payload the store no longer has: everything, as an event
        input: Input = EventInput(name="callback_query", data=query)
    else:
        input = PostbackInput(payload=payload, title=_button_label(message, data))
    return InboundMessage(
        dedup_key=key,
        user=user,
        input=input,
        raw=update,
        platform_message_id=f"callback:{query_id}",
        locale_hint=_language(sender),
    )


def _button_label(message: Any, data: str | None) -> str | None:
    """The text of the tapped button, found in the keyboard of the message it was on."""
    markup = message.get("reply_markup") if isinstance(message, dict) else None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            if isinstance(button, dict) and button.get("callback_data") == data:
                text = button.get("text")
                return text if isinstance(text, str) and text else None
    return None


# --- everything else ------------------------------------------------------------------------------------


def _other(key: str, update: dict[str, Any], kind: str, content: dict[str, Any]) -> InboundMessage:
    """Any other update, as an event named for its type with all its fields, in the conversation of the
    chat it names (or of the user, in their private chat with the bot)."""
    message = content.get("message")
    sender = next((content[k] for k in ("from", "user") if isinstance(content.get(k), dict)), None)
    chat = next(
        (
            c
            for c in (
                content.get("chat"),
                message.get("chat") if isinstance(message, dict) else None,
                content.get("voter_chat"),
            )
            if isinstance(c, dict)
        ),
        None,
    )
    if chat is not None:
        user = _chat_user(chat, sender)
    elif sender is not None:
        user = User(id=ident(sender.get("id"), f"{kind}.from.id"), name=person(sender))
    else:
        raise SkipEvent(f"{kind} names no chat and no user to answer")
    return InboundMessage(
        dedup_key=key,
        user=user,
        input=EventInput(name=kind, data=content),
        raw=update,
        locale_hint=_language(sender),
        timestamp=optional_number(content.get("date")),
    )
