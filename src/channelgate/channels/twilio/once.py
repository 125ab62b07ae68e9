"""Sending a message once without an idempotency key.

Twilio's Messages API has none: a ``POST Messages.json`` whose answer was lost (a timeout, a connection
reset, a 5xx from a proxy after Twilio took the request, a replica that died mid-call) may or may not have
created the message, and sending it again may text the user twice. What can be done is done here:

* Before a send, a marker is written to the store (shared by every replica): "this content to this user,
  outcome unknown, since <time>". A send that gets an answer (success, or a refusal that proves nothing
  was created: 4xx, 429) clears it.
* A retry that finds the marker first asks Twilio for the latest messages to that user
  (``GET Messages.json?To=…&From=…``) and, when one created since the marker has the same body and media,
  takes it as the earlier attempt's message instead of sending again.

A 5xx or network error *before* the request reached Twilio leaves a marker too, but the lookup then finds
nothing and the retry sends: delivered once either way. What remains: two identical texts sent on purpose
within one failed attempt's window, one of which a retry would then take for the other (harmless: the
user got the text).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from channelgate.channels.base import KeyValue, SendError, Unavailable

#: How long an unknown outcome is remembered (a retry later than this sends again).
MARKER_TTL = 24 * 3600.0
#: Clock difference allowed between this host and Twilio's ``date_created``.
SKEW = 120.0


def marker_key(params: dict[str, Any]) -> str:
    """The store key of a send's content: recipient, body and media (not the callback URL)."""
    content = {
        k: params.get(k) for k in ("To", "From", "MessagingServiceSid", "Body", "MediaUrl", "ContentSid")
    }
    digest = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    return f"sending:{digest}"


def _media_count(params: dict[str, Any]) -> int:
    media = params.get("MediaUrl")
    return len(media) if isinstance(media, list) else (1 if media else 0)


def same_message(resource: dict[str, Any], params: dict[str, Any], since: float) -> bool:
    """Whether a Message resource Twilio lists is this send's, created since ``since``."""
    if resource.get("to") != params.get("To") or str(resource.get("body") or "") != str(
        params.get("Body") or ""
    ):
        return False
    if str(resource.get("num_media") or "0") != str(_media_count(params)):
        return False
    try:
        created = parsedate_to_datetime(str(resource.get("date_created"))).timestamp()
    except (TypeError, ValueError):
        return False
    return created >= since - SKEW


class SendOnce:
    """The marker protocol around one integration's sends."""

    def __init__(self, kv: KeyValue, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.clock = clock

    async def pending_since(self, params: dict[str, Any]) -> float | None:
        """When an earlier attempt of this send ended without a known outcome (None: none did)."""
        value = await self.kv.get(marker_key(params))
        try:
            return float(value) if value else None
        except ValueError:
            return None

    async def begin(self, params: dict[str, Any]) -> None:
        await self.kv.set(marker_key(params), repr(self.clock()), ttl=MARKER_TTL)

    async def known(self, params: dict[str, Any]) -> None:
        """The outcome is known (sent, or refused before anything was created): forget the marker."""
        await self.kv.set(marker_key(params), "", ttl=60)

    async def failed(self, params: dict[str, Any], error: SendError) -> None:
        """Keep the marker only when the message may exist (Unavailable: network errors and 5xx)."""
        if not isinstance(error, Unavailable):
            await self.known(params)
