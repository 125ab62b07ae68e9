"""Opaque cursors for paged lists: the position of the last item seen, so that pages stay stable while
new rows arrive. A cursor is base64url JSON; a caller must treat it as opaque."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from channelgate.api.errors import ApiError


def encode_cursor(*position: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(position))).decode().rstrip("=")


def decode_cursor(cursor: str | None, *types: type) -> tuple[Any, ...] | None:
    """The position in ``cursor`` with one value per type in ``types``; 400 when it is not one of ours."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise ApiError(400, "cursor is not valid (pass the next_cursor of the previous page)") from None
    if not isinstance(values, list) or len(values) != len(types):
        raise ApiError(400, "cursor is not valid (pass the next_cursor of the previous page)")
    if not all(_fits(value, kind) for value, kind in zip(values, types, strict=True)):
        raise ApiError(400, "cursor is not valid (pass the next_cursor of the previous page)")
    return tuple(float(v) if kind is float else v for v, kind in zip(values, types, strict=True))


def _fits(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float) and abs(value) < 1e12
    if kind is int:
        return isinstance(value, int) and abs(value) < 2**62
    return isinstance(value, str) and len(value) <= 64
