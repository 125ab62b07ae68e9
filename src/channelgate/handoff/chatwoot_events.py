"""What a Chatwoot webhook means for a hand-off: an agent's reply to send to the user, the conversation
resolved (back to the bot), or nothing for us.

Only ``message_created`` events of ``message_type`` outgoing that are not private reach the user: private
notes stay in the desk, and incoming messages are the ones we posted. Chatwoot versions that sign their
webhooks send ``X-Chatwoot-Signature: sha256=HMAC(secret, "{X-Chatwoot-Timestamp}.{body}")``;
:func:`signature_ok` checks it in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from channelgate.messages import Media, Text, UniversalMessage

#: the custom attribute of a desk conversation that names our conversation
HINT_ATTRIBUTE = "channelgate_conversation"
#: how old a signed webhook's timestamp may be (seconds), either way
SIGNATURE_TOLERANCE = 300.0
_KINDS = {"image": "image", "video": "video", "audio": "audio", "file": "file"}


@dataclass(frozen=True, slots=True)
class AgentMessage:
    desk_ref: str
    message_id: str
    messages: list[UniversalMessage]
    #: our conversation id, from the custom attribute we set when opening the desk's conversation: finds
    #: the hand-off when an agent answers before we stored the desk's conversation id
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    desk_ref: str


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


Event = AgentMessage | Resolved | Ignored


def sign(secret: str, timestamp: str, raw: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_ok(secret: str, timestamp: str | None, signature: str | None, raw: bytes) -> bool:
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > SIGNATURE_TOLERANCE:
        return False
    return hmac.compare_digest(sign(secret, timestamp, raw).encode(), signature.strip().encode())


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value) == "":
        return None
    return str(value)


def read_event(payload: Any) -> Event:
    """What one webhook payload asks of us."""
    if not isinstance(payload, dict):
        return Ignored("not an object")
    event = payload.get("event")
    if event == "message_created":
        return _message(payload)
    if event in ("conversation_status_changed", "conversation_resolved", "conversation_updated"):
        ref = _id(payload.get("id"))
        if ref is None:
            return Ignored("no conversation id")
        if payload.get("status") == "resolved":
            return Resolved(ref)
        return Ignored(f"status {payload.get('status')!r}")
    return Ignored(f"event {event!r}")


def _message(payload: dict[str, Any]) -> Event:
    if payload.get("message_type") not in ("outgoing", 1):
        return Ignored("not an agent's message")
    if payload.get("private") is True:
        return Ignored("a private note")
    conversation = payload.get("conversation")
    ref = _id(conversation.get("id")) if isinstance(conversation, dict) else None
    message_id = _id(payload.get("id"))
    if ref is None or message_id is None:
        return Ignored("no conversation or message id")
    messages: list[UniversalMessage] = []
    content = payload.get("content")
    if isinstance(content, str) and content.strip():
        messages.append(Text(text=content))
    for attachment in payload.get("attachments") or []:
        if not isinstance(attachment, dict):
            continue
        url = attachment.get("data_url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            kind = _KINDS.get(str(attachment.get("file_type")), "file")
            messages.append(Media(kind=kind, url=url))
    if not messages:
        return Ignored("nothing to send")
    attributes = conversation.get("custom_attributes") if isinstance(conversation, dict) else None
    hint = attributes.get(HINT_ATTRIBUTE) if isinstance(attributes, dict) else None
    return AgentMessage(ref, message_id, messages, hint if isinstance(hint, str) else None)


__all__ = ["AgentMessage", "Event", "Ignored", "Resolved", "read_event", "sign", "signature_ok"]
