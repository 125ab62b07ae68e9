"""Messenger webhooks → inbound events.

Every ``entry`` and every ``messaging`` event of a webhook, in order. Text, quick-reply taps and postbacks,
attachments (media by CDN URL, location), referrals, opt-ins (a checkbox-plugin opt-in without a sender is
the ``user_ref``'s), reactions, the other documented events (:data:`EVENT_FIELDS`) and delivery/read
receipts (watermarks) become events; a message with nothing this channel reads is an ``unsupported`` event
carrying all its fields, an attachment it cannot type a ``shared`` event; the page's own echoes are ignored,
``standby`` events (another app owns the thread) are logged; anything else is skipped with its reason logged
and counted. Dedup keys are the ``mid`` for messages and postbacks; receipts have no id, so
their key is built from the user and the watermark.
"""

from __future__ import annotations

import logging
from typing import Any

from channelgate.channels.base import (
    BadRequest,
    InboundEvent,
    InboundMessage,
    StatusName,
    StatusUpdate,
    WebhookRequest,
)
from channelgate.channels.inbound import (
    SkipEvent,
    array,
    each,
    ident,
    mapping,
    number,
    optional_number,
    skips_of,
    string,
)
from channelgate.channels.meta.webhook import obj
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

_MEDIA_KINDS = {"image", "video", "audio", "file", "sticker"}

#: Documented ``messaging`` events that carry no message: each becomes an ``event`` input named after its
#: field, with the field's object as data (``message_request`` is a bare string: ``{"message_request":
#: "accept"}``). Account linking, game plays, payments and checkout, message requests, handover protocol and
#: feedback are in Meta's webhook reference; without this table they vanished without a log line. ``order``
#: is a cart the user sent to the Page (the ``send_cart`` webhook).
EVENT_FIELDS: tuple[str, ...] = (
    "referral",
    "optin",
    "reaction",
    "account_linking",
    "game_play",
    "payment",
    "pre_checkout",
    "checkout_update",
    "message_request",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "messaging_feedback",
    "order",
)


class MessengerInbound:
    """Reads one integration's webhooks: only entries for its Page, when ``page_id`` is set."""

    def __init__(self, page_id: str | None, log: logging.Logger, label: str) -> None:
        self.page_id = page_id
        self.log = log
        self.label = label

    def parse(self, request: WebhookRequest, entries: list[Any]) -> list[InboundEvent]:
        """Every entry's ``messaging`` events, one at a time (:func:`inbound.each`). An entry for another
        Page is skipped, not refused: Meta has one callback URL per app, so a 4xx would make it redeliver
        events this integration can never accept.

        ``standby`` events (the handover protocol: the thread belongs to another app, e.g. Page Inbox while
        a person answers) are not turns: the bot must not answer them. They are logged with that reason."""
        events: list[InboundEvent] = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise BadRequest("every entry must be an object")
            page = entry.get("id")
            if self.page_id is not None and str(page) != self.page_id:
                skips_of(request).add(f"entry for page {str(page)[:64]!r}, not this integration's page")
                continue
            messaging = entry.get("messaging") or []
            if not isinstance(messaging, list):
                raise BadRequest("'entry[].messaging' must be a list")
            standby = entry.get("standby")
            if isinstance(standby, list) and standby:
                self.log.info(
                    "messenger %s: %d standby event(s) not answered: another app owns the thread "
                    "(handover protocol)",
                    self.label,
                    len(standby),
                )
            events.extend(each(request, messaging, parse_event, "messaging"))
        return events


def epoch(value: Any) -> float | None:
    """Epoch seconds from Meta's timestamps, which are milliseconds (or, in some samples, seconds)."""
    number = optional_number(value)
    if number is None:
        return None
    return number / 1000 if number > 1e11 else number


def parse_event(event: Any) -> list[InboundEvent]:
    """The events in one ``messaging`` item (a message with several attachments gives several).
    Raises SkipEvent for an item that is not what Messenger documents."""
    event = mapping(event, "messaging item")
    user_id = _user_id(event)
    timestamp = epoch(event.get("timestamp"))
    if isinstance(event.get("message"), dict):
        return _message(event, user_id, timestamp)
    if isinstance(event.get("postback"), dict):
        return [_postback(event, user_id, timestamp)]
    for name in EVENT_FIELDS:
        if event.get(name) not in (None, "", {}):
            return [_happening(event, name, user_id, timestamp)]
    if isinstance(event.get("delivery"), dict):
        return _receipts(event, "delivered", user_id)
    if isinstance(event.get("read"), dict):
        return _receipts(event, "read", user_id)
    other = sorted(k for k in event if k not in ("sender", "recipient", "timestamp"))
    raise SkipEvent(f"no event this channel reads (fields: {', '.join(other)[:200] or 'none'})")


def _user_id(event: dict[str, Any]) -> str:
    """Who the event is from: the PSID, else a ``user_ref``.

    The checkbox plugin and Customer Matching send an opt-in with no ``sender`` at all, only
    ``optin.user_ref``: that ``user_ref`` is the user's identity until they answer (Meta's only way to reach
    them is ``recipient: {"user_ref": ...}``), so it becomes the user id rather than the event being lost.
    An event naming nobody is skipped with that reason (logged and counted), never dropped in silence."""
    sender = obj(event.get("sender"))
    user_id = string(sender.get("id"), "sender.id") or string(sender.get("user_ref"), "sender.user_ref")
    if not user_id:
        user_id = string(obj(event.get("optin")).get("user_ref"), "optin.user_ref")
    if not user_id:
        raise SkipEvent("the event names no sender (no sender.id, sender.user_ref or optin.user_ref)")
    return user_id


def _inbound(
    key: str, user_id: str, input: Input, event: dict[str, Any], mid: str | None, ts: float | None
) -> InboundMessage:
    return InboundMessage(
        dedup_key=key, user=User(id=user_id), input=input, raw=event, platform_message_id=mid, timestamp=ts
    )


def _stamp(event: dict[str, Any], name: str = "timestamp") -> str:
    """A scalar as it was sent (a timestamp, a watermark), for the dedup keys of events without an id."""
    value = event.get(name)
    if isinstance(value, dict | list):
        raise SkipEvent(f"{name} is not a number")
    return str(value)


def _message(event: dict[str, Any], user_id: str, ts: float | None) -> list[InboundEvent]:
    message: dict[str, Any] = event["message"]
    if message.get("is_echo"):
        return []
    mid = string(message.get("mid"), "message.mid") or f"message:{user_id}:{_stamp(event)}"
    text = string(message.get("text"), "message.text")
    quick_reply = message.get("quick_reply")
    if isinstance(quick_reply, dict) and quick_reply.get("payload") is not None:
        payload = string(quick_reply["payload"], "quick_reply.payload") or ""
        return [_inbound(mid, user_id, PostbackInput(payload=payload, title=text), event, mid, ts)]
    inputs: list[Input] = []
    if text:
        inputs.append(TextInput(text=text))
    attachments = [a for a in array(message.get("attachments"), "attachments") if isinstance(a, dict)]
    if any(a.get("type") == "sticker" for a in attachments):
        # Until Aug 2026 a sticker arrives twice: as the new "sticker" and the old "image" attachment.
        attachments = [a for a in attachments if a.get("type") != "image"]
    for attachment in attachments:
        parsed = attachment_input(attachment)
        if parsed is not None:
            inputs.append(parsed)
    if not inputs:
        # a message with nothing this channel reads (no text, no attachment it knows): every field of it
        # reaches the bot, as WhatsApp's unknown types do, rather than the message vanishing
        inputs.append(EventInput(name="unsupported", data=message))
    return [
        _inbound(mid if i == 0 else f"{mid}#{i}", user_id, item, event, mid, ts)
        for i, item in enumerate(inputs)
    ]


def attachment_input(attachment: dict[str, Any]) -> Input | None:
    """An attachment as the input it is; one this channel cannot read as a typed input (a location without
    coordinates, a link without its URL, a type it does not know) is a ``shared`` event with all its
    fields. None only for an empty attachment."""
    kind = string(attachment.get("type"), "attachment.type") or ""
    payload = obj(attachment.get("payload"))
    coordinates = obj(payload.get("coordinates"))
    lat, lon = coordinates.get("lat"), coordinates.get("long")
    if kind == "location" and lat is not None and lon is not None:
        return LocationInput(
            latitude=number(lat, "coordinates.lat"),
            longitude=number(lon, "coordinates.long"),
            name=string(attachment.get("title"), "attachment.title"),
        )
    if kind in _MEDIA_KINDS:
        if kind == "image" and payload.get("sticker_id"):
            kind = "sticker"
        return MediaInput(kind=kind, url=string(payload.get("url"), "payload.url"))
    if kind == "fallback":  # a shared link
        text = (
            string(payload.get("url"), "payload.url")
            or string(attachment.get("url"), "attachment.url")
            or string(attachment.get("title"), "attachment.title")
        )
        if text:
            return TextInput(text=text)
    return EventInput(name="shared", data=attachment) if attachment else None


def _postback(event: dict[str, Any], user_id: str, ts: float | None) -> InboundMessage:
    postback: dict[str, Any] = event["postback"]
    mid = string(postback.get("mid"), "postback.mid") or f"postback:{user_id}:{_stamp(event)}"
    title = string(postback.get("title"), "postback.title")
    payload = string(postback.get("payload"), "postback.payload")
    if payload is None:  # only the app that sent the button gets its payload; the title is what is left
        payload = title or ""
    return _inbound(mid, user_id, PostbackInput(payload=payload, title=title), event, mid, ts)


def _happening(event: dict[str, Any], name: str, user_id: str, ts: float | None) -> InboundMessage:
    value = event[name]
    if isinstance(value, list):
        raise SkipEvent(f"{name} is a list, not what Messenger documents")
    data: dict[str, Any] = value if isinstance(value, dict) else {name: value}
    key = f"{name}:{user_id}:{_stamp(event)}"
    if name == "reaction":
        mid = string(data.get("mid"), "reaction.mid")
        action = string(data.get("action"), "reaction.action")
        key = f"reaction:{user_id}:{mid}:{action}:{_stamp(event)}"
    return _inbound(key, user_id, EventInput(name=name, data=data), event, None, ts)


def _receipts(event: dict[str, Any], status: StatusName, user_id: str) -> list[InboundEvent]:
    name = "delivery" if status == "delivered" else "read"
    receipt: dict[str, Any] = event[name]
    out: list[InboundEvent] = []
    for mid in array(receipt.get("mids"), f"{name}.mids"):
        mid = ident(mid, f"{name}.mids[]")
        out.append(
            StatusUpdate(
                dedup_key=f"{name}:{mid}",
                user_id=user_id,
                status=status,
                platform_message_id=mid,
                raw=event,
            )
        )
    watermark = receipt.get("watermark")
    if watermark is not None:
        out.append(
            StatusUpdate(
                dedup_key=f"{name}:{user_id}:{_stamp(receipt, 'watermark')}",
                user_id=user_id,
                status=status,
                watermark=epoch(number(watermark, f"{name}.watermark")),
                raw=event,
            )
        )
    return out
