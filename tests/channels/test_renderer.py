"""The renderer base: exhaustive dispatch, text-degrading defaults that say what they changed."""

from __future__ import annotations

from typing import Any

import pytest

from channelgate.channels.base import RenderContext, SendRefused
from channelgate.channels.renderer import Renderer
from channelgate.messages import parse_message


class TextOnly(Renderer[dict[str, Any]]):
    """A platform that shows nothing but text of at most 40 characters."""

    channel = "textonly"
    product = "TextOnly"

    def texts(self, text: str) -> list[dict[str, Any]]:
        return [{"text": text[i : i + 40]} for i in range(0, len(text), 40)]

    def passthrough(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"raw": payload}


def render(obj: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    ctx = RenderContext(user_id="u1", locale="en", now=0.0, reply_to="m1")
    return TextOnly(ctx).render(parse_message(obj)), ctx.notes


def test_text_is_split_by_the_channel_and_noted() -> None:
    bodies, notes = render({"type": "text", "text": "x" * 90})
    assert [len(b["text"]) for b in bodies] == [40, 40, 10]
    assert notes == ["text of 90 characters sent as 3 messages"]


def test_media_degrades_to_a_link_with_its_caption() -> None:
    bodies, notes = render({"type": "media", "kind": "image", "url": "https://x.test/a.png", "caption": "A"})
    assert bodies == [{"text": "A\nhttps://x.test/a.png"}]
    assert notes == ["TextOnly cannot show image attachments: sent as a link"]


def test_card_degrades_to_lines_with_its_buttons() -> None:
    card = {
        "type": "card",
        "title": "Shoes",
        "description": "Red",
        "buttons": [
            {"type": "url", "title": "Shop", "url": "https://s.test"},
            {"type": "reply", "title": "More", "payload": "MORE"},
        ],
    }
    bodies, notes = render(card)
    assert "".join(b["text"] for b in bodies) == "Shoes\nRed\nShop: https://s.test\nMore"
    assert notes == ["TextOnly cannot show cards: sent as text"]


def test_list_degrades_to_a_numbered_menu() -> None:
    message = {
        "type": "list",
        "text": "Pick",
        "items": [{"title": "A", "payload": "a"}, {"title": "B", "payload": "b"}],
    }
    bodies, notes = render(message)
    text = "".join(b["text"] for b in bodies)
    assert text.startswith("Pick\n1. A\n2. B\n")
    assert notes == ["TextOnly cannot show lists: sent as a numbered text menu"]


def test_location_is_a_maps_link() -> None:
    bodies, _ = render({"type": "location", "latitude": 1.5, "longitude": 2.5, "name": "Shop"})
    assert (
        "".join(b["text"] for b in bodies) == "Shop\nhttps://www.google.com/maps/search/?api=1&query=1.5,2.5"
    )


def test_quick_replies_follow_as_a_menu() -> None:
    message = {
        "type": "text",
        "text": "Hi",
        "quick_replies": [{"type": "reply", "title": "Yes", "payload": "Y"}],
    }
    bodies, notes = render(message)
    assert bodies[0] == {"text": "Hi"}
    assert "1. Yes" in "".join(b["text"] for b in bodies[1:])
    assert notes == ["TextOnly cannot show quick replies: sent as a numbered text menu"]


def test_template_is_refused_not_degraded() -> None:
    with pytest.raises(SendRefused, match="no pre-approved message templates"):
        render({"type": "template", "name": "order_update"})


def test_channel_specific_passes_its_own_payload_through() -> None:
    bodies, _ = render({"type": "channel", "payloads": {"textonly": {"k": 1}, "other": {"k": 2}}})
    assert bodies == [{"raw": {"k": 1}}]


def test_channel_specific_falls_back_or_is_skipped_with_a_note() -> None:
    fallback = {"type": "channel", "payloads": {"other": {}}, "fallback": {"type": "text", "text": "plain"}}
    assert render(fallback)[0] == [{"text": "plain"}]
    bodies, notes = render({"type": "channel", "payloads": {"other": {}}})
    assert bodies == []
    assert notes == ["channel-specific message without a textonly payload or fallback: skipped"]
