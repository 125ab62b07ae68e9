"""An authentic WeChat message (its XML, already verified and decrypted: ``callback.py``) as inputs.

Dedup keys: ``MsgId`` for messages, ``FromUserName:CreateTime:Event`` for events, as WeChat documents; it
retries an unanswered callback three times in all.

Choices worth knowing (also in docs/channels/wechat.md, "What the bot receives"):

* A voice message with ``Recognition`` (WeChat's speech-to-text) becomes a ``TextInput`` of the recognised
  text; ``raw`` keeps the ``MediaId``. Without recognition it is a ``MediaInput`` (audio, by media id).
* A link the user shares becomes a ``TextInput`` of its title and URL (description in ``raw``): the user
  said something, and every bot understands text.
* A tap on a ``msgmenu`` item arrives as a text message with ``bizmsgmenuid``; it becomes a
  ``PostbackInput`` with that id, which is the payload the bot chose. A menu ``CLICK`` is a postback too.
* ``TEMPLATESENDJOBFINISH`` is a :class:`StatusUpdate` for the template message's ``msgid``;
  ``MASSSENDJOBFINISH`` (an account-wide broadcast report, no user's act) is skipped with a log line
  carrying its fields.
* Every other event and message type is an ``event`` input with all its fields, nested and repeated
  elements whole (issue 13: an authentic event is never silently dropped or stripped).
"""

from __future__ import annotations

import logging
from typing import Any

from channelgate.channels.base import BadRequest, InboundEvent, InboundMessage, StatusUpdate
from channelgate.channels.inbound import SkipEvent, number, optional_number
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

log = logging.getLogger(__name__)

#: the envelope every message has; the fields of an ``event`` input are the others
_COMMON_FIELDS = frozenset(
    {"ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Event", "Encrypt"}
)


def parse_fields(
    f: dict[str, str], tree: dict[str, Any] | None = None, *, where: str = "wechat"
) -> list[InboundEvent]:
    """The events in one authentic WeChat message: its flat XML fields, which are what is read, and the tree
    (:class:`XmlMessage`) whose nested and repeated elements join them whole in the inputs' data and in
    ``raw``. Only elements with no flat text join (a repeated top-level leaf is not a WeChat shape: its first
    copy is read), so a field read as text is always text, whatever a body nests. ``where`` names the
    integration in log lines."""
    nested = {k: v for k, v in (tree or {}).items() if k not in f and k not in _COMMON_FIELDS}
    raw: dict[str, Any] = {**f, **nested}
    user_id = f.get("FromUserName", "")
    msg_type = f.get("MsgType", "").lower()
    if not user_id or not msg_type:
        raise BadRequest("FromUserName and MsgType are required")
    created = optional_number(f.get("CreateTime"))
    user = User(id=user_id)
    if msg_type != "event":
        msg_id = f.get("MsgId", "")
        key = msg_id or f"{user_id}:{f.get('CreateTime', '')}:{msg_type}"
        return [
            InboundMessage(
                dedup_key=key,
                user=user,
                input=_message_input(msg_type, f, nested),
                raw=raw,
                platform_message_id=msg_id or None,
                timestamp=created,
            )
        ]
    event = f.get("Event", "")
    if not event:
        raise BadRequest("MsgType is event but Event is empty")
    key = f"{user_id}:{f.get('CreateTime', '')}:{event}"
    name = event.lower()
    if name == "masssendjobfinish":
        log.info(
            "%s: MASSSENDJOBFINISH skipped: an account-wide broadcast report, not a user's turn (%s)",
            where,
            ", ".join(f"{k}={v}" for k, v in _extra(f, nested).items()),
        )
        return []
    if name == "templatesendjobfinish":
        status = f.get("Status", "")
        ok = status == "success"
        return [
            StatusUpdate(
                dedup_key=key,
                user_id=user_id,
                status="delivered" if ok else "failed",
                platform_message_id=f.get("MsgID") or f.get("MsgId") or None,
                reason=None if ok else status or "failed",
                raw=raw,
            )
        ]
    return [
        InboundMessage(
            dedup_key=key, user=user, input=_event_input(name, f, nested), raw=raw, timestamp=created
        )
    ]


def _float(fields: dict[str, str], name: str) -> float:
    """A finite number from the XML (``nan``, ``inf`` and ``1e999`` are not coordinates), or BadRequest:
    a WeChat callback carries one event, so a broken one is a broken webhook."""
    try:
        return number(fields.get(name), name)
    except SkipEvent as exc:
        raise BadRequest(f"{exc.reason} (or is missing)") from None


def _extra(
    fields: dict[str, str], nested: dict[str, Any], keep: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The fields of an event this module has no input for: its leaves, and its nested elements whole (from
    the tree, so repeated elements are lists: :class:`XmlMessage`), not their dotted first copies. ``keep``:
    envelope fields that carry what the user did for this type (a ``device_event``'s ``Event``)."""
    leaves = {
        k: v for k, v in fields.items() if (k not in _COMMON_FIELDS or k in keep) and "." not in k and v != ""
    }
    return {**leaves, **nested}


def _message_input(msg_type: str, f: dict[str, str], nested: dict[str, Any]) -> Input:
    """The input of a user message (not an event)."""
    if msg_type == "text":
        menu_id = f.get("bizmsgmenuid", "")
        if menu_id:
            return PostbackInput(payload=menu_id, title=f.get("Content") or None)
        return TextInput(text=f.get("Content", ""))
    if msg_type == "image":
        return MediaInput(kind="image", url=f.get("PicUrl") or None, media_id=f.get("MediaId") or None)
    if msg_type == "voice":
        if f.get("Recognition"):
            return TextInput(text=f["Recognition"])
        fmt = f.get("Format", "").lower()
        return MediaInput(
            kind="audio", media_id=f.get("MediaId") or None, mime_type=f"audio/{fmt}" if fmt else None
        )
    if msg_type in ("video", "shortvideo"):
        return MediaInput(kind="video", media_id=f.get("MediaId") or None)
    if msg_type == "location":
        return LocationInput(
            latitude=_float(f, "Location_X"),
            longitude=_float(f, "Location_Y"),
            address=f.get("Label") or None,
        )
    if msg_type == "link":
        return TextInput(text="\n".join(p for p in (f.get("Title", ""), f.get("Url", "")) if p))
    # another message type (device_event, device_text, miniprogrampage...): every field, including the
    # ``Event`` some of them carry (a device's bind or unbind), which is not the envelope here
    return EventInput(name=msg_type, data=_extra(f, nested, keep=frozenset({"Event"})) or None)


def _event_input(event: str, f: dict[str, str], nested: dict[str, Any]) -> Input:
    """The input of an event. The events read into named data keep every other field WeChat sent under its
    own name (a personalised menu's ``MenuId`` on ``VIEW``), so nothing the event carried is stripped."""
    key = f.get("EventKey", "")
    if event == "subscribe":
        data: dict[str, Any] = {}
        if key.startswith("qrscene_"):
            data["scene"] = key.removeprefix("qrscene_")
        elif key:  # not a QR code scene (e.g. "last_trade_no_..." after a payment): kept as WeChat sent it
            data["event_key"] = key
        if f.get("Ticket"):
            data["ticket"] = f["Ticket"]
        return _named("subscribed", data, f, nested, "EventKey", "Ticket")
    if event == "unsubscribe":
        return _named("unsubscribed", {}, f, nested, "EventKey")
    if event == "scan":
        data = {"scene": key, **({"ticket": f["Ticket"]} if f.get("Ticket") else {})}
        return _named("scan", data, f, nested, "EventKey", "Ticket")
    if event == "location":
        where: dict[str, Any] = {"latitude": _float(f, "Latitude"), "longitude": _float(f, "Longitude")}
        if f.get("Precision"):
            where["precision"] = _float(f, "Precision")
        return _named("location", where, f, nested, "Latitude", "Longitude", "Precision")
    if event == "click":
        return PostbackInput(payload=key)
    if event == "view":
        return _named("view", {"url": key}, f, nested, "EventKey")
    return EventInput(name=event, data=_extra(f, nested) or None)


def _named(name: str, data: dict[str, Any], f: dict[str, str], nested: dict[str, Any], *read: str) -> Input:
    """An event input of ``data`` (what was read from the fields named in ``read``) and every other field."""
    rest = {k: v for k, v in _extra(f, nested).items() if k not in read}
    return EventInput(name=name, data={**data, **rest} or None)
