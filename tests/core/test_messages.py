"""Universal messages: validation, the brief's format, and the published JSON Schema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from channelgate.messages import brief_schema, dump_message, parse_message, parse_messages, universal_schema
from channelgate.turns import Reply

VALID: list[dict[str, Any]] = [
    {"type": "text", "text": "hi", "quick_replies": [{"type": "reply", "title": "Yes", "payload": "Y"}]},
    {"type": "media", "kind": "image", "url": "https://x/y.png", "caption": "c"},
    {"type": "media", "kind": "file", "url": "https://x/y.pdf", "filename": "y.pdf"},
    {
        "type": "card",
        "title": "T",
        "description": "D",
        "media": {"url": "https://x", "height": "tall"},
        "buttons": [
            {"type": "url", "title": "Open", "url": "https://x"},
            {"type": "call", "title": "Call", "phone": "+1"},
        ],
    },
    {"type": "carousel", "cards": [{"title": "A"}, {"type": "card", "title": "B"}]},
    {
        "type": "list",
        "text": "Pick",
        "header": "H",
        "footer": "F",
        "button": "Menu",
        "items": [{"title": "One", "payload": "1", "description": "first"}],
    },
    {"type": "location", "latitude": 48.85, "longitude": 2.35, "name": "Paris"},
    {
        "type": "template",
        "name": "order_update",
        "language": "en_US",
        "parameters": ["A-12", {"type": "text"}],
    },
    {
        "type": "channel",
        "payloads": {"messenger": {"text": "raw"}},
        "fallback": {"type": "text", "text": "fb"},
    },
    {"type": "text", "text": "tagged", "options": {"tag": "HUMAN_AGENT", "quote": True}},
]


@pytest.mark.parametrize("message", VALID, ids=lambda m: m["type"])
def test_valid_messages_parse_and_match_the_published_schema(message: dict[str, Any]) -> None:
    parsed = parse_message(message)
    jsonschema.validate(dump_message(parsed), universal_schema())
    jsonschema.validate(message, universal_schema())


@pytest.mark.parametrize(
    ("message", "where"),
    [
        ({"type": "card"}, "card.title"),
        ({"type": "media", "kind": "gif", "url": "u"}, "media.kind"),
        ({"type": "location", "latitude": 91, "longitude": 0}, "location.latitude"),
        ({"type": "carousel", "cards": []}, "carousel.cards"),
        ({"type": "text", "text": "x", "colour": "red"}, "text.colour"),
        ({"type": "hologram"}, "type"),
    ],
)
def test_invalid_messages_are_reported_with_where_and_why(message: dict[str, Any], where: str) -> None:
    good, bad = parse_messages([message])
    assert good == [] and len(bad) == 1
    assert where in bad[0].error


def test_one_bad_message_does_not_cost_the_others() -> None:
    good, bad = parse_messages(
        ["plain text is a text message", {"type": "card"}, {"type": "text", "text": "ok"}]
    )
    assert [m.type for m in good] == ["text", "text"]
    assert [b.index for b in bad] == [1]


def test_brief_rich_becomes_a_card_with_buttons_and_quick_replies() -> None:
    rich = {
        "type": "rich",
        "title": "Pizza",
        "description": "Large",
        "richMedia": {"fileUrl": "https://x/p.jpg", "altText": "pizza", "height": "TALL"},
        "insideActions": [
            {"type": "reply", "display": "Order", "payload": "ORDER"},
            {"type": "click", "display": "Menu", "url": "https://x/menu"},
            {"type": "call", "display": "Call us", "phoneNumber": "+15550100"},
        ],
        "floatActions": [{"type": "reply", "display": "Later", "payload": "LATER"}],
    }
    assert dump_message(parse_message(rich)) == {
        "type": "card",
        "title": "Pizza",
        "description": "Large",
        "media": {"url": "https://x/p.jpg", "alt_text": "pizza", "height": "tall"},
        "buttons": [
            {"type": "reply", "title": "Order", "payload": "ORDER"},
            {"type": "url", "title": "Menu", "url": "https://x/menu"},
            {"type": "call", "title": "Call us", "phone": "+15550100"},
        ],
        "quick_replies": [{"type": "reply", "title": "Later", "payload": "LATER"}],
    }
    jsonschema.validate(rich, brief_schema())


def test_brief_list_text_and_list_rich_translate() -> None:
    list_text = {
        "type": "listText",
        "text": "Sizes:",
        "body": ["S", "M"],
        "inputActions": [{"type": "reply", "display": "M", "payload": "size_m"}],
    }
    assert dump_message(parse_message(list_text)) == {
        "type": "text",
        "text": "Sizes:\nS\nM",
        "quick_replies": [{"type": "reply", "title": "M", "payload": "size_m"}],
    }
    list_rich = {
        "type": "listRich",
        "text": "",
        "cardTitles": ["A", "B"],
        "cardDescriptions": ["a"],
        "fileUrls": ["https://x/a.png"],
        "cardInputActions": [[{"type": "reply", "display": "Pick A", "payload": "A"}]],
        "mainInputActions": [{"type": "reply", "display": "None", "payload": "NONE"}],
    }
    carousel = dump_message(parse_message(list_rich))
    assert carousel["type"] == "carousel"
    assert carousel["cards"][0] == {
        "type": "card",
        "title": "A",
        "description": "a",
        "media": {"url": "https://x/a.png"},
        "buttons": [{"type": "reply", "title": "Pick A", "payload": "A"}],
    }
    assert carousel["cards"][1] == {"type": "card", "title": "B"}
    assert carousel["quick_replies"] == [{"type": "reply", "title": "None", "payload": "NONE"}]
    for message in (list_text, list_rich):
        jsonschema.validate(message, brief_schema())


def test_unknown_brief_action_is_a_clear_error() -> None:
    _, bad = parse_messages(
        [{"type": "rich", "title": "x", "insideActions": [{"type": "teleport", "display": "x"}]}]
    )
    assert "teleport" in bad[0].error


@pytest.mark.parametrize(
    ("value", "messages", "locale"),
    [
        (None, [], None),
        ("hi", ["hi"], None),
        ([{"type": "text", "text": "a"}], [{"type": "text", "text": "a"}], None),
        ({"messages": ["a"], "locale": "fr-FR"}, ["a"], "fr-FR"),
        ({"type": "text", "text": "single"}, [{"type": "text", "text": "single"}], None),
    ],
)
def test_replies_come_in_every_shape_bots_use(value: Any, messages: list[Any], locale: str | None) -> None:
    reply = Reply.coerce(value)
    assert reply.messages == messages and reply.locale == locale
