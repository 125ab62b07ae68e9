"""LINE webhooks → inbound events.

A webhook is ``{"destination": <bot user id>, "events": [...]}`` (an empty list when the Console's "Verify"
button or ``/webhook/test`` checks the URL). Every event carries ``type``, ``mode`` (``active`` or
``standby``), ``timestamp`` (ms), ``source``, ``webhookEventId`` (a ULID: the dedup key, the same in a
redelivery, which also sets ``deliveryContext.isRedelivery``) and, on events a bot may answer, a
``replyToken``.

=============================  ===============================================================================
``message`` text               text
``message`` image/video/audio  media: ``media_id`` = the message id when LINE stores the content (fetched
and file                       through the gateway with the channel's token), ``url`` when it is external
``message`` location           location (``title`` → name, ``address``)
``message`` sticker            media ``sticker`` (``media_id`` ``<packageId>/<stickerId>``; the sticker's
                               ``keywords`` and ``text`` stay in ``raw``)
``message`` of another type    event ``message`` with the message
``postback``                   postback with its ``data``; with ``params`` (a date/time picker's choice, a
                               rich menu switch) an event ``postback`` carrying ``data`` and ``params``
``messageEdited``              event ``edit``: ``original_message_id`` and the edited message
anything else                  an event named for its type with all the event's own fields: ``follow``
                               (``isUnblocked``), ``unfollow``, ``join``, ``leave``, ``memberJoined``,
                               ``memberLeft``, ``unsend``, ``beacon``, ``accountLink``, ``videoPlayComplete``,
                               ``membership``, ``module``, ``activated``, ``deactivated``, ``botSuspended``,
                               ``botResumed``, ``delivery`` and types LINE adds later
``mode: standby``              event ``standby`` with all the event's fields: another module channel is
                               answering, so the bot hears it but has no reply token (LINE: do not reply)
=============================  ===============================================================================

The conversation is where a reply goes: the group or room for a group or room event (the sender's own id
stays in ``raw.source.userId``), else the user. An event with no source at all (channel-level events such as
``botSuspended``) belongs to the bot's own conversation, ``destination``. The reply token becomes the
event's ``platform_message_id``: it is what a reply to this event uses (``channel.py``).
"""

from __future__ import annotations

from typing import Any

from channelgate.channels.base import BadRequest, InboundEvent, InboundMessage
from channelgate.channels.inbound import (
    SkipEvent,
    id_problem,
    ident,
    load_json,
    mapping,
    number,
    optional_number,
    string,
)
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

#: Fields every event has; the others are the event's own (``follow``, ``beacon``, ``link``...).
ENVELOPE = frozenset(
    {"type", "mode", "timestamp", "source", "webhookEventId", "deliveryContext", "replyToken"}
)
#: Reply tokens LINE's webhook verification used to send: they cannot be used.
DUMMY_TOKENS = frozenset({"00000000000000000000000000000000", "ffffffffffffffffffffffffffffffff"})
MEDIA_KINDS = {"image": "image", "video": "video", "audio": "audio", "file": "file"}


class Envelope:
    """What ``authenticate`` decoded: the webhook's destination and its events, unread."""

    __slots__ = ("destination", "events")

    def __init__(self, destination: str | None, events: list[Any]) -> None:
        self.destination = destination
        self.events = events


def decode(body: bytes) -> Envelope:
    """The webhook's envelope, or BadRequest: LINE posts one JSON object with an ``events`` list."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object with an 'events' list")
    events = data.get("events")
    if not isinstance(events, list):
        raise BadRequest("'events' must be a list")
    destination = data.get("destination")
    return Envelope(destination if isinstance(destination, str) and destination else None, events)


def parse_event(event: Any, destination: str | None) -> list[InboundEvent]:
    """The inbound event for one LINE event, or SkipEvent with the reason."""
    event = mapping(event, "event")
    if event.get("type") in (None, ""):
        raise SkipEvent("the event has no type")
    kind = ident(event.get("type"), "type", 64)  # it names the event input: no control characters
    user, sender = conversation(event.get("source"), destination)
    reply_token = string(event.get("replyToken"), "replyToken")
    if event.get("mode") == "standby":
        input_: Input = EventInput(name="standby", data={"type": kind, **own_fields(event)})
        reply_token = None
    elif kind == "message":
        input_ = message_input(mapping(event.get("message"), "message"))
    elif kind == "postback":
        input_ = postback_input(mapping(event.get("postback"), "postback"))
    elif kind == "messageEdited":
        message = mapping(event.get("message"), "message")
        original = ident(message.get("id"), "message.id")
        input_ = EventInput(name="edit", data={"original_message_id": original, "message": message})
    else:
        input_ = EventInput(name=kind, data=own_fields(event))
    if reply_token is not None and (reply_token in DUMMY_TOKENS or id_problem(reply_token)):
        reply_token = None  # the Console's old "Verify" tokens, or one no store could keep: push instead
    timestamp = optional_number(event.get("timestamp"))
    return [
        InboundMessage(
            dedup_key=dedup_key(event, kind, user.id, sender),
            user=user,
            input=input_,
            raw=event,
            platform_message_id=reply_token,
            timestamp=timestamp / 1000 if timestamp is not None else None,
        )
    ]


def own_fields(event: dict[str, Any]) -> dict[str, Any]:
    """The event's own fields (``follow``, ``joined``, ``beacon``...), without every event's envelope."""
    return {key: value for key, value in event.items() if key not in ENVELOPE}


def conversation(source: Any, destination: str | None) -> tuple[User, str | None]:
    """The conversation's user (the group, the room, else the user) and the sender's user id."""
    if source is None:
        if destination is None:
            raise SkipEvent("the event has no source and the webhook no destination")
        return User(id=ident(destination, "destination")), None
    source = mapping(source, "source")
    sender = string(source.get("userId"), "source.userId")
    kind = source.get("type")
    if kind == "group":
        return User(id=ident(source.get("groupId"), "source.groupId")), sender
    if kind == "room":
        return User(id=ident(source.get("roomId"), "source.roomId")), sender
    return User(id=ident(sender, "source.userId")), sender


def dedup_key(event: dict[str, Any], kind: str, chat: str, sender: str | None) -> str:
    """``webhookEventId``, LINE's dedup key. Events from before it existed (some test tools still send
    them) get one built from what identifies them."""
    event_id = string(event.get("webhookEventId"), "webhookEventId")
    if event_id is not None:
        return ident(event_id, "webhookEventId")
    message = event.get("message")
    message_id = string(message.get("id"), "message.id") if isinstance(message, dict) else None
    stamp = event.get("timestamp")
    if isinstance(stamp, dict | list):
        raise SkipEvent("timestamp is not a number")
    return f"{kind}:{chat}:{sender or ''}:{stamp}:{message_id or ''}"


def message_input(message: dict[str, Any]) -> Input:
    """A message event's content as an input; a message type this channel does not know is an event."""
    kind = string(message.get("type"), "message.type")
    if kind == "text":
        text = string(message.get("text"), "message.text")
        if text is None:
            raise SkipEvent("a text message without text")
        return TextInput(text=text)
    if kind in MEDIA_KINDS:
        message_id = ident(message.get("id"), "message.id")
        provider = message.get("contentProvider")
        provider = provider if isinstance(provider, dict) else {}
        if provider.get("type") == "external":
            url = string(provider.get("originalContentUrl"), "originalContentUrl")
            return MediaInput(kind=MEDIA_KINDS[kind], url=url, media_id=None if url else message_id)
        return MediaInput(kind=MEDIA_KINDS[kind], media_id=message_id)
    if kind == "location":
        return LocationInput(
            latitude=number(message.get("latitude"), "latitude"),
            longitude=number(message.get("longitude"), "longitude"),
            name=string(message.get("title"), "title"),
            address=string(message.get("address"), "address"),
        )
    if kind == "sticker":
        package = ident(message.get("packageId"), "packageId")
        sticker = ident(message.get("stickerId"), "stickerId")
        return MediaInput(kind="sticker", media_id=f"{package}/{sticker}")
    return EventInput(name="message", data={"message": message})


def postback_input(postback: dict[str, Any]) -> Input:
    """A button's ``data`` as a postback; a picker's choice (``params``) would be lost there, so a
    postback with params is an event that keeps both."""
    data = string(postback.get("data"), "postback.data")
    params = postback.get("params")
    if params not in (None, {}):
        return EventInput(name="postback", data={"data": data, "params": params})
    if data is None:
        raise SkipEvent("a postback without data")
    return PostbackInput(payload=data)


__all__ = ["Envelope", "decode", "parse_event"]
