"""Small readers for what Google sends and small writers for what the gateway sends, shared by GBM and RBM.

Webhook bodies are untrusted even when signed, so the readers never raise: a field of the wrong type reads as
absent and the caller decides whether that skips the event or refuses the body.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp (Google sends up to nine fractional digits), else None."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def last_segment(name: Any) -> str | None:
    """``M`` from ``conversations/C/messages/M`` (and any other resource name)."""
    if not isinstance(name, str) or not name:
        return None
    return name.rstrip("/").rsplit("/", 1)[-1] or None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def new_id() -> str:
    """A UUID for a message or event id. Generated when rendering, so that it is stored in the durable
    outbox and every retry of the same payload reuses it: Google then refuses or ignores the duplicate."""
    return str(uuid.uuid4())


def path_segment(value: str, safe: str = "") -> str:
    """``value`` quoted for one URL path segment."""
    return quote(value, safe=safe)
