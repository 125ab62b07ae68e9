"""The strict-parsing toolkit channels share (channels/inbound.py), unit by unit."""

from __future__ import annotations

from typing import Any

import pytest

from channelgate.channels.base import BadRequest, InboundMessage, StatusUpdate, WebhookRequest
from channelgate.channels.inbound import (
    MAX_DEPTH,
    SkipEvent,
    each,
    ident,
    load_json,
    number,
    screen,
    skips_of,
    string,
)
from channelgate.turns import LocationInput, TextInput, User


@pytest.mark.parametrize(
    "value", ["nan", "NaN", "inf", "-inf", "1e999", "²", "", [1.0], {"a": 1}, True, None]
)
def test_number_refuses_what_is_not_a_finite_number(value: Any) -> None:
    with pytest.raises(SkipEvent):
        number(value, "lat")


@pytest.mark.parametrize(("value", "expected"), [(1, 1.0), ("52.5", 52.5), (-0.5, -0.5), ("1e3", 1000.0)])
def test_number_reads_numbers_and_numeric_strings(value: Any, expected: float) -> None:
    assert number(value, "lat") == expected


def test_string_takes_strings_and_integers_only() -> None:
    assert string("a", "f") == "a"
    assert string(12, "f") == "12"
    assert string(None, "f") is None and string("", "f") is None
    for bad in ([], {}, True, 1.5):
        with pytest.raises(SkipEvent, match="f is not a string"):
            string(bad, "f")


@pytest.mark.parametrize(
    ("value", "problem"),
    [("", "missing"), ("a\x00", "control"), ("a\tb", "control"), ("\x85", "control"), ("x" * 256, "longer")],
)
def test_ident_refuses_ids_that_break_the_rules(value: str, problem: str) -> None:
    with pytest.raises(SkipEvent, match=problem):
        ident(value, "id")


def test_load_json_caps_depth_iteratively() -> None:
    assert load_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    with pytest.raises(BadRequest, match="nested more than 64"):
        load_json(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    with pytest.raises(BadRequest, match="not valid JSON"):
        load_json(b"1e999")


def test_each_skips_a_broken_event_with_its_reason_and_keeps_the_rest() -> None:
    request = WebhookRequest("POST", {}, {}, b"", notes={"where": "test/x"})

    def parse(item: Any) -> list[Any]:
        return [TextInput(text=string(item, "text") or "")]

    assert each(request, ["a", {"no": 1}, "b"], parse, "items") == [TextInput(text="a"), TextInput(text="b")]
    assert skips_of(request).reasons == ["items[1]: text is not a string"]


def message(**overrides: Any) -> InboundMessage:
    values: dict[str, Any] = {"dedup_key": "k", "user": User(id="u"), "input": TextInput(text="hi")}
    values.update(overrides)
    return InboundMessage(**values)


def test_screen_keeps_a_good_event_as_it_is() -> None:
    event = message(raw={"a": "b"})
    assert screen(event) == (event, None)
    assert screen(event)[0] is event


def test_screen_removes_nul_from_texts_and_raw_but_refuses_it_in_ids() -> None:
    clean, _ = screen(message(input=TextInput(text="a\x00b"), raw={"t": ["\x00x"]}))
    assert isinstance(clean, InboundMessage)
    assert clean.input == TextInput(text="ab") and clean.raw == {"t": ["x"]}
    assert screen(message(dedup_key="k\x00")) == (None, "dedup key contains control characters")


def test_screen_drops_optional_fields_that_break_their_columns() -> None:
    clean, _ = screen(message(user=User(id="u", name="n" * 300 + "\x07"), locale_hint="x" * 36))
    assert isinstance(clean, InboundMessage)
    assert clean.user.name == "n" * 255 and clean.locale_hint is None


@pytest.mark.parametrize(
    ("lat", "lon"), [(91.0, 0.0), (0.0, 181.0), (float("nan"), 0.0), (0.0, float("inf"))]
)
def test_screen_refuses_locations_off_the_earth(lat: float, lon: float) -> None:
    event = message(input=LocationInput(latitude=lat, longitude=lon))
    assert screen(event)[0] is None


def test_screen_checks_statuses_too() -> None:
    good = StatusUpdate(dedup_key="s", user_id="", status="read", platform_message_id="m")
    assert screen(good) == (good, None)
    assert screen(StatusUpdate(dedup_key="s", user_id="u", status="read"))[0] is None
    assert screen(StatusUpdate(dedup_key="s", user_id="", status="read", watermark=1.0))[0] is None
