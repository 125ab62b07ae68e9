"""Rendering: each universal type as customer-service API bodies, limits in bytes, the 48-hour window."""

from __future__ import annotations

import time
from typing import Any

import pytest

from channelgate.channels.base import Outbound, RenderContext, SendRefused
from channelgate.messages import parse_message

from .helpers import make_channel

NOW = 1_700_000_000.0
USER = "oUser123"


def ctx(**overrides: Any) -> RenderContext:
    values: dict[str, Any] = {
        "user_id": USER,
        "locale": "zh-CN",
        "now": NOW,
        "reply_to": "m1",
        "last_inbound_at": NOW - 60,
    }
    values.update(overrides)
    return RenderContext(**values)


def render(*messages: Any, context: RenderContext | None = None) -> list[Outbound]:
    return make_channel("safe").render([parse_message(m) for m in messages], context or ctx())


def bodies(*messages: Any) -> list[dict[str, Any]]:
    return [o.body for o in render(*messages)]


def text(content: str) -> dict[str, Any]:
    return {"touser": USER, "msgtype": "text", "text": {"content": content}}


def menu(head: str, items: list[tuple[str, str]], tail: str = "") -> dict[str, Any]:
    listing = [{"id": i, "content": c} for i, c in items]
    return {
        "touser": USER,
        "msgtype": "msgmenu",
        "msgmenu": {"head_content": head, "list": listing, "tail_content": tail},
    }


REPLY = {"type": "reply", "title": "Yes", "payload": "YES"}
REPLY_NO = {"type": "reply", "title": "No", "payload": "NO"}
URL = {"type": "url", "title": "Site", "url": "https://example.com"}
CALL = {"type": "call", "title": "Hotline", "phone": "+8610123456"}

TABLE: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "text": ({"type": "text", "text": "hello"}, [text("hello")]),
    "text with quick replies": (
        {"type": "text", "text": "Continue?", "quick_replies": [REPLY, REPLY_NO]},
        [menu("Continue?", [("YES", "Yes"), ("NO", "No")])],
    ),
    "text with url and call": (
        {"type": "text", "text": "Contact us", "quick_replies": [URL, CALL]},
        [text("Contact us\nSite: https://example.com\nHotline: call +8610123456")],
    ),
    "text with mixed actions": (
        {"type": "text", "text": "Pick", "quick_replies": [REPLY, URL]},
        [menu("Pick", [("YES", "Yes")], "Site: https://example.com")],
    ),
    "image": (
        {"type": "media", "kind": "image", "url": "https://cdn.example.com/a.png"},
        [
            {
                "touser": USER,
                "msgtype": "image",
                "image": {},
                "_media": {"type": "image", "url": "https://cdn.example.com/a.png"},
            }
        ],
    ),
    "image with caption": (
        {"type": "media", "kind": "image", "url": "https://cdn.example.com/a.png", "caption": "Our shop"},
        [
            {
                "touser": USER,
                "msgtype": "image",
                "image": {},
                "_media": {"type": "image", "url": "https://cdn.example.com/a.png"},
            },
            text("Our shop"),
        ],
    ),
    "video": (
        {"type": "media", "kind": "video", "url": "https://cdn.example.com/v.mp4", "caption": "Demo"},
        [text("Demo\nhttps://cdn.example.com/v.mp4")],
    ),
    "file": (
        {"type": "media", "kind": "file", "url": "https://cdn.example.com/f.pdf", "filename": "menu.pdf"},
        [text("menu.pdf\nhttps://cdn.example.com/f.pdf")],
    ),
    "card": (
        {
            "type": "card",
            "title": "Margherita",
            "description": "Tomato, mozzarella",
            "media": {"url": "https://cdn.example.com/p.jpg"},
            "buttons": [{"type": "url", "title": "Open", "url": "https://shop.example.com/p/1"}],
        },
        [
            {
                "touser": USER,
                "msgtype": "news",
                "news": {
                    "articles": [
                        {
                            "title": "Margherita",
                            "description": "Tomato, mozzarella",
                            "url": "https://shop.example.com/p/1",
                            "picurl": "https://cdn.example.com/p.jpg",
                        }
                    ]
                },
            }
        ],
    ),
    "card with reply buttons": (
        {
            "type": "card",
            "title": "Margherita",
            "media": {"url": "https://cdn.example.com/p.jpg"},
            "buttons": [REPLY, URL, CALL],
        },
        [
            {
                "touser": USER,
                "msgtype": "news",
                "news": {
                    "articles": [
                        {
                            "title": "Margherita",
                            "description": "",
                            "url": "https://example.com",
                            "picurl": "https://cdn.example.com/p.jpg",
                        }
                    ]
                },
            },
            menu("Margherita", [("YES", "Yes")], "Hotline: call +8610123456"),
        ],
    ),
    "card without media or link": (
        {"type": "card", "title": "Order 42", "description": "Shipped", "buttons": [REPLY]},
        [menu("Order 42\nShipped", [("YES", "Yes")])],
    ),
    "carousel": (
        {
            "type": "carousel",
            "cards": [
                {
                    "type": "card",
                    "title": "Small",
                    "description": "25 cm",
                    "buttons": [{"type": "reply", "title": "Pick", "payload": "S"}],
                },
                {"type": "card", "title": "Large", "buttons": [URL]},
            ],
        },
        [
            text(
                "1. Small - 25 cm\n2. Large\n   Site: https://example.com\n"
                "Reply with the number of your choice."
            )
        ],
    ),
    "list": (
        {
            "type": "list",
            "header": "Sizes",
            "text": "Which size?",
            "footer": "Prices include VAT",
            "items": [
                {"title": "Small", "description": "25 cm", "payload": "SIZE_S"},
                {"title": "Large", "payload": "SIZE_L"},
            ],
        },
        [
            menu(
                "Sizes\nWhich size?", [("SIZE_S", "Small - 25 cm"), ("SIZE_L", "Large")], "Prices include VAT"
            )
        ],
    ),
    "location": (
        {
            "type": "location",
            "latitude": 39.9042,
            "longitude": 116.4074,
            "name": "Office",
            "address": "Beijing",
        },
        [text("Office\nBeijing\n39.904200, 116.407400")],
    ),
    "template": (
        {
            "type": "template",
            "name": "TPL_ORDER",
            "parameters": ["A-42", "2024-01-01", {"url": "https://shop.example.com/o/42"}],
        },
        [
            {
                "_api": "template",
                "touser": USER,
                "template_id": "TPL_ORDER",
                "url": "https://shop.example.com/o/42",
                "data": {"keyword1": {"value": "A-42"}, "keyword2": {"value": "2024-01-01"}},
            }
        ],
    ),
    "template with named fields": (
        {
            "type": "template",
            "name": "TPL_2",
            "parameters": [
                {"name": "thing1", "value": "Pizza", "color": "#173177"},
                {"name": "amount2", "value": 12},
            ],
        },
        [
            {
                "_api": "template",
                "touser": USER,
                "template_id": "TPL_2",
                "data": {"thing1": {"value": "Pizza", "color": "#173177"}, "amount2": {"value": "12"}},
            }
        ],
    ),
    "channel specific": (
        {"type": "channel", "payloads": {"wechat": {"msgtype": "mpnews", "mpnews": {"media_id": "MPNEWS1"}}}},
        [{"touser": USER, "msgtype": "mpnews", "mpnews": {"media_id": "MPNEWS1"}}],
    ),
    "channel specific template": (
        {"type": "channel", "payloads": {"wechat": {"template_id": "T", "data": {"k": {"value": "v"}}}}},
        [{"_api": "template", "touser": USER, "template_id": "T", "data": {"k": {"value": "v"}}}],
    ),
    "channel specific fallback": (
        {
            "type": "channel",
            "payloads": {"messenger": {"x": 1}},
            "fallback": {"type": "text", "text": "plain"},
        },
        [text("plain")],
    ),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_each_universal_type_renders_to_customer_service_bodies(name: str) -> None:
    message, expected = TABLE[name]
    assert bodies(message) == expected


def test_long_text_is_split_by_utf8_bytes_at_character_boundaries() -> None:
    content = "你好世界。" * 300  # 4500 bytes of 3-byte characters
    context = ctx()
    out = make_channel("safe").render([parse_message(content)], context)
    parts = [o.body["text"]["content"] for o in out]
    assert len(parts) == 3
    assert all(len(p.encode()) <= 2048 for p in parts)
    assert "".join(parts) == content
    assert any("split" in n for n in context.notes)


def test_text_just_at_the_byte_limit_is_one_message() -> None:
    assert len(bodies("中" * 682 + "ab")) == 1  # 2048 bytes


def test_more_than_ten_choices_fall_back_to_numbered_text() -> None:
    items = [{"type": "reply", "title": f"Option {i}", "payload": f"P{i}"} for i in range(1, 12)]
    (body,) = bodies({"type": "text", "text": "Choose", "quick_replies": items})
    content = body["text"]["content"]
    assert content.startswith("Choose\n1. Option 1\n2. Option 2")
    assert "11. Option 11" in content and content.endswith("Reply with the number of your choice.")


def test_payload_too_long_for_a_menu_id_falls_back_to_numbered_text() -> None:
    (body,) = bodies(
        {
            "type": "text",
            "text": "Go?",
            "quick_replies": [{"type": "reply", "title": "Go", "payload": "x" * 65}],
        }
    )
    assert body["msgtype"] == "text"


def test_long_menu_head_is_split_to_fit_1024_bytes() -> None:
    head = "这是一个很长的问题。" * 60  # 1800 bytes
    out = bodies({"type": "text", "text": head, "quick_replies": [REPLY]})
    assert [b["msgtype"] for b in out] == ["text", "msgmenu"]
    assert len(out[1]["msgmenu"]["head_content"].encode()) <= 1024
    assert out[0]["text"]["content"] + out[1]["msgmenu"]["head_content"] == head


def test_menu_choice_titles_are_cut_to_128_bytes() -> None:
    context = ctx()
    long_title = "选" * 60
    out = make_channel("safe").render(
        [
            parse_message(
                {
                    "type": "text",
                    "text": "Q",
                    "quick_replies": [{"type": "reply", "title": long_title, "payload": "P"}],
                }
            )
        ],
        context,
    )
    assert len(out[0].body["msgmenu"]["list"][0]["content"].encode()) <= 128
    assert context.notes


def test_quick_replies_on_an_image_without_caption_get_a_prompt() -> None:
    out = bodies({"type": "media", "kind": "image", "url": "https://x/a.png", "quick_replies": [REPLY]})
    assert out[1] == menu("Please choose:", [("YES", "Yes")])


# --- the 48-hour window --------------------------------------------------------------------------------


def test_proactive_send_outside_48_hours_is_refused() -> None:
    with pytest.raises(SendRefused, match="48-hour"):
        render("hello", context=ctx(reply_to=None, last_inbound_at=NOW - 49 * 3600))


def test_proactive_send_without_any_inbound_is_refused() -> None:
    with pytest.raises(SendRefused):
        render("hello", context=ctx(reply_to=None, last_inbound_at=None))


def test_proactive_send_inside_48_hours_is_allowed() -> None:
    (out,) = render("hello", context=ctx(reply_to=None, last_inbound_at=NOW - 47 * 3600))
    assert out.body == text("hello")


def test_template_is_allowed_outside_the_window() -> None:
    (out,) = render(
        {"type": "template", "name": "T", "parameters": ["x"]},
        context=ctx(reply_to=None, last_inbound_at=None),
    )
    assert out.body["_api"] == "template"


def test_template_fallback_replaces_a_message_outside_the_window() -> None:
    message = {
        "type": "text",
        "text": "Your order shipped",
        "options": {"template_fallback": {"type": "template", "name": "SHIPPED", "parameters": ["A-1"]}},
    }
    context = ctx(reply_to=None, last_inbound_at=None)
    (out,) = render(message, context=context)
    assert out.body == {
        "_api": "template",
        "touser": USER,
        "template_id": "SHIPPED",
        "data": {"keyword1": {"value": "A-1"}},
    }
    assert context.notes


def test_template_fallback_rides_along_inside_the_window() -> None:
    message = {
        "type": "text",
        "text": "Your order shipped",
        "options": {"template_fallback": {"type": "template", "name": "SHIPPED"}},
    }
    (out,) = render(message)
    assert out.body == text("Your order shipped")
    assert out.fallback is not None and out.fallback["template_id"] == "SHIPPED"


def test_replies_are_not_subject_to_the_proactive_rule() -> None:
    (out,) = render("late answer", context=ctx(reply_to="m1", last_inbound_at=NOW - 50 * 3600))
    assert out.body == text("late answer")


def test_render_is_pure() -> None:
    message = TABLE["card with reply buttons"][0]
    assert bodies(message) == bodies(message)


def test_summaries_are_short_and_present() -> None:
    for message, _ in TABLE.values():
        for out in render(message):
            assert out.summary and len(out.summary) <= 300


def test_bodies_are_json_serialisable() -> None:
    import orjson

    for message, _ in TABLE.values():
        for out in render(message):
            orjson.dumps(out.body)


def test_real_time_context_works() -> None:
    (out,) = make_channel("safe").render(
        [parse_message("hi")], RenderContext(user_id=USER, locale="en", now=time.time(), reply_to="m")
    )
    assert out.body == text("hi")
