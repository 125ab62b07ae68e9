"""Inline-button payloads longer than Telegram allows, mapped through the store.

An inline keyboard button's ``callback_data`` is 1-64 bytes (Bot API, InlineKeyboardButton); a bot's
postback payload may be longer (other platforms take 1,000 bytes and more). A payload that fits is sent as
it is. One that does not (or that begins with :data:`PREFIX`, so that it can never be mistaken for a key)
is sent as ``PREFIX`` + a digest of it, and the digest → payload pair is kept in the integration's
key-value store: written by ``send`` before the message goes out, read back when the button is tapped.

The key is a digest, not a counter, so rendering stays pure (the same payload always gets the same key, on
every replica) and a payload used again only refreshes its entry's lifetime.
"""

from __future__ import annotations

import base64
import hashlib

#: Telegram's limit on ``callback_data``, in UTF-8 bytes.
CALLBACK_DATA_MAX = 64
#: What a mapped ``callback_data`` begins with.
PREFIX = "cg:"
#: How long a mapping is kept after the last message that used it: keyboards stay in the chat's history
#: and can be tapped long after they were sent.
TTL = 400 * 24 * 3600.0


def callback_data(payload: str) -> tuple[str, str | None]:
    """The ``callback_data`` for ``payload``, and the payload again when it must be mapped (else None)."""
    if len(payload.encode()) <= CALLBACK_DATA_MAX and not payload.startswith(PREFIX):
        return payload, None
    digest = hashlib.sha256(payload.encode()).digest()[:16]
    return PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("="), payload


def is_mapped(data: str) -> bool:
    return data.startswith(PREFIX)


def store_key(data: str) -> str:
    """The key-value store's key for a mapped ``callback_data``."""
    return f"callback:{data}"
