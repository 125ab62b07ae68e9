"""The web chat's WebSocket protocol: the frames a browser sends, validated by hand so that every refusal
reads as one short sentence (the browser gets it back in an ``error`` frame, never a traceback).

Client → server frames::

    {"type": "hello", "user_id"?: str, "token"?: str, "languages"?: [str, ...]}
    {"type": "text", "id": str, "text": str}
    {"type": "postback", "id": str, "payload": str, "title"?: str}
    {"type": "location", "id": str, "latitude": number, "longitude": number, "name"?: str, "address"?: str}
    {"type": "received", "id": str}          (the browser has stored the message with this id)

Server → client frames are built in :mod:`channelgate.channels.webchat.routes` and the channel's ``send``:
``welcome``, ``ack``, ``message`` and ``error``. docs/channels/webchat.md describes all of them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from channelgate.channels.base import BadRequest
from channelgate.channels.inbound import id_problem, load_json
from channelgate.turns import Input, LocationInput, PostbackInput, TextInput

#: the largest frame a browser may send; a text of MAX_TEXT characters fits with room to spare
MAX_FRAME_BYTES = 64 * 1024
MAX_TEXT = 4096
MAX_PAYLOAD = 1024
MAX_TITLE = 256
MAX_LANGUAGES = 10

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8}){0,6}$")


class FrameError(Exception):
    """A frame the server refuses. ``id`` is the input's id when the frame had a usable one, so the browser
    can tell which of its messages was refused."""

    def __init__(self, reason: str, id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.id = id


@dataclass(frozen=True, slots=True)
class Hello:
    user_id: str | None
    token: str | None
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InputFrame:
    """Something the user said or did; ``id`` is the browser's uuid for it, the dedup key's second half."""

    id: str
    input: Input
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Received:
    id: str


Frame = Hello | InputFrame | Received


def parse_frame(text: str) -> Frame:
    """One client frame, or :class:`FrameError` with the reason."""
    try:
        data = load_json(text, "the frame")
    except BadRequest as exc:
        raise FrameError(exc.reason) from None
    if not isinstance(data, dict):
        raise FrameError("the frame must be a JSON object with a type")
    kind = data.get("type")
    if kind == "hello":
        return _hello(data)
    if kind == "received":
        return Received(_id(data))
    parser = _INPUTS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise FrameError(
            f"unknown frame type {kind!r} (expected hello, text, postback, location or received)",
            _usable_id(data),
        )
    frame_id = _id(data)
    try:
        value = parser(data)
    except FrameError as exc:
        raise FrameError(exc.reason, frame_id) from None
    return InputFrame(frame_id, value, data)


def _id(data: dict[str, Any]) -> str:
    value = data.get("id")
    if not isinstance(value, str) or not _ID.match(value):
        raise FrameError("id must be 1-64 letters, digits, '-' or '_' (a uuid)")
    return value


def _usable_id(data: dict[str, Any]) -> str | None:
    value = data.get("id")
    return value if isinstance(value, str) and _ID.match(value) else None


def _hello(data: dict[str, Any]) -> Hello:
    user_id = _optional_str(data, "user_id", 128)
    if user_id is not None and id_problem(user_id):
        raise FrameError(f"user_id {id_problem(user_id)}")
    token = _optional_str(data, "token", 128)
    raw_languages = data.get("languages") or []
    if not isinstance(raw_languages, list):
        raise FrameError("languages must be a list of language tags")
    languages = tuple(
        item for item in raw_languages[:MAX_LANGUAGES] if isinstance(item, str) and _LANGUAGE.match(item)
    )
    return Hello(user_id, token, languages)


def _optional_str(data: dict[str, Any], name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise FrameError(f"{name} must be a string of at most {limit} characters")
    return value or None


def _required_str(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise FrameError(f"{name} must be a non-empty string")
    if len(value) > limit:
        raise FrameError(f"{name} is longer than {limit} characters")
    return value


def _coordinate(data: dict[str, Any], name: str, bound: float) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FrameError(f"{name} must be a number")
    if not -bound <= value <= bound:
        raise FrameError(f"{name} must be between -{bound:g} and {bound:g}")
    return float(value)


def _text(data: dict[str, Any]) -> Input:
    return TextInput(text=_required_str(data, "text", MAX_TEXT))


def _postback(data: dict[str, Any]) -> Input:
    return PostbackInput(
        payload=_required_str(data, "payload", MAX_PAYLOAD), title=_optional_str(data, "title", MAX_TITLE)
    )


def _location(data: dict[str, Any]) -> Input:
    return LocationInput(
        latitude=_coordinate(data, "latitude", 90),
        longitude=_coordinate(data, "longitude", 180),
        name=_optional_str(data, "name", MAX_TITLE),
        address=_optional_str(data, "address", MAX_TITLE),
    )


_INPUTS = {"text": _text, "postback": _postback, "location": _location}


def dumps(frame: dict[str, Any]) -> str:
    """A server frame as the text sent over the socket."""
    return orjson.dumps(frame).decode()
