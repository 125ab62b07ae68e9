"""An RBM webhook → inbound events.

Events arrive in the Pub/Sub push shape, ``{"message": {"data": <base64>, ...}}``, where ``data`` is the
JSON of a ``UserMessage`` or ``UserEvent``. :func:`push_data` decodes it once, for the signature (which
covers the decoded bytes); the channel hands those bytes to :func:`parse` through ``Verified.content``.

* A user message: text, a suggestion tap (→ postback; a tap may be a UserEvent with an ``eventId`` and no
  ``messageId``, as in Google's own example), a shared location, a file (→ media by URL).
* ``DELIVERED`` / ``READ`` → statuses (dedup on ``eventId`` + phone number, as the reference says); a message
  that expired and was revoked (``TTL_EXPIRATION_REVOKED``) → failed; ``SUBSCRIBE`` / ``UNSUBSCRIBE`` →
  ``subscribed`` / ``unsubscribed`` events; ``IS_TYPING`` and ``TTL_EXPIRATION_REVOKE_FAILED`` hold nothing
  for the bot (docs/channels/rbm.md); anything else is skipped with its reason (logged and counted).
* An event for another agent is skipped, not refused: one partner webhook may serve every agent.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any, Literal

import orjson

from channelgate.channels.base import (
    BadRequest,
    InboundEvent,
    InboundMessage,
    StatusName,
    StatusUpdate,
    WebhookRequest,
)
from channelgate.channels.google.fields import as_dict, as_str, parse_time
from channelgate.channels.inbound import SkipEvent, each, load_json, skips_of
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

log = logging.getLogger("channelgate.channels.rbm")

MediaKind = Literal["image", "video", "audio", "file"]
_STATUSES: dict[str, StatusName] = {"DELIVERED": "delivered", "READ": "read"}
#: User events that are the user's choice: an ``event`` input each (RBM's user-events guide: "User
#: unsubscribes from the conversation" / "User resubscribes to the conversation"). The names match WeChat's.
_SUBSCRIPTIONS = {"SUBSCRIBE": "subscribed", "UNSUBSCRIBE": "unsubscribed"}
#: Events with nothing in them for a bot: a typing indicator, and an expired message whose revocation
#: failed (it may still be delivered; a DELIVERED event follows if it is).
_QUIET_EVENTS = frozenset({"IS_TYPING", "TTL_EXPIRATION_REVOKE_FAILED"})


def push_data(body: bytes) -> bytes | None:
    """The decoded ``message.data`` of a push body, or None when the body does not carry one."""
    try:
        outer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    data = as_str(as_dict(as_dict(outer).get("message")).get("data"))
    if data is None:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:  # some push senders use the URL-safe alphabet, which Node's decoder also accepts
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None


def parse(request: WebhookRequest, data: object, agent_id: str) -> list[InboundEvent]:
    """The events of an authenticated push (``data``: the decoded ``message.data`` the signature covered)."""
    if not isinstance(data, bytes):
        raise BadRequest("the body carries no base64 message.data")
    event = load_json(data, "message.data")
    if not isinstance(event, dict):
        raise BadRequest("message.data is not a JSON object")
    agent = as_str(event.get("agentId"))
    if agent is None or agent.split("@", 1)[0] != agent_id:
        # Skipped, not refused: one partner webhook may serve every agent, and Google holds the whole
        # partner queue back while a webhook answers non-2xx. Fails closed: no agentId, no event.
        skips_of(request).add(
            f"event for agent {(agent or 'none')[:128]!r}, not this integration's {agent_id}"
        )
        return []
    return each(request, [event], _event if "eventType" in event else _user_message, "event")


def _user_message(event: dict[str, Any]) -> list[InboundEvent]:
    sender = as_str(event.get("senderPhoneNumber"))
    message_id = as_str(event.get("messageId"))
    key = message_id or as_str(event.get("eventId"))
    if sender is None or key is None:
        raise SkipEvent(f"no senderPhoneNumber, or neither messageId nor eventId (fields: {sorted(event)})")
    input = _user_input(event)
    if input is None:
        raise SkipEvent(f"message {key[:128]} has no content this channel reads (fields: {sorted(event)})")
    return [
        InboundMessage(
            dedup_key=key,
            user=User(id=sender),
            input=input,
            raw=event,
            platform_message_id=message_id,
            timestamp=parse_time(event.get("sendTime")),
        )
    ]


def _user_input(event: dict[str, Any]) -> Input | None:
    text = as_str(event.get("text"))
    if text is not None:
        return TextInput(text=text)
    suggestion = as_dict(event.get("suggestionResponse"))
    if suggestion:
        title = as_str(suggestion.get("text"))
        payload = as_str(suggestion.get("postbackData")) or title
        return PostbackInput(payload=payload, title=title) if payload else None
    location = as_dict(event.get("location"))
    latitude, longitude = location.get("latitude"), location.get("longitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        return LocationInput(latitude=float(latitude), longitude=float(longitude))
    file = as_dict(as_dict(event.get("userFile")).get("payload"))
    uri = as_str(file.get("fileUri"))
    if uri is not None:
        mime = as_str(file.get("mimeType"))
        return MediaInput(kind=_media_kind(mime), url=uri, mime_type=mime)
    return None


def _media_kind(mime: str | None) -> MediaKind:
    major = (mime or "").split("/", 1)[0]
    if major == "image":
        return "image"
    if major == "video":
        return "video"
    return "audio" if major == "audio" else "file"


def _event(event: dict[str, Any]) -> list[InboundEvent]:
    event_type = as_str(event.get("eventType")) or ""
    if event_type in _STATUSES:
        sender, event_id = as_str(event.get("senderPhoneNumber")), as_str(event.get("eventId"))
        if sender is None or event_id is None:
            raise BadRequest(f"{event_type} event without senderPhoneNumber or eventId")
        return [
            StatusUpdate(
                dedup_key=f"{event_id}:{sender}",
                user_id=sender,
                status=_STATUSES[event_type],
                platform_message_id=as_str(event.get("messageId")),
                raw=event,
            )
        ]
    if event_type == "TTL_EXPIRATION_REVOKED":
        phone, event_id = as_str(event.get("phoneNumber")), as_str(event.get("eventId"))
        if phone is None or event_id is None:
            raise BadRequest("TTL_EXPIRATION_REVOKED event without phoneNumber or eventId")
        return [
            StatusUpdate(
                dedup_key=f"{event_id}:{phone}",
                user_id=phone,
                status="failed",
                platform_message_id=as_str(event.get("messageId")),
                reason="the message expired before delivery and was revoked",
                raw=event,
            )
        ]
    if event_type in _SUBSCRIPTIONS:
        return [_subscription(event, event_type)]
    if event_type in _QUIET_EVENTS:
        log.debug("rbm: %s event ignored: nothing for the bot", event_type)
        return []
    raise SkipEvent(f"event type {event_type[:64]!r} is not one this channel reads")


def _subscription(event: dict[str, Any], event_type: str) -> InboundEvent:
    sender, event_id = as_str(event.get("senderPhoneNumber")), as_str(event.get("eventId"))
    if sender is None or event_id is None:
        raise SkipEvent(f"{event_type} event without senderPhoneNumber or eventId")
    data = {k: v for k, v in event.items() if k not in ("senderPhoneNumber", "agentId", "eventType")}
    return InboundMessage(
        dedup_key=f"{event_id}:{sender}",
        user=User(id=sender),
        input=EventInput(name=_SUBSCRIPTIONS[event_type], data=data or None),
        raw=event,
        timestamp=parse_time(event.get("sendTime")),
    )
