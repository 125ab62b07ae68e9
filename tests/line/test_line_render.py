"""Rendering: every universal type as LINE shows it (or degraded, with a note), within LINE's limits as the
simulator checks them; calls of at most five messages; the reply token only when the turn is fast; a retry
key fixed at render time."""

from __future__ import annotations

from typing import Any

import pytest

from channelgate.channels.base import Outbound, SendRefused
from channelgate.channels.line.channel import REPLY_WITHIN
from channelgate.channels.line.render import calls
from channelgate.messages import parse_message
from channelgate.testing.line import BadRequest, validate_messages

from .kit import USER, channel, render_ctx

TOKEN = "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"


def render(*messages: Any, **ctx: Any) -> tuple[list[Outbound], list[str]]:
    context = render_ctx(**ctx)
    outbounds = channel().render([parse_message(m) for m in messages], context)
    for outbound in outbounds:
        validate_messages(outbound.body["messages"])  # what LINE would accept
    return outbounds, context.notes


def messages(*items: Any, **ctx: Any) -> list[dict[str, Any]]:
    outbounds, _ = render(*items, **ctx)
    return [m for o in outbounds for m in o.body["messages"]]


def test_text_is_split_at_5000_characters() -> None:
    [message] = messages("hello")
    assert message == {"type": "text", "text": "hello"}
    parts, notes = render("word " * 2100)
    texts = [m["text"] for o in parts for m in o.body["messages"]]
    assert len(texts) == 3 and all(len(t) <= 5000 for t in texts)
    assert notes == ["text of 10500 characters sent as 3 messages"]


def test_images_are_native_and_other_media_links() -> None:
    image = {"type": "media", "kind": "image", "url": "https://cdn.example/a.png", "caption": "A cat"}
    assert messages(image) == [
        {
            "type": "image",
            "originalContentUrl": "https://cdn.example/a.png",
            "previewImageUrl": "https://cdn.example/a.png",
        },
        {"type": "text", "text": "A cat"},
    ]
    for kind in ("video", "audio", "file"):
        outbounds, notes = render(
            {"type": "media", "kind": kind, "url": "https://cdn.example/x", "filename": "x.bin"}
        )
        assert [m["text"] for m in outbounds[0].body["messages"]] == ["x.bin\nhttps://cdn.example/x"]
        assert notes and notes[0].startswith("LINE cannot show") and notes[0].endswith("sent as a link")
    _, notes = render({"type": "media", "kind": "image", "url": "http://plain.example/a.png"})
    assert "not HTTPS" in notes[0]


def test_a_card_is_a_flex_bubble_with_at_most_four_buttons() -> None:
    buttons = [{"type": "reply", "title": f"Option number {i} is long", "payload": f"P{i}"} for i in range(5)]
    card = {
        "type": "card",
        "title": "Shoe",
        "description": "Size 42",
        "media": {"url": "https://cdn.example/s.png"},
        "buttons": buttons,
    }
    outbounds, notes = render(card)
    [flex] = outbounds[0].body["messages"]
    assert flex["type"] == "flex" and flex["altText"] == "Shoe"
    bubble = flex["contents"]
    assert bubble["hero"]["url"] == "https://cdn.example/s.png"
    assert [c["text"] for c in bubble["body"]["contents"]] == ["Shoe", "Size 42"]
    actions = [b["action"] for b in bubble["footer"]["contents"]]
    assert len(actions) == 4
    assert actions[0] == {
        "type": "postback",
        "label": "Option number 0 is …",
        "data": "P0",
        "displayText": "Option number 0 is long",
    }
    assert "1 buttons dropped (LINE cards show 4)" in notes


def test_link_and_call_buttons_are_uri_actions() -> None:
    card = {
        "type": "card",
        "title": "Help",
        "buttons": [
            {"type": "url", "title": "Site", "url": "https://help.example"},
            {"type": "call", "title": "Call", "phone": "tel:+1 (555) 123-4567"},
        ],
    }
    [flex] = messages(card)
    assert [b["action"] for b in flex["contents"]["footer"]["contents"]] == [
        {"type": "uri", "label": "Site", "uri": "https://help.example"},
        {"type": "uri", "label": "Call", "uri": "tel:+15551234567"},
    ]


def test_a_carousel_is_a_flex_carousel_of_at_most_12_bubbles() -> None:
    cards = [{"type": "card", "title": f"Card {i}"} for i in range(14)]
    outbounds, notes = render({"type": "carousel", "cards": cards})
    [flex] = outbounds[0].body["messages"]
    assert flex["contents"]["type"] == "carousel" and len(flex["contents"]["contents"]) == 12
    assert len(flex["altText"]) <= 400
    assert notes == ["2 carousel cards dropped (LINE shows 12)"]


def test_a_short_list_is_quick_replies_and_a_long_one_a_numbered_menu() -> None:
    items = [{"title": "Small", "payload": "S", "description": "250 ml"}, {"title": "Large", "payload": "L"}]
    [message] = messages({"type": "list", "text": "Size?", "items": items})
    assert message["text"] == "Size?\n• Small: 250 ml"
    assert [i["action"]["data"] for i in message["quickReply"]["items"]] == ["S", "L"]
    many = [{"title": f"Item {i}", "payload": f"I{i}"} for i in range(14)]
    outbounds, notes = render({"type": "list", "text": "Pick", "items": many})
    [text] = outbounds[0].body["messages"]
    assert "14. Item 13" in text["text"] and "quickReply" not in text
    assert notes == ["LINE cannot show lists: sent as a numbered text menu"]


def test_location_has_the_title_and_address_line_requires() -> None:
    [place] = messages({"type": "location", "latitude": 35.65, "longitude": 139.7})
    assert place == {
        "type": "location",
        "title": "35.65, 139.7",
        "address": "35.65, 139.7",
        "latitude": 35.65,
        "longitude": 139.7,
    }
    [named] = messages(
        {"type": "location", "latitude": 1, "longitude": 2, "name": "Shop", "address": "Main St"}
    )
    assert (named["title"], named["address"]) == ("Shop", "Main St")


def test_templates_are_refused_and_channel_specific_payloads_pass_through() -> None:
    with pytest.raises(SendRefused):
        render({"type": "template", "name": "welcome"})
    sticker = {"type": "sticker", "packageId": "446", "stickerId": "1988"}
    assert messages({"type": "channel", "payloads": {"line": sticker}}) == [sticker]
    with pytest.raises(SendRefused):
        render({"type": "channel", "payloads": {"line": {"stickerId": "1"}}})
    fallback = {"type": "channel", "payloads": {"telegram": {}}, "fallback": {"type": "text", "text": "hi"}}
    assert messages(fallback) == [{"type": "text", "text": "hi"}]


def test_quick_replies_at_most_13_and_links_as_text() -> None:
    quick = [{"type": "reply", "title": f"Q{i}", "payload": f"q{i}"} for i in range(14)]
    quick.append({"type": "url", "title": "Docs", "url": "https://docs.example"})
    outbounds, notes = render({"type": "text", "text": "Choose", "quick_replies": quick})
    body = outbounds[0].body["messages"]
    assert [m["text"] for m in body] == ["Choose", "Docs: https://docs.example"]
    items = body[-1]["quickReply"]["items"]
    assert len(items) == 13 and items[0] == {
        "type": "action",
        "action": {"type": "postback", "label": "Q0", "data": "q0", "displayText": "Q0"},
    }
    assert "1 quick replies dropped (LINE shows 13)" in notes
    assert "LINE quick replies cannot open links or dial: those actions were sent as text" in notes


def test_every_universal_type_renders_within_lines_limits() -> None:
    everything = [
        "hi",
        {"type": "media", "kind": "image", "url": "https://x.example/i.png"},
        {"type": "media", "kind": "video", "url": "https://x.example/v.mp4"},
        {"type": "card", "title": "T", "buttons": [{"type": "reply", "title": "B", "payload": "b"}]},
        {"type": "carousel", "cards": [{"type": "card", "title": "A"}, {"type": "card", "title": "B"}]},
        {"type": "list", "text": "L", "items": [{"title": "a", "payload": "a"}]},
        {"type": "location", "latitude": 0, "longitude": 0},
        {"type": "channel", "payloads": {"line": {"type": "sticker", "packageId": "1", "stickerId": "1"}}},
    ]
    outbounds, _ = render(*everything)
    assert [len(o.body["messages"]) for o in outbounds] == [5, 1, 2]  # the list's quick replies end a call
    kinds = [m["type"] for o in outbounds for m in o.body["messages"]]
    assert kinds == ["text", "image", "text", "flex", "flex", "text", "location", "sticker"]


def test_calls_hold_five_messages_and_end_after_quick_replies() -> None:
    plain = [{"type": "text", "text": str(i)} for i in range(7)]
    assert [len(c) for c in calls(plain)] == [5, 2]
    quick = {"type": "text", "text": "q", "quickReply": {"items": []}}
    assert [len(c) for c in calls([plain[0], quick, *plain[1:3]])] == [2, 2]


def test_the_reply_token_is_used_only_when_the_turn_is_fast() -> None:
    fast, _ = render("a", "b", "c", "d", "e", "f", reply_to=TOKEN, age=3)
    assert fast[0].body["replyToken"] == TOKEN and fast[0].body["replyBy"] == pytest.approx(
        1_750_000_000.0 - 3 + REPLY_WITHIN
    )
    assert "replyToken" not in fast[1].body  # single use: the rest is pushed
    assert all(o.body["to"] == USER for o in fast)
    slow, _ = render("a", reply_to=TOKEN, age=REPLY_WITHIN + 1)
    assert "replyToken" not in slow[0].body
    proactive, _ = render("a")
    assert "replyToken" not in proactive[0].body


def test_retry_keys_are_uuids_fixed_by_what_is_rendered() -> None:
    first, _ = render("a", "b", "c", "d", "e", "f")
    again, _ = render("a", "b", "c", "d", "e", "f")
    keys = [o.body["retryKey"] for o in first]
    assert keys == [o.body["retryKey"] for o in again]  # render is pure
    assert len(set(keys)) == 2 and all(len(k) == 36 for k in keys)
    other, _ = render("a", "b", "c", "d", "e", "g")
    assert other[1].body["retryKey"] != keys[1]


def test_the_simulator_refuses_what_line_refuses() -> None:
    refused = [
        [],
        [{"type": "text", "text": "x"}] * 6,
        [{"type": "text", "text": "x" * 5001}],
        [{"type": "image", "originalContentUrl": "http://a/b.png", "previewImageUrl": "https://a/b.png"}],
        [
            {
                "type": "text",
                "text": "x",
                "quickReply": {
                    "items": [{"type": "action", "action": {"type": "uri", "label": "a", "uri": "https://a"}}]
                },
            }
        ],
        [
            {
                "type": "flex",
                "altText": "a",
                "contents": {"type": "carousel", "contents": [{"type": "bubble"}] * 13},
            }
        ],
        [
            {
                "type": "template",
                "altText": "a",
                "template": {
                    "type": "buttons",
                    "text": "t",
                    "actions": [{"type": "message", "label": "a", "text": "a"}] * 5,
                },
            }
        ],
        [
            {
                "type": "text",
                "text": "x",
                "quickReply": {
                    "items": [
                        {"type": "action", "action": {"type": "postback", "label": "a", "data": "d" * 301}}
                    ]
                },
            }
        ],
    ]
    for case in refused:
        with pytest.raises(BadRequest):
            validate_messages(case)
