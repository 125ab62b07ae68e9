"""Universal messages → chat.postMessage bodies: every type rendered natively or degraded with a note, and
every body within the limits the simulator checks (Slack's)."""

from __future__ import annotations

from typing import Any

import pytest

from channelgate.channels.base import RenderContext, SendRefused
from channelgate.channels.slack.render import escape, thread_for
from channelgate.messages import parse_message
from channelgate.testing.slack import buttons, validate_post

from .kit import DM, channel, render_ctx

EVERY_TYPE: list[dict[str, Any]] = [
    {"type": "text", "text": "Hello <!channel> & co"},
    {"type": "media", "kind": "image", "url": "https://cdn.example/a.png", "caption": "A picture"},
    {"type": "media", "kind": "video", "url": "https://cdn.example/a.mp4"},
    {
        "type": "card",
        "title": "Shoe",
        "description": "Size 42",
        "media": {"url": "https://cdn.example/shoe.png"},
        "buttons": [
            {"type": "reply", "title": "Buy", "payload": "BUY"},
            {"type": "url", "title": "More", "url": "https://shop.example"},
            {"type": "call", "title": "Call", "phone": "+15551234567"},
        ],
    },
    {"type": "carousel", "cards": [{"type": "card", "title": "One"}, {"type": "card", "title": "Two"}]},
    {
        "type": "list",
        "text": "Pick",
        "footer": "Thanks",
        "items": [{"title": "A", "payload": "A", "description": "x"}],
    },
    {
        "type": "list",
        "text": "Pick",
        "items": [{"title": "A", "payload": "PA"}, {"title": "B", "payload": "PB"}],
    },
    {"type": "location", "latitude": 48.85, "longitude": 2.35, "name": "Louvre", "address": "Paris"},
    {"type": "channel", "payloads": {"slack": {"text": "raw", "unfurl_links": False}}},
    {
        "type": "text",
        "text": "Choose",
        "quick_replies": [
            {"type": "reply", "title": "Yes", "payload": "YES"},
            {"type": "url", "title": "Docs", "url": "https://docs.example"},
        ],
    },
]


def render(
    messages: list[dict[str, Any]], ctx: RenderContext | None = None, **config: Any
) -> list[dict[str, Any]]:
    context = ctx or render_ctx()
    outbounds = channel(**config).render([parse_message(m) for m in messages], context)
    for outbound in outbounds:
        assert validate_post(outbound.body) is None, (outbound.body, validate_post(outbound.body))
    return [o.body for o in outbounds]


def test_every_universal_type_is_rendered_within_slacks_limits() -> None:
    ctx = render_ctx()
    bodies = render(EVERY_TYPE, ctx)
    assert all(body["channel"] == DM for body in bodies)
    text, image, video, card, carousel, described, plain, location, raw, quick = bodies
    assert text == {"channel": DM, "text": "Hello &lt;!channel&gt; &amp; co"}
    assert image["blocks"] == [
        {
            "type": "image",
            "image_url": "https://cdn.example/a.png",
            "alt_text": "A picture",
            "title": {"type": "plain_text", "text": "A picture"},
        }
    ]
    assert video["text"] == "https://cdn.example/a.mp4"
    kinds = [block["type"] for block in card["blocks"]]
    assert kinds == ["section", "image", "actions", "context"]
    assert card["blocks"][0]["text"]["text"] == "*Shoe*\nSize 42"
    assert [b.get("value") or b.get("url") for b in buttons(card)] == ["BUY", "https://shop.example"]
    assert "+15551234567" in card["blocks"][3]["elements"][0]["text"]
    assert [block["type"] for block in carousel["blocks"]] == ["section", "divider", "section"]
    assert [b["value"] for b in buttons(described)] == ["A"] and described["blocks"][-1]["type"] == "context"
    assert [b["value"] for b in buttons(plain)] == ["PA", "PB"]
    assert "google.com/maps" in location["text"] and "Louvre" in location["text"]
    assert raw == {"channel": DM, "text": "raw", "unfurl_links": False}
    assert quick["text"] == "Choose" and [b.get("value") or b.get("url") for b in buttons(quick)] == [
        "YES",
        "https://docs.example",
    ]
    assert any("cannot show video attachments" in n for n in ctx.notes)
    assert any("call buttons" in n for n in ctx.notes)
    assert any("carousels" in n for n in ctx.notes)


def test_a_template_is_refused() -> None:
    with pytest.raises(SendRefused, match="templates"):
        render([{"type": "template", "name": "hello"}])


def test_long_text_is_split_at_40000_characters_counting_escapes() -> None:
    ctx = render_ctx()
    bodies = render([{"type": "text", "text": ("word & " * 7000).strip()}], ctx)
    assert len(bodies) == 2 and all(len(b["text"]) <= 40_000 for b in bodies)
    assert any("sent as 2 messages" in n for n in ctx.notes)


def test_quick_replies_on_a_long_text_become_sections_of_3000() -> None:
    quick = [{"type": "reply", "title": f"Option {i}", "payload": f"P{i}"} for i in range(30)]
    ctx = render_ctx()
    (body,) = render([{"type": "text", "text": "x " * 4000, "quick_replies": quick}], ctx)
    sections = [b for b in body["blocks"] if b["type"] == "section"]
    assert len(sections) == 3 and all(len(s["text"]["text"]) <= 3000 for s in sections)
    assert len(buttons(body)) == 25 and any("only the first 25" in n for n in ctx.notes)


def test_a_long_carousel_is_packed_into_messages_of_at_most_50_blocks() -> None:
    cards = [
        {"type": "card", "title": f"Card {i}", "media": {"url": f"https://cdn.example/{i}.png"}}
        for i in range(30)
    ]
    ctx = render_ctx()
    bodies = render([{"type": "carousel", "cards": cards}], ctx)
    assert len(bodies) == 2 and all(len(b["blocks"]) <= 50 for b in bodies)
    assert all(b["blocks"][0]["type"] != "divider" and b["blocks"][-1]["type"] != "divider" for b in bodies)


def test_limits_of_buttons_are_kept_and_noted() -> None:
    ctx = render_ctx()
    card = {
        "type": "card",
        "title": "T",
        "buttons": [
            {"type": "reply", "title": "B" * 100, "payload": "OK"},
            {"type": "reply", "title": "Huge", "payload": "P" * 2001},
        ],
    }
    (body,) = render([card], ctx)
    (button,) = buttons(body)
    assert len(button["text"]["text"]) == 75 and button["value"] == "OK"
    assert any("payload over 2000" in n for n in ctx.notes)


@pytest.mark.parametrize(
    ("reply_to", "in_thread", "expected"),
    [
        (None, True, None),
        ("1.0", False, None),
        ("1.0", True, "1.0"),
        ("2.0@1.0", False, "1.0"),
        ("2.0@1.0", True, "1.0"),
    ],
)
def test_replies_go_to_the_thread_they_answer_when_configured(
    reply_to: str | None, in_thread: bool, expected: str | None
) -> None:
    assert thread_for(reply_to, in_thread) == expected
    (body,) = render(
        [{"type": "text", "text": "hi"}], render_ctx(reply_to=reply_to), reply_in_thread=in_thread
    )
    assert body.get("thread_ts") == expected


def test_escape() -> None:
    assert escape("<@U1> & <!here>") == "&lt;@U1&gt; &amp; &lt;!here&gt;"
