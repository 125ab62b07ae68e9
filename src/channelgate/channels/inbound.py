"""Strict reading of what platforms send: one mechanism, so that nothing a platform sends raises out of a
channel and nothing malformed becomes a turn.

A webhook is authentic before it is parsed, but authentic is not well-formed: a platform bug, a proxy or a
leaked secret can put anything inside a correctly signed body. Three layers keep that from answering 5xx
(which makes the platform redeliver the whole batch, good events included) or from storing a turn that
fails forever:

1. :func:`load_json` and :func:`check_tree`: the body is UTF-8 JSON, at most :data:`MAX_DEPTH` deep (the
   store serialises ``raw`` with orjson, which refuses more than 254 levels), and numbers are finite.
   Breaking these is a ``400`` for the whole webhook, since nothing in it can be trusted to be complete.
2. Typed accessors (:func:`string`, :func:`ident`, :func:`number`, :func:`mapping`, :func:`array`) that
   raise :class:`SkipEvent` with a reason instead of ``TypeError``/``ValueError``, and :func:`each`, which
   parses one platform event at a time: an event that raises ``SkipEvent`` (or fails pydantic validation)
   is skipped, logged with its reason and counted, and the rest of the webhook is accepted.
3. :func:`screen`, applied to every parsed event by the webhook route and again by the store's ``accept``:
   the id and text rules, identical on SQLite and PostgreSQL (PostgreSQL refuses NUL in text and checks
   ``VARCHAR`` lengths, SQLite does neither), so what one store accepts the other accepts too.

The rules (docs/architecture.md, "What the gateway accepts"):

* user ids and platform message ids: 1-255 characters, no control characters (NUL included);
* dedup keys: 1-512 characters (the column's size; keys are often built from several ids), no control
  characters;
* texts: NUL characters are removed; an empty text (after that) is not a turn, it is skipped;
* locations: finite latitude in [-90, 90] and longitude in [-180, 180];
* user names and locale hints are optional: over-long or control-character ones are dropped, not the event.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from channelgate.channels.base import (
    BadRequest,
    InboundEvent,
    InboundMessage,
    StatusUpdate,
    WebhookRequest,
)
from channelgate.turns import EventInput, Input, LocationInput, TextInput, User, input_adapter

log = logging.getLogger("channelgate.inbound")

#: JSON nesting accepted in a webhook body. Real platform payloads are under 10 levels deep; orjson, which
#: stores ``raw``, refuses to write more than 254.
MAX_DEPTH = 64
#: The longest user id or platform message id (``VARCHAR(255)`` in both stores).
MAX_ID = 255
#: The longest dedup key (``VARCHAR(512)``): keys are often several ids joined.
MAX_DEDUP_KEY = 512
#: The longest user name kept (``VARCHAR(255)``); a longer one is cut.
MAX_NAME = 255
#: The longest locale hint kept (``VARCHAR(35)``, BCP 47's practical maximum); a longer one is dropped.
MAX_LOCALE = 35

# C0 and C1 control characters and DEL. Tabs and newlines are control characters too: no id contains them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class SkipEvent(Exception):
    """One platform event cannot be read: it is skipped with ``reason``; the rest of the webhook goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- the body ---------------------------------------------------------------------------------------------


def load_json(data: bytes | str, what: str = "body") -> Any:
    """``data`` parsed as JSON and checked by :func:`check_tree`, or :class:`BadRequest` with the reason.

    orjson already refuses invalid UTF-8, ``NaN``/``Infinity`` literals and numbers that overflow a double.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    check_tree(value, what)
    return value


def check_tree(value: Any, what: str = "body", max_depth: int = MAX_DEPTH) -> None:
    """Raise BadRequest when ``value`` nests deeper than ``max_depth`` or holds a non-finite number.

    Iterative, so that a hostile depth cannot exhaust Python's recursion limit while it is being measured.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            if isinstance(node, float) and not math.isfinite(node):
                raise BadRequest(f"{what} holds a number that is not finite")
            continue
        if depth > max_depth:
            raise BadRequest(f"{what} is nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in children)


# --- typed accessors: SkipEvent instead of TypeError/ValueError -------------------------------------------


def mapping(value: Any, what: str) -> dict[str, Any]:
    """``value`` as a JSON object, or SkipEvent."""
    if not isinstance(value, dict):
        raise SkipEvent(f"{what} is not an object")
    return value


def array(value: Any, what: str) -> list[Any]:
    """``value`` as a list (absent or null: empty), or SkipEvent."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise SkipEvent(f"{what} is not a list")
    return value


def string(value: Any, what: str) -> str | None:
    """``value`` as a string (absent, null or empty: None); numbers are written as the platform sent them.
    An object, a list or a boolean is SkipEvent: it is not what the platform documents."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise SkipEvent(f"{what} is not a string")


def ident(value: Any, what: str, max_length: int = MAX_ID) -> str:
    """A required id obeying the id rules (:func:`id_problem`), or SkipEvent."""
    text = string(value, what)
    if text is None:
        raise SkipEvent(f"{what} is missing")
    problem = id_problem(text, max_length)
    if problem:
        raise SkipEvent(f"{what} {problem}")
    return text


def number(value: Any, what: str) -> float:
    """A finite number (a JSON number, or a string holding one, as WeChat's XML and some Meta fields send),
    or SkipEvent: ``"nan"``, ``"inf"``, ``1e999``, lists and booleans included."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SkipEvent(f"{what} is not a number")
    try:
        result = float(value)
    except (ValueError, OverflowError):
        raise SkipEvent(f"{what} is not a number") from None
    if not math.isfinite(result):
        raise SkipEvent(f"{what} is not a finite number")
    return result


def optional_number(value: Any) -> float | None:
    """A finite number, or None for anything else (timestamps: a bad one costs nothing but the timestamp)."""
    try:
        return number(value, "")
    except SkipEvent:
        return None


# --- one event at a time ----------------------------------------------------------------------------------

T = TypeVar("T")


@dataclass(slots=True)
class Skips:
    """The events a webhook's parse skipped, with their reasons, for the route to log and count."""

    where: str
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        self.reasons.append(reason)
        log.warning("%s: event skipped: %s", self.where, reason)


def skips_of(request: WebhookRequest) -> Skips:
    """The Skips collector travelling with a request (created on first use)."""
    found = request.notes.get("skips")
    if isinstance(found, Skips):
        return found
    created = Skips(request.notes.get("where", "webhook"))
    request.notes["skips"] = created
    return created


def each(
    request: WebhookRequest, items: Iterable[T], parse: Callable[[T], list[InboundEvent]], what: str
) -> list[InboundEvent]:
    """``parse`` applied to each platform event in ``items``, in order; an event whose parsing raises
    :class:`SkipEvent` or fails pydantic validation is skipped with the reason, the others are kept."""
    events: list[InboundEvent] = []
    for index, item in enumerate(items):
        try:
            events.extend(parse(item))
        except SkipEvent as exc:
            skips_of(request).add(f"{what}[{index}]: {exc.reason}")
        except ValidationError as exc:
            skips_of(request).add(f"{what}[{index}]: {_validation_reason(exc)}")
    return events


def _validation_reason(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "value"
    return f"{where}: {first.get('msg', 'invalid')}"


# --- the id and text rules, the same for every channel and both stores -------------------------------------


def id_problem(value: str, max_length: int = MAX_ID) -> str | None:
    """What is wrong with ``value`` as an id, or None: empty, too long or with control characters."""
    if not value:
        return "is empty"
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    if _CONTROL.search(value):
        return "contains control characters"
    return None


def strip_nul(value: Any) -> Any:
    """``value`` with NUL removed from every string in it (PostgreSQL cannot store NUL in text)."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    return value


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def screen(event: InboundEvent) -> tuple[InboundEvent | None, str | None]:
    """The event as the store may keep it, or (None, reason) when it breaks a rule.

    Ids are checked, never repaired (a changed id would answer the wrong user or defeat dedup); NUL is
    removed from texts and ``raw``; an empty text is skipped; optional names and locales that break their
    column's rules are dropped rather than the event.
    """
    problem = id_problem(event.dedup_key, MAX_DEDUP_KEY)
    if problem:
        return None, f"dedup key {problem}"
    if event.platform_message_id is not None:
        problem = id_problem(event.platform_message_id)
        if problem:
            return None, f"platform message id {problem}"
    if isinstance(event, StatusUpdate):
        if event.user_id:
            problem = id_problem(event.user_id)
            if problem:
                return None, f"user id {problem}"
        if event.watermark is not None and (not event.user_id or not math.isfinite(event.watermark)):
            return None, "a watermark receipt needs a user id and a finite watermark"
        if event.platform_message_id is None and event.watermark is None:
            return None, "a status names no message and has no watermark"
        return event, None
    problem = id_problem(event.user.id)
    if problem:
        return None, f"user id {problem}"
    new_input, problem = _screen_input(event.input)
    if new_input is None:
        return None, problem
    user = event.user
    if user.name is not None:
        name = _CONTROL.sub("", user.name)[:MAX_NAME].strip() or None
        if name != user.name:
            user = User(id=user.id, name=name)
    locale = event.locale_hint
    if locale is not None and (len(locale) > MAX_LOCALE or _CONTROL.search(locale)):
        locale = None
    raw = strip_nul(event.raw) if _has_nul(event.raw) else event.raw
    timestamp = event.timestamp
    if timestamp is not None and not math.isfinite(timestamp):
        timestamp = None
    changed = (
        new_input is not event.input
        or user is not event.user
        or locale != event.locale_hint
        or raw is not event.raw
        or timestamp != event.timestamp
    )
    if not changed:
        return event, None
    return replace(event, input=new_input, user=user, locale_hint=locale, raw=raw, timestamp=timestamp), None


def _screen_input(value: Input) -> tuple[Input | None, str | None]:
    if isinstance(value, LocationInput):
        lat, lon = value.latitude, value.longitude
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            return None, "location is not a finite latitude/longitude on Earth"
    dumped = value.model_dump(mode="python")
    if _has_nul(dumped):
        try:
            value = input_adapter.validate_python(strip_nul(dumped))
        except ValidationError:  # NUL was all a required field held (an event name of "\x00")
            return None, "nothing left once NUL characters are removed"
    if isinstance(value, TextInput) and not value.text.strip():
        return None, "empty text"
    if isinstance(value, EventInput) and not value.name.strip():
        return None, "event without a name"
    return value, None


def screen_all(events: Iterable[InboundEvent]) -> tuple[list[InboundEvent], list[str]]:
    """The events that pass :func:`screen` (possibly cleaned), and the reasons for those that do not."""
    kept: list[InboundEvent] = []
    reasons: list[str] = []
    for event in events:
        clean, reason = screen(event)
        if clean is None:
            reasons.append(f"{event.dedup_key[:80]!r}: {reason}")
        else:
            kept.append(clean)
    return kept, reasons


__all__ = [
    "MAX_DEDUP_KEY",
    "MAX_DEPTH",
    "MAX_ID",
    "InboundMessage",
    "SkipEvent",
    "Skips",
    "array",
    "check_tree",
    "each",
    "id_problem",
    "ident",
    "load_json",
    "mapping",
    "number",
    "optional_number",
    "screen",
    "screen_all",
    "skips_of",
    "string",
]
