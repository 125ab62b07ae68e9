"""TwiML answers to the incoming-message webhook: the passive-reply path.

Twilio reads the webhook's answer as instructions: ``<Response><Message>…</Message></Response>`` texts the
sender back (``<Message>`` holds ``<Body>`` and up to 10 ``<Media>``), and ``<Response/>`` does nothing
(twilio-python's ``MessagingResponse`` writes exactly these). A plain-text answer would be texted back
as it is, which is why even the plain acknowledgement is TwiML.

A payload goes in the TwiML answer only when it is a plain message to the webhook's sender: a body and/or
media, nothing the Messages API alone can do (a template's ``ContentSid``, a validity period…).
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape

PROLOG = '<?xml version="1.0" encoding="UTF-8"?>'
EMPTY = f"{PROLOG}<Response/>"
MEDIA_TYPE = "text/xml"
#: ``<Message>`` verbs carried in one answer; the rest of a longer reply goes through the REST API.
MESSAGES_MAX = 10
#: What a passively carried body may hold besides ``Body`` and ``MediaUrl``.
_CARRIED = frozenset({"To", "Body", "MediaUrl", "_menu"})
#: Characters XML 1.0 cannot carry (control characters other than tab, newline and carriage return).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def carriable(body: dict[str, Any], sender: str) -> bool:
    """Whether ``body`` can be a ``<Message>`` of the answer to ``sender``'s webhook."""
    if set(body) - _CARRIED or body.get("To") != sender:
        return False
    media = body.get("MediaUrl") or []
    return bool(body.get("Body") or media) and isinstance(media, list)


def message(body: dict[str, Any]) -> str:
    parts = [f"<Body>{_text(str(body['Body']))}</Body>"] if body.get("Body") else []
    parts += [f"<Media>{_text(str(url))}</Media>" for url in body.get("MediaUrl") or []]
    return f"<Message>{''.join(parts)}</Message>"


def response(bodies: list[dict[str, Any]]) -> str:
    """The TwiML answer carrying ``bodies`` (none: the empty answer)."""
    if not bodies:
        return EMPTY
    return f"{PROLOG}<Response>{''.join(message(b) for b in bodies)}</Response>"
