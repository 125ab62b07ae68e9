"""Slack's request signature (v0): what every request Slack sends carries, and what the simulator signs.

``X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw
body)>``; the timestamp is refused when more than five minutes off, so a captured request cannot be replayed
later (Slack, "Verifying requests from Slack"; python-slack-sdk ``signature``)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
VERSION = "v0"
#: How far a request's timestamp may be from now, in seconds.
MAX_AGE = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value for a body sent at ``timestamp``."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
