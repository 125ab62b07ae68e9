"""Universal messages → Instagram Send API calls: every type rendered natively or degraded with a note,
within Instagram's limits (each body is checked by the simulator's validation), and the 24-hour window with
the HUMAN_AGENT tag."""

from __future__ import annotations

from typing import Any

import pytest

from channelgate.channels.base import RenderContext, SendRefused
from channelgate.channels.meta.render import DAY
from channelgate.messages import UniversalMessage, parse_message
from channelgate.testing.instagram import validate

from .kit import IGSID, NOW, channel, render_ctx

URL = "https://cdn.example/a.png"


def parse_messages(objs: list[Any]) -> list[UniversalMessage]:
    return [parse_message(o) for o in objs]


def render(messages: list[Any], ctx: RenderContext | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """The message bodies (sender actions left out) and the notes; every call is one Instagram accepts."""
    ctx = ctx or render_ctx()
    outbounds = channel().render(parse_messages(messages), ctx)
    for outbound in outbounds:
        assert validate(outbound.body) is None, (outbound.body, validate(outbound.body))
    return [o.body["message"] for o in outbounds if o.kind == "message"], ctx.notes


def test_a_reply_starts_with_the_read_mark_and_typing_indicator() -> None:
    outbounds = channel().render(parse_messages(["hi"]), render_ctx())
    assert [o.body.get("sender_action") for o in outbounds] == ["mark_seen", "typing_on", None]
    assert all(o.best_effort for o in outbounds[:2])
    assert outbounds[2].body == {
        "recipient": {"id": IGSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "hi"},
    }


def test_a_proactive_send_inside_the_window_is_an_update_without_actions() -> None:
    outbounds = channel().render(parse_messages(["hi"]), render_ctx(reply_to=None))
    assert [o.body["messaging_type"] for o in outbounds] == ["UPDATE"]


def test_long_text_is_split_at_1000_characters() -> None:
    text = ("A sentence of some length. " * 60).strip()
    bodies, notes = render([text])
    assert len(bodies) == 2 and all(len(b["text"]) <= 1000 for b in bodies)
    assert " ".join(b["text"] for b in bodies) == text
    assert "sent as 2 messages" in notes[0]


def test_quick_replies_up_to_13_with_titles_cut_to_20() -> None:
    quick = [{"type": "reply", "title": f"Option number {i} here!", "payload": f"P{i}"} for i in range(15)]
    [body], notes = render([{"type": "text", "text": "Pick", "quick_replies": quick}])
    assert len(body["quick_replies"]) == 13
    assert body["quick_replies"][0] == {
        "content_type": "text",
        "title": "Option number 0 her…",
        "payload": "P0",
    }
    assert any("2 quick replies dropped (Instagram shows 13)" in n for n in notes)


def test_link_actions_among_quick_replies_become_text() -> None:
    quick = [
        {"type": "reply", "title": "Yes", "payload": "YES"},
        {"type": "url", "title": "Site", "url": URL},
    ]
    [body], notes = render([{"type": "text", "text": "Pick", "quick_replies": quick}])
    assert body["text"] == f"Pick\n\nSite: {URL}"
    assert [q["payload"] for q in body["quick_replies"]] == ["YES"]
    assert any("Instagram quick replies only send replies" in n for n in notes)


def test_a_card_is_a_generic_template_and_its_call_button_text() -> None:
    card = {
        "type": "card",
        "title": "Shoe",
        "description": "Size 42",
        "media": {"url": URL},
        "buttons": [
            {"type": "reply", "title": "Buy", "payload": "BUY"},
            {"type": "url", "title": "More", "url": "https://shop.example"},
            {"type": "call", "title": "Call us", "phone": "+15551234567"},
        ],
    }
    [template, call], notes = render([card])
    [element] = template["attachment"]["payload"]["elements"]
    assert element == {
        "title": "Shoe",
        "subtitle": "Size 42",
        "image_url": URL,
        "buttons": [
            {"type": "postback", "title": "Buy", "payload": "BUY"},
            {"type": "web_url", "url": "https://shop.example", "title": "More"},
        ],
    }
    assert call == {"text": "Call us: +15551234567"}
    assert "Instagram cannot show call buttons: sent as text" in notes


def test_a_card_without_an_image_is_still_a_generic_template() -> None:
    card = {"type": "card", "title": "Shoe", "buttons": [{"type": "reply", "title": "Buy", "payload": "B"}]}
    [template], _ = render([card])
    assert template["attachment"]["payload"]["template_type"] == "generic"


def test_a_title_only_card_is_text() -> None:
    assert render([{"type": "card", "title": "Just a title"}])[0] == [{"text": "Just a title"}]


def test_a_carousel_keeps_10_cards() -> None:
    cards = [{"type": "card", "title": f"Card {i}", "description": "d"} for i in range(12)]
    [template], notes = render([{"type": "carousel", "cards": cards}])
    assert len(template["attachment"]["payload"]["elements"]) == 10
    assert "2 carousel cards dropped (Instagram shows 10)" in notes


@pytest.mark.parametrize("kind", ["image", "video", "audio"])
def test_media_by_url(kind: str) -> None:
    [body], notes = render([{"type": "media", "kind": kind, "url": URL}])
    assert body == {"attachment": {"type": kind, "payload": {"url": URL}}} and notes == []


def test_a_caption_follows_as_text() -> None:
    bodies, notes = render([{"type": "media", "kind": "image", "url": URL, "caption": "A picture"}])
    assert bodies[1] == {"text": "A picture"}
    assert "Instagram attachments have no caption: it follows as a text message" in notes


def test_a_file_is_sent_as_its_link() -> None:
    bodies, notes = render(
        [{"type": "media", "kind": "file", "url": "https://cdn.example/a.pdf", "filename": "a.pdf"}]
    )
    assert bodies == [{"text": "a.pdf\nhttps://cdn.example/a.pdf"}]
    assert "Instagram cannot show file attachments: sent as a link" in notes


def test_a_short_list_is_quick_replies_and_a_long_one_generic_templates() -> None:
    short = [{"title": f"Item {i}", "payload": f"I{i}"} for i in range(3)]
    [body], _ = render([{"type": "list", "text": "Pick", "items": short}])
    assert [q["payload"] for q in body["quick_replies"]] == ["I0", "I1", "I2"]
    long = [{"title": f"Item {i}", "payload": f"I{i}", "description": "d"} for i in range(12)]
    bodies, _ = render([{"type": "list", "text": "Pick", "items": long}])
    assert [len(b["attachment"]["payload"]["elements"]) for b in bodies[1:]] == [10, 2]


def test_a_location_is_text_with_a_map_link() -> None:
    [body], _ = render([{"type": "location", "latitude": 48.85, "longitude": 2.35, "name": "Louvre"}])
    assert body["text"].startswith("Louvre\nhttps://www.google.com/maps/")


def test_a_template_is_refused() -> None:
    with pytest.raises(SendRefused, match="Instagram has no pre-approved message templates"):
        render([{"type": "template", "name": "welcome", "language": "en"}])


def test_a_channel_specific_payload_passes_through() -> None:
    payload = {"attachment": {"type": "image", "payload": {"url": URL}}}
    bodies, _ = render([{"type": "channel", "payloads": {"instagram": payload, "messenger": {"text": "no"}}}])
    assert bodies == [payload]


# --- the window ---


def test_outside_the_window_a_send_without_a_tag_is_refused() -> None:
    with pytest.raises(SendRefused, match="Instagram's 24-hour window has closed"):
        render(["late"], render_ctx(reply_to=None, last=NOW - 2 * DAY))


def test_a_human_agent_may_answer_for_7_days() -> None:
    ctx = render_ctx(reply_to=None, last=NOW - 3 * DAY)
    outbounds = channel().render(
        parse_messages([{"type": "text", "text": "Agent here", "options": {"tag": "HUMAN_AGENT"}}]), ctx
    )
    assert outbounds[0].body["messaging_type"] == "MESSAGE_TAG" and outbounds[0].body["tag"] == "HUMAN_AGENT"
    late = render_ctx(reply_to=None, last=NOW - 8 * DAY)
    with pytest.raises(SendRefused, match="only works up to 7 days"):
        channel().render(
            parse_messages([{"type": "text", "text": "x", "options": {"tag": "HUMAN_AGENT"}}]), late
        )


def test_messenger_only_tags_are_refused() -> None:
    ctx = render_ctx(reply_to=None, last=NOW - 2 * DAY)
    with pytest.raises(SendRefused, match="unknown Instagram message tag 'ACCOUNT_UPDATE'"):
        channel().render(
            parse_messages([{"type": "text", "text": "x", "options": {"tag": "ACCOUNT_UPDATE"}}]), ctx
        )
