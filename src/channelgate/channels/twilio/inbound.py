"""Twilio's form-encoded webhooks → inbound events.

One number (or Messaging Service) has one webhook URL, and the channel sets the same URL as every send's
``StatusCallback``, so two kinds of request arrive here, told apart by ``MessageStatus``:

=======================  ==========================================================================
incoming message         ``MessageSid`` is the dedup key; ``From`` the user (replies go back to it)
  text                   ``Body`` → text, or → postback when it picks a choice of the numbered menu
                         the user was last offered (``menus.py``)
  media (MMS)            ``NumMedia``, ``MediaUrl{n}``, ``MediaContentType{n}`` → one media input
                         each, the first with ``Body`` as its caption; fetched through the gateway
                         (Twilio's media URLs take the account's credentials)
  ``OptOutType``         STOP / START / HELP keywords (Advanced Opt-Out) → events ``opt_out``,
                         ``opt_in``, ``help`` with every field: Twilio acts on them itself, the bot
                         should know
  ``Latitude``/``Longitude``, ``ButtonPayload``
                         what Twilio adds for WhatsApp senders on the same webhook: location and
                         postback
  empty                  no body and no media: skipped with that reason
status callback          ``MessageStatus`` sent / delivered / read / failed / undelivered /
                         canceled / partially_delivered → a status of the message ``MessageSid``;
                         queued, sending, accepted, scheduled (on the way inside Twilio) → nothing
                         to record, skipped with that reason (logged at debug level)
=======================  ==========================================================================

Every field Twilio sent rides along in ``raw`` (Twilio adds parameters without notice; they are signed and
kept). The body is parsed strictly: UTF-8, at most :data:`MAX_FIELDS` fields, names of at most
:data:`MAX_NAME` characters; anything else is a 400 for the whole request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from channelgate.channels.base import BadRequest, InboundEvent, InboundMessage, StatusName, StatusUpdate
from channelgate.channels.inbound import SkipEvent, ident, number, string
from channelgate.channels.twilio.menus import Menu, choose
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

log = logging.getLogger("channelgate.channels.twilio")

MAX_FIELDS = 500
MAX_NAME = 128
#: Twilio sends at most 10 media a message; a larger count is read up to this.
MEDIA_MAX = 20

#: Twilio's MessageStatus values → the gateway's status names (None: nothing to record yet).
STATUSES: dict[str, StatusName | None] = {
    "queued": None,
    "sending": None,
    "accepted": None,
    "scheduled": None,
    "sent": "sent",
    "partially_delivered": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
    "canceled": "failed",
}
OPT_OUT = {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}
#: ``.../Accounts/AC…/Messages/MM…/Media/ME…``: media Twilio keeps, fetched with the account's credentials.
MEDIA_PATH = re.compile(
    r"/Accounts/(AC[0-9a-fA-F]{32})/Messages/([A-Z]{2}[0-9a-fA-F]{32})/Media/(ME[0-9a-fA-F]{32})$"
)


@dataclass(slots=True)
class Form:
    """An authenticated webhook's parameters: the pairs as sent (what the signature covers), the fields
    by name (the first value), and the menu ``check_replay`` read for the sender."""

    pairs: list[tuple[str, str]]
    fields: dict[str, str] = field(default_factory=dict)
    menu: Menu = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, value in self.pairs:
            self.fields.setdefault(name, value)

    def raw(self) -> dict[str, Any]:
        """Every parameter, a repeated one as the list of its values."""
        out: dict[str, Any] = {}
        for name, value in self.pairs:
            if name in out:
                previous = out[name]
                out[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                out[name] = value
        return out

    @property
    def status(self) -> str | None:
        """``MessageStatus`` of a status callback (None for an incoming message)."""
        value = self.fields.get("MessageStatus", "").strip().lower()
        return value if value and value not in ("received", "receiving") else None

    @property
    def sender(self) -> str:
        return self.fields.get("From", "")


def decode_form(body: bytes) -> Form:
    """A form-encoded body within the limits, or BadRequest. A field without ``=`` is a name with an empty
    value (Twilio's own fixtures have one)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the form is not UTF-8") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except ValueError as exc:
        raise BadRequest(f"the form cannot be read: {exc}") from None
    for name, _ in pairs:
        if not name or len(name) > MAX_NAME:
            raise BadRequest(f"a form field name is empty or longer than {MAX_NAME} characters")
    return Form(pairs)


def parse_form(form: Form, skip: Callable[[str], None] | None = None) -> list[InboundEvent]:
    """The events of one webhook. Raises SkipEvent when the request as a whole cannot be read (no
    ``MessageSid``); ``skip(reason)`` is told about the parts skipped (one unreadable media)."""
    fields = form.fields
    sid = ident(fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid"), "MessageSid")
    status = form.status
    if status is not None:
        return status_update(form, sid, status)
    return message_events(form, sid, skip or (lambda reason: log.warning("twilio: %s", reason)))


def status_update(form: Form, sid: str, status: str) -> list[InboundEvent]:
    if status not in STATUSES:
        raise SkipEvent(f"MessageStatus {status[:40]!r} of {sid} is not one Twilio documents")
    name = STATUSES[status]
    if name is None:
        log.debug("twilio: status %s of %s: still inside Twilio, nothing to record", status, sid)
        return []
    fields = form.fields
    reason = None
    if name == "failed" or status == "partially_delivered":
        code, message = fields.get("ErrorCode", ""), fields.get("ErrorMessage", "")
        reason = (
            f"Twilio: {status}" + (f", error {code}" if code else "") + (f": {message}" if message else "")
        )
    return [
        StatusUpdate(
            dedup_key=f"status:{sid}:{status}",
            user_id=fields.get("To", ""),
            status=name,
            platform_message_id=sid,
            reason=reason,
            raw=form.raw(),
        )
    ]


def message_events(form: Form, sid: str, skip: Callable[[str], None]) -> list[InboundEvent]:
    fields = form.fields
    user = User(id=ident(fields.get("From"), "From"), name=string(fields.get("ProfileName"), "ProfileName"))
    raw = form.raw()
    body = fields.get("Body", "")

    def event(key: str, value: Input) -> InboundMessage:
        return InboundMessage(dedup_key=key, user=user, input=value, raw=raw, platform_message_id=sid)

    opt = fields.get("OptOutType", "").strip().upper()
    if opt:
        return [event(sid, EventInput(name=OPT_OUT.get(opt, opt.lower()), data=raw))]
    media = media_inputs(fields, sid, body or None, skip)
    if media:
        return [event(sid if i == 0 else f"{sid}:media:{i}", m) for i, m in enumerate(media)]
    if "Latitude" in fields and "Longitude" in fields:
        location = LocationInput(
            latitude=number(fields["Latitude"], "Latitude"),
            longitude=number(fields["Longitude"], "Longitude"),
            name=string(fields.get("Label"), "Label"),
            address=string(fields.get("Address"), "Address"),
        )
        return [event(sid, location)]
    if fields.get("ButtonPayload"):
        return [
            event(sid, PostbackInput(payload=fields["ButtonPayload"], title=fields.get("ButtonText") or None))
        ]
    if not body.strip():
        raise SkipEvent(f"message {sid} has no body and no media")
    picked = choose(body, form.menu)
    if picked is not None:
        title, payload = picked
        return [event(sid, PostbackInput(payload=payload, title=title))]
    return [event(sid, TextInput(text=body))]


MediaKind = Literal["image", "video", "audio", "file"]
_KINDS: dict[str, MediaKind] = {"image": "image", "video": "video", "audio": "audio"}


def media_kind(mime: str) -> MediaKind:
    """The universal kind of a MIME type (a vCard, a PDF: a file)."""
    return _KINDS.get(mime.split("/", 1)[0].strip().lower(), "file")


def media_id(url: str) -> str | None:
    """``MM…-ME…`` for a media Twilio keeps (fetched by ``download_media``), None for another URL."""
    path = url.split("?", 1)[0]
    found = MEDIA_PATH.search(path)
    return f"{found.group(2)}-{found.group(3)}" if found else None


def media_inputs(
    fields: dict[str, str], sid: str, caption: str | None, skip: Callable[[str], None]
) -> list[MediaInput]:
    count = int(number(fields.get("NumMedia") or 0, "NumMedia"))
    if count < 0:
        raise SkipEvent("NumMedia is negative")
    out: list[MediaInput] = []
    for n in range(min(count, MEDIA_MAX)):
        url = fields.get(f"MediaUrl{n}", "").strip()
        if not url.startswith(("https://", "http://")):
            skip(f"message {sid}: MediaUrl{n} is missing or not a URL; that media was skipped")
            continue
        mime = fields.get(f"MediaContentType{n}", "").strip() or None
        ref = media_id(url)
        out.append(
            MediaInput(
                kind=media_kind(mime or ""),
                url=None if ref else url,
                media_id=ref,
                mime_type=mime,
                caption=caption if not out else None,
            )
        )
    return out
