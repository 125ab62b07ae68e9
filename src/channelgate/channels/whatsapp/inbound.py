"""WhatsApp Cloud API webhooks → inbound events.

``entry[].changes[].value`` of the ``messages`` field. Every message type becomes an input (text, media by
id, location, shared contacts, reply-button and list taps, template quick-reply buttons, reactions, flows,
system notices, edits and revokes, call permission replies; a type it does not know arrives as an
``unsupported`` event carrying all the message's fields), ``statuses[]`` become message statuses,
``errors[]`` are logged. Users are identified by their phone number (``wa_id``/``from``) when the payload
has one, else by the business-scoped user id (``user_id``, Meta's BSUID of 2026, e.g.
``US.13491208655302741918``), so users with a username and no visible number work too. Webhooks for another
phone number of the same app are skipped with a reason. Dedup keys: the wamid for messages and
``{wamid}:{status}`` for statuses. Media is never passed to the bot as a URL (downloading it needs the
access token): the bot gets the media id and fetches it through the gateway (``download_media``).
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
    each,
    load_json,
    mapping,
    number,
    optional_number,
    skips_of,
    string,
)
from channelgate.channels.meta.webhook import obj
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

_MEDIA_TYPES = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "document": "file",
    "sticker": "sticker",
}
_STATUSES: dict[str, StatusName] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "read",
    "failed": "failed",
}
#: A message's envelope: who sent it, its id and when, which the turn carries in its own fields.
_ENVELOPE_FIELDS = frozenset({"from", "from_user_id", "id", "timestamp"})


class WhatsAppInbound:
    """Reads one integration's webhooks: only changes for its phone number (and account, when set)."""

    def __init__(
        self, phone_number_id: str, business_account_id: str | None, log: logging.Logger, label: str
    ) -> None:
        self.phone_number_id = phone_number_id
        self.business_account_id = business_account_id
        self.log = log
        self.label = label

    def parse(self, request: WebhookRequest, entries: list[Any]) -> list[InboundEvent]:
        """Every entry's changes, one platform event at a time (:func:`inbound.each`). Changes for another
        phone number or account are skipped with a reason, not refused: Meta has one callback URL per app."""
        events: list[InboundEvent] = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("changes") or [], list):
                raise BadRequest("every entry must be an object with a 'changes' list")
            account = self.business_account_id
            if account and str(entry.get("id")) != account:
                self.log.info(
                    "whatsapp %s: ignored a webhook for account %s", self.label, str(entry.get("id"))[:64]
                )
                continue
            for change in entry.get("changes") or []:
                if isinstance(change, dict):
                    events.extend(self.change(request, change))
        return events

    def change(self, request: WebhookRequest, change: dict[str, Any]) -> list[InboundEvent]:
        field, value = change.get("field"), change.get("value")
        if field != "messages":
            # the app's other subscriptions (template status, quality, account updates): not a user's doing
            self.log.info("whatsapp %s: ignored a %r change", self.label, str(field)[:64])
            return []
        if not isinstance(value, dict):
            skips_of(request).add("a 'messages' change without a value object")
            return []
        number = obj(value.get("metadata")).get("phone_number_id")
        if str(number) != self.phone_number_id:
            # fail closed: a change that does not name this integration's number is not for it
            skips_of(request).add(
                f"change for phone number id {str(number)[:64]!r}, not {self.phone_number_id}"
            )
            return []
        for error in array_or_empty(value.get("errors")):
            self.log.warning("whatsapp %s: platform error %s", self.label, describe_error(error))
        contacts = [c for c in array_or_empty(value.get("contacts")) if isinstance(c, dict)]

        def message(item: Any) -> list[InboundEvent]:
            item = mapping(item, "message")
            parsed = parse_message(item, contacts)
            if parsed is None:
                raise SkipEvent(f"message {str(item.get('id'))[:128]} has no sender id")
            for error in array_or_empty(item.get("errors")):
                self.log.warning("whatsapp %s: message error %s", self.label, describe_error(error))
            return [parsed]

        def status(item: Any) -> list[InboundEvent]:
            return [parse_status(mapping(item, "status"), contacts)]

        return [
            *each(request, array_or_empty(value.get("messages")), message, "messages"),
            *each(request, array_or_empty(value.get("statuses")), status, "statuses"),
        ]


def describe_error(error: Any) -> str:
    """A WhatsApp ``errors[]`` item as one human line."""
    if not isinstance(error, dict):
        return str(error)
    data = obj(error.get("error_data"))
    text = f"{error.get('code')}: {error.get('title') or error.get('message') or 'error'}"
    details = data.get("details")
    return f"{text} ({details})" if details else text


def array_or_empty(value: Any) -> list[Any]:
    """A list the payload documents, or nothing: errors, contacts, messages and statuses are read this way,
    so that one malformed part does not cost the others."""
    return value if isinstance(value, list) else []


def _sender(message: dict[str, Any], contacts: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """The user id (phone number when there is one, else BSUID) and the contact of that sender.

    The profile name is taken only from a contact whose ``wa_id`` (or ``user_id``) is the sender's: a webhook
    can carry a contact that is someone else (pywa's ``revoke`` sample names ``972987654321`` for another
    sender), and a name taken from it would be shown, and stored, as the wrong person's. A lone contact stands
    in only when the message names no sender at all, since it is then the only source of the id."""
    phone = string(message.get("from"), "from")
    bsuid = string(message.get("from_user_id"), "from_user_id")
    contact: dict[str, Any] = {}
    for candidate in contacts:
        if (phone and candidate.get("wa_id") == phone) or (bsuid and candidate.get("user_id") == bsuid):
            contact = candidate
            break
    else:
        if len(contacts) == 1 and not phone and not bsuid:
            contact = contacts[0]
    user_id = (
        phone
        or string(contact.get("wa_id"), "contacts[].wa_id")
        or bsuid
        or string(contact.get("user_id"), "contacts[].user_id")
    )
    return user_id, contact


def parse_message(message: dict[str, Any], contacts: list[dict[str, Any]]) -> InboundMessage | None:
    """One message, or None when it names no sender. Raises SkipEvent for fields of the wrong type."""
    user_id, contact = _sender(message, contacts)
    wamid = string(message.get("id"), "message id")
    if not user_id or not wamid:
        return None
    profile = obj(contact.get("profile"))
    name = string(profile.get("name"), "profile.name") or string(profile.get("username"), "profile.username")
    return InboundMessage(
        dedup_key=wamid,
        user=User(id=user_id, name=name),
        input=message_input(message),
        raw=message,
        platform_message_id=wamid,
        timestamp=optional_number(message.get("timestamp")),
    )


def message_input(message: dict[str, Any]) -> Input:
    kind = string(message.get("type"), "type") or ""
    body = obj(message.get(kind))
    if kind == "text":
        return TextInput(text=string(body.get("body"), "text.body") or "")
    if kind in _MEDIA_TYPES:
        return MediaInput(
            kind=_MEDIA_TYPES[kind],
            media_id=string(body.get("id"), f"{kind}.id"),
            mime_type=string(body.get("mime_type"), f"{kind}.mime_type"),
            caption=string(body.get("caption"), f"{kind}.caption"),
        )
    if kind == "location":
        return LocationInput(
            latitude=number(body.get("latitude", 0), "location.latitude"),
            longitude=number(body.get("longitude", 0), "location.longitude"),
            name=string(body.get("name"), "location.name"),
            address=string(body.get("address"), "location.address"),
        )
    if kind == "interactive":
        return _interactive_input(body)
    if kind == "button":  # a quick-reply button of a template
        text = string(body.get("text"), "button.text")
        return PostbackInput(payload=string(body.get("payload"), "button.payload") or text or "", title=text)
    if kind == "reaction":
        return EventInput(
            name="reaction", data={"message_id": body.get("message_id"), "emoji": body.get("emoji")}
        )
    if kind == "contacts":
        return EventInput(name="contacts", data={"contacts": message.get("contacts") or []})
    if kind == "request_welcome":
        return EventInput(name="welcome_request")
    if kind in ("system", "order", "edit", "revoke"):
        # edit: {original_message_id, message: the new content}; revoke: {original_message_id}
        return EventInput(name=kind, data=body)
    # A type this gateway does not read (or WhatsApp's own "unsupported", with its errors): every field of the
    # message but the envelope (sender, id, timestamp: on the turn already), so the bot loses nothing.
    fields = {k: v for k, v in message.items() if k not in _ENVELOPE_FIELDS}
    return EventInput(name="unsupported", data={"type": kind, **fields})


def _interactive_input(body: dict[str, Any]) -> Input:
    kind = string(body.get("type"), "interactive.type")
    reply = obj(body.get(str(kind)))
    if kind in ("button_reply", "list_reply"):
        return PostbackInput(
            payload=string(reply.get("id"), f"{kind}.id") or "", title=string(reply.get("title"), "title")
        )
    if kind == "nfm_reply":  # a WhatsApp Flow's answer
        text = string(reply.get("response_json"), "nfm_reply.response_json") or "{}"
        try:
            response = load_json(text, "nfm_reply.response_json")
        except BadRequest as exc:
            if "not valid JSON" not in exc.reason:
                raise SkipEvent(exc.reason) from None
            response = {"response_json": text}
        return EventInput(
            name="flow_reply",
            data={"name": string(reply.get("name"), "nfm_reply.name"), "response": response},
        )
    if kind == "call_permission_reply":  # the user's answer to a call permission request
        return EventInput(name="call_permission_reply", data=reply)
    return EventInput(name="unsupported", data={"type": f"interactive/{kind}", "interactive": body})


def parse_status(status: dict[str, Any], contacts: list[dict[str, Any]]) -> StatusUpdate:
    """One status of a message the gateway sent. A status this gateway does not track (``deleted``,
    ``warning``) or one without a message id raises SkipEvent: skipped with its reason, not in silence."""
    sent_status = string(status.get("status"), "status.status")
    name = _STATUSES.get(str(sent_status))
    wamid = string(status.get("id"), "status.id")
    if not wamid:
        raise SkipEvent(f"status {str(sent_status)[:64]!r} names no message id")
    if name is None:
        raise SkipEvent(f"status {str(sent_status)[:64]!r} of {wamid[:128]} is not one this channel tracks")
    user_id = string(status.get("recipient_id"), "recipient_id") or string(
        status.get("recipient_user_id"), "recipient_user_id"
    )
    if not user_id and len(contacts) == 1:
        user_id = string(contacts[0].get("wa_id"), "wa_id") or string(contacts[0].get("user_id"), "user_id")
    reason = None
    if name == "failed":
        reason = "; ".join(describe_error(e) for e in array_or_empty(status.get("errors"))) or "failed"
    return StatusUpdate(
        dedup_key=f"{wamid}:{sent_status}",
        user_id=user_id or "",
        status=name,
        platform_message_id=wamid,
        reason=reason,
        raw=status,
    )
