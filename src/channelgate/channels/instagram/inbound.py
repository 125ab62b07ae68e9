"""Instagram webhooks (``object: instagram``) → inbound events.

Every entry's ``messaging`` items and ``changes``, in order, one at a time (:func:`inbound.each`), so one
unreadable item is skipped with its reason and the rest are kept:

==========================================  =============================================================
text                                        ``text`` input (a story reply too: ``reply_to.story`` stays in
                                            ``raw``)
quick-reply tap (``quick_reply.payload``)   ``postback`` input, titled with the tapped text
image, video, audio, file attachment        ``media`` input with the CDN URL (Messenger's reading)
share, ig_post, story_mention, ig_reel,     ``event`` input named after the attachment type, with all its
reel and any other attachment type          fields (a post share carrying both ``share`` and ``ig_post``
                                            gives the ``ig_post`` alone)
``is_deleted`` (the user unsent it)         ``message_deleted`` event
``is_unsupported``, or nothing readable     ``unsupported`` event with the whole message
``message_edit``                            ``message_edit`` event
``read`` with a ``mid`` (messaging_seen)    read :class:`StatusUpdate` for that message
``is_echo`` (the account's own message)     skipped with that reason (logged and counted)
postback, reaction, referral, optin,        as Messenger reads them (:func:`messenger.inbound.parse_event`):
handover, watermark receipts                ``postback`` input, ``reaction``/``referral``/… events
``changes`` with a messaging ``value``      read as the messaging item it holds (the App Dashboard's test)
other ``changes`` (comments, live_comments)  an event named after the field with the value, from
                                            ``value.from``; one naming no user (``mentions``) is skipped
                                            with that reason
==========================================  =============================================================

Dedup keys: the ``mid`` for messages (``mid#n`` for a message's further inputs), ``deleted:``/``edit:`` +
``mid`` for unsends and edits, ``read:`` + user + ``mid`` for read receipts, Messenger's keys for the rest.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import orjson

from channelgate.channels.base import BadRequest, InboundEvent, InboundMessage, StatusUpdate, WebhookRequest
from channelgate.channels.inbound import SkipEvent, array, each, ident, mapping, skips_of, string
from channelgate.channels.messenger.inbound import attachment_input, epoch
from channelgate.channels.messenger.inbound import parse_event as messenger_event
from channelgate.channels.meta.webhook import obj
from channelgate.turns import EventInput, Input, PostbackInput, TextInput, User

#: attachment types Messenger's reading turns into media inputs
MEDIA_KINDS = frozenset({"image", "video", "audio", "file"})


class InstagramInbound:
    """Reads one integration's webhooks: entries for its Instagram account only."""

    def __init__(self, account_id: str, log: logging.Logger, label: str) -> None:
        self.account_id = account_id
        self.log = log
        self.label = label

    def parse(self, request: WebhookRequest, entries: list[Any]) -> list[InboundEvent]:
        """An entry for another account of the same app is skipped, not refused: Meta has one callback
        URL per app, and a 4xx would make it redeliver events this integration can never accept."""
        events: list[InboundEvent] = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise BadRequest("every entry must be an object")
            account = str(entry.get("id"))
            if account != self.account_id and account != "0":  # "0": the App Dashboard's test sample
                skips_of(request).add(f"entry for Instagram account {account[:64]!r}, not this integration's")
                continue
            messaging = entry.get("messaging") or []
            changes = entry.get("changes") or []
            if not isinstance(messaging, list) or not isinstance(changes, list):
                raise BadRequest("'entry[].messaging' and 'entry[].changes' must be lists")
            standby = entry.get("standby")
            if isinstance(standby, list) and standby:
                self.log.info(
                    "instagram %s: %d standby event(s) not answered: another app owns the thread",
                    self.label,
                    len(standby),
                )
            events.extend(each(request, messaging, parse_item, "messaging"))
            events.extend(each(request, changes, parse_change, "changes"))
        return events


def parse_item(event: Any) -> list[InboundEvent]:
    """The events in one ``messaging`` item. Raises SkipEvent for an echo or an undocumented item."""
    event = mapping(event, "messaging item")
    if isinstance(event.get("message"), dict):
        return _message(event, event["message"])
    edit = event.get("message_edit")
    if isinstance(edit, dict):
        mid = ident(edit.get("mid"), "message_edit.mid")
        key = f"edit:{mid}:{_scalar(edit.get('num_edit'))}"
        return [_inbound(key, _sender(event), EventInput(name="message_edit", data=edit), event, mid)]
    read = event.get("read")
    if isinstance(read, dict) and read.get("mid") is not None:
        user_id = _sender(event)
        mid = ident(read.get("mid"), "read.mid")
        return [
            StatusUpdate(
                dedup_key=f"read:{user_id}:{mid}",
                user_id=user_id,
                status="read",
                platform_message_id=mid,
                raw=event,
            )
        ]
    return messenger_event(event)


def parse_change(change: Any) -> list[InboundEvent]:
    """One ``changes`` item: a messaging item in the changes form, or another field's value as an event."""
    change = mapping(change, "change")
    field = string(change.get("field"), "change.field")
    if not field:
        raise SkipEvent("a change without a field")
    value = mapping(change.get("value"), f"{field} value")
    if isinstance(value.get("sender"), dict):
        return parse_item(value)
    sender = obj(value.get("from"))
    user_id = string(sender.get("id"), f"{field}.from.id")
    if not user_id:
        raise SkipEvent(f"a {field} change names no user (no value.from.id), so there is nobody to answer")
    item = string(value.get("id"), f"{field}.id") or hashlib.sha256(orjson.dumps(value)).hexdigest()[:32]
    return [
        InboundMessage(
            dedup_key=f"{field}:{item}",
            user=User(id=user_id, name=string(sender.get("username"), f"{field}.from.username")),
            input=EventInput(name=field, data=value),
            raw=change,
            timestamp=epoch(value.get("timestamp")),
        )
    ]


def _message(event: dict[str, Any], message: dict[str, Any]) -> list[InboundEvent]:
    if message.get("is_echo"):
        raise SkipEvent("an echo of a message the account sent (is_echo), not a user's turn")
    user_id = _sender(event)
    mid = string(message.get("mid"), "message.mid") or f"message:{user_id}:{_scalar(event.get('timestamp'))}"
    if message.get("is_deleted"):
        return [
            _inbound(f"deleted:{mid}", user_id, EventInput(name="message_deleted", data=message), event, mid)
        ]
    text = string(message.get("text"), "message.text")
    quick_reply = message.get("quick_reply")
    if isinstance(quick_reply, dict) and quick_reply.get("payload") is not None:
        payload = string(quick_reply["payload"], "quick_reply.payload") or ""
        return [_inbound(mid, user_id, PostbackInput(payload=payload, title=text), event, mid)]
    inputs: list[Input] = []
    if message.get("is_unsupported"):
        inputs.append(EventInput(name="unsupported", data=message))
    elif text:
        inputs.append(TextInput(text=text))
    attachments = [a for a in array(message.get("attachments"), "attachments") if isinstance(a, dict)]
    if any(a.get("type") == "ig_post" for a in attachments):
        # a post share carries the old "share" attachment beside "ig_post" until 2026-02 (Meta changelog)
        attachments = [a for a in attachments if a.get("type") != "share"]
    for attachment in attachments:
        parsed = _attachment(attachment)
        if parsed is not None:
            inputs.append(parsed)
    if not inputs:
        inputs.append(EventInput(name="unsupported", data=message))
    return [
        _inbound(mid if i == 0 else f"{mid}#{i}", user_id, item, event, mid) for i, item in enumerate(inputs)
    ]


def _attachment(attachment: dict[str, Any]) -> Input | None:
    kind = string(attachment.get("type"), "attachment.type")
    if kind in MEDIA_KINDS:
        return attachment_input(attachment)
    if not attachment:
        return None
    return EventInput(name=kind or "attachment", data=attachment)


def _sender(event: dict[str, Any]) -> str:
    return ident(obj(event.get("sender")).get("id"), "sender.id")


def _scalar(value: Any) -> str:
    if isinstance(value, dict | list):
        raise SkipEvent("a timestamp or counter is not a scalar")
    return str(value)


def _inbound(key: str, user_id: str, input: Input, event: dict[str, Any], mid: str | None) -> InboundMessage:
    return InboundMessage(
        dedup_key=key,
        user=User(id=user_id),
        input=input,
        raw=event,
        platform_message_id=mid,
        timestamp=epoch(event.get("timestamp")),
    )
