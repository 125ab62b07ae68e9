"""Universal messages → Messenger Send API payloads: exact payloads, accepted by the simulator's validator,
and the 24-hour window rules."""

from __future__ import annotations

from typing import Any

import pytest
from metakit import PSID, messenger, render_ctx

from channelgate.channels.base import Outbound, SendRefused
from channelgate.channels.meta.render import DAY
from channelgate.messages import parse_message
from channelgate.testing.graph import validate_messenger

IMG = "https://cdn.example/shoe.png"


def render(messages: list[Any], **ctx: Any) -> tuple[list[Outbound], list[str]]:
    context = render_ctx(**ctx)
    outbounds = messenger().render([parse_message(m) for m in messages], context)
    for outbound in outbounds:
        problem = validate_messenger(outbound.body)
        assert problem is None, f"{problem}: {outbound.body}"
    return outbounds, context.notes


def messages_of(outbounds: list[Outbound]) -> list[dict[str, Any]]:
    return [o.body["message"] for o in outbounds if "message" in o.body]


def generic(*elements: dict[str, Any]) -> dict[str, Any]:
    return {
        "attachment": {
            "type": "template",
            "payload": {"template_type": "generic", "elements": list(elements)},
        }
    }


def postback(title: str, payload: str) -> dict[str, str]:
    return {"type": "postback", "title": title, "payload": payload}


def qr(title: str, payload: str) -> dict[str, str]:
    return {"content_type": "text", "title": title, "payload": payload}


CASES: list[tuple[str, Any, list[dict[str, Any]]]] = [
    ("text", "hello", [{"text": "hello"}]),
    (
        "text with quick replies",
        {
            "type": "text",
            "text": "Pick a color:",
            "quick_replies": [{"type": "reply", "title": "Red", "payload": "COLOR_RED"}],
        },
        [{"text": "Pick a color:", "quick_replies": [qr("Red", "COLOR_RED")]}],
    ),
    (
        "quick replies with a link become text",
        {
            "type": "text",
            "text": "Pick:",
            "quick_replies": [
                {"type": "reply", "title": "Red", "payload": "R"},
                {"type": "url", "title": "Catalogue", "url": "https://shop.example"},
            ],
        },
        [{"text": "Pick:\n\nCatalogue: https://shop.example", "quick_replies": [qr("Red", "R")]}],
    ),
    (
        "card without image is a button template",
        {
            "type": "card",
            "title": "Your order",
            "description": "Ready for pickup",
            "buttons": [
                {"type": "reply", "title": "Pick up", "payload": "PICKUP"},
                {"type": "url", "title": "Track", "url": "https://shop.example/t/1"},
                {"type": "call", "title": "Call us", "phone": "tel:+1-555-010-0000"},
            ],
        },
        [
            {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "button",
                        "text": "Your order\nReady for pickup",
                        "buttons": [
                            postback("Pick up", "PICKUP"),
                            {"type": "web_url", "url": "https://shop.example/t/1", "title": "Track"},
                            {"type": "phone_number", "title": "Call us", "payload": "+15550100000"},
                        ],
                    },
                }
            }
        ],
    ),
    (
        "card without buttons or image is text",
        {"type": "card", "title": "Hours", "description": "9 to 5"},
        [{"text": "Hours\n9 to 5"}],
    ),
    (
        "card with image is a generic template",
        {
            "type": "card",
            "title": "Shoe",
            "description": "Size 42",
            "media": {"url": IMG},
            "buttons": [{"type": "reply", "title": "Buy", "payload": "BUY_1"}],
        },
        [
            generic(
                {
                    "title": "Shoe",
                    "subtitle": "Size 42",
                    "image_url": IMG,
                    "buttons": [postback("Buy", "BUY_1")],
                }
            )
        ],
    ),
    (
        "carousel is a generic template",
        {
            "type": "carousel",
            "cards": [
                {"type": "card", "title": "A", "media": {"url": IMG}},
                {
                    "type": "card",
                    "title": "B",
                    "description": "b",
                    "buttons": [{"type": "reply", "title": "Go", "payload": "B"}],
                },
            ],
            "quick_replies": [{"type": "reply", "title": "More", "payload": "MORE"}],
        },
        [
            {
                **generic(
                    {"title": "A", "image_url": IMG},
                    {"title": "B", "subtitle": "b", "buttons": [postback("Go", "B")]},
                ),
                "quick_replies": [qr("More", "MORE")],
            }
        ],
    ),
    (
        "short list is quick replies",
        {
            "type": "list",
            "header": "Sizes",
            "text": "Choose a size",
            "items": [{"title": "Small", "payload": "S"}, {"title": "Medium", "payload": "M"}],
        },
        [{"text": "Sizes\nChoose a size", "quick_replies": [qr("Small", "S"), qr("Medium", "M")]}],
    ),
    (
        "list with descriptions is a generic template",
        {
            "type": "list",
            "text": "Choose a pizza",
            "items": [
                {"title": "Small", "description": "Serves 1", "payload": "S"},
                {"title": "Medium", "description": "Serves 2", "payload": "M"},
            ],
        },
        [
            {"text": "Choose a pizza"},
            generic(
                {"title": "Small", "subtitle": "Serves 1", "buttons": [postback("Choose", "S")]},
                {"title": "Medium", "subtitle": "Serves 2", "buttons": [postback("Choose", "M")]},
            ),
        ],
    ),
    (
        "image by url",
        {"type": "media", "kind": "image", "url": IMG},
        [{"attachment": {"type": "image", "payload": {"url": IMG, "is_reusable": True}}}],
    ),
    (
        "file with caption",
        {"type": "media", "kind": "file", "url": "https://cdn.example/a.pdf", "caption": "Your invoice"},
        [
            {
                "attachment": {
                    "type": "file",
                    "payload": {"url": "https://cdn.example/a.pdf", "is_reusable": True},
                }
            },
            {"text": "Your invoice"},
        ],
    ),
    (
        "audio and video by url",
        [
            {"type": "media", "kind": "audio", "url": "https://cdn/a.mp3"},
            {"type": "media", "kind": "video", "url": "https://cdn/v.mp4"},
        ],
        [
            {"attachment": {"type": "audio", "payload": {"url": "https://cdn/a.mp3", "is_reusable": True}}},
            {"attachment": {"type": "video", "payload": {"url": "https://cdn/v.mp4", "is_reusable": True}}},
        ],
    ),
    (
        "location is text with a map link",
        {
            "type": "location",
            "latitude": 48.8584,
            "longitude": 2.2945,
            "name": "Eiffel Tower",
            "address": "Paris",
        },
        [{"text": "Eiffel Tower\nParis\nhttps://www.google.com/maps/search/?api=1&query=48.8584,2.2945"}],
    ),
    (
        "channel-specific payload passes through",
        {
            "type": "channel",
            "payloads": {"messenger": {"text": "raw", "metadata": "m"}, "whatsapp": {"type": "text"}},
        },
        [{"text": "raw", "metadata": "m"}],
    ),
    (
        "channel-specific fallback is rendered",
        {
            "type": "channel",
            "payloads": {"whatsapp": {"type": "text"}},
            "fallback": {"type": "text", "text": "plain"},
        },
        [{"text": "plain"}],
    ),
    (
        "channel-specific without payload or fallback is skipped",
        {"type": "channel", "payloads": {"x": {}}},
        [],
    ),
]


@pytest.mark.parametrize(("name", "message", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rendering(name: str, message: Any, expected: list[dict[str, Any]]) -> None:
    outbounds, _ = render(message if isinstance(message, list) else [message])
    assert messages_of(outbounds) == expected
    for outbound in outbounds:
        assert outbound.body["recipient"] == {"id": PSID}
        assert outbound.body["messaging_type"] == "UPDATE"  # proactive (no reply_to) inside the window
        assert outbound.kind == "message" and outbound.summary


def test_template_is_refused_with_a_reason() -> None:
    with pytest.raises(SendRefused, match="no pre-approved message templates"):
        render([{"type": "template", "name": "order_update"}])


def test_reply_is_preceded_by_mark_seen_and_typing_on() -> None:
    outbounds, _ = render(["hi"], reply_to="m_IN")
    assert [o.body for o in outbounds[:2]] == [
        {"recipient": {"id": PSID}, "sender_action": "mark_seen"},
        {"recipient": {"id": PSID}, "sender_action": "typing_on"},
    ]
    assert all(o.kind == "action" and o.best_effort for o in outbounds[:2])
    assert outbounds[2].body == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "hi"},
    }
    assert outbounds[2].kind == "message" and not outbounds[2].best_effort


def test_nothing_to_send_means_no_typing_indicator() -> None:
    outbounds, _ = render([{"type": "channel", "payloads": {}}], reply_to="m_IN")
    assert outbounds == []


def test_long_text_is_split_at_sentence_boundaries_and_quick_replies_go_on_the_last_part() -> None:
    text = " ".join(["This is a sentence that repeats."] * 120)
    outbounds, notes = render(
        [{"type": "text", "text": text, "quick_replies": [{"type": "reply", "title": "OK", "payload": "OK"}]}]
    )
    parts = messages_of(outbounds)
    assert len(parts) == 2 and all(len(p["text"]) <= 2000 for p in parts)
    assert all(p["text"].endswith(".") for p in parts)
    assert "quick_replies" not in parts[0] and parts[1]["quick_replies"] == [qr("OK", "OK")]
    assert any("sent as 2 messages" in n for n in notes)


def test_quick_replies_are_limited_to_13_with_titles_cut_to_20() -> None:
    replies = [
        {"type": "reply", "title": f"Option number {i} is long", "payload": f"P{i}"} for i in range(15)
    ]
    outbounds, notes = render([{"type": "text", "text": "Choose", "quick_replies": replies}])
    [message] = messages_of(outbounds)
    assert len(message["quick_replies"]) == 13
    assert message["quick_replies"][0]["title"] == "Option number 0 is …"
    assert any("2 quick replies dropped" in n for n in notes)
    assert any("truncated to 20" in n for n in notes)


def test_card_buttons_are_limited_to_three() -> None:
    buttons = [{"type": "reply", "title": f"B{i}", "payload": f"P{i}"} for i in range(5)]
    outbounds, notes = render([{"type": "card", "title": "T", "buttons": buttons}])
    [message] = messages_of(outbounds)
    assert len(message["attachment"]["payload"]["buttons"]) == 3
    assert any("2 buttons dropped" in n for n in notes)


def test_long_card_text_goes_before_the_button_template() -> None:
    description = " ".join(["Words make sentences."] * 60)
    outbounds, _ = render(
        [
            {
                "type": "card",
                "title": "T",
                "description": description,
                "buttons": [{"type": "reply", "title": "OK", "payload": "OK"}],
            }
        ]
    )
    *texts, template = messages_of(outbounds)
    assert texts and all("text" in t for t in texts)
    assert len(template["attachment"]["payload"]["text"]) <= 640


def test_carousel_keeps_ten_cards_and_notes_the_rest() -> None:
    cards = [{"type": "card", "title": f"C{i}", "media": {"url": IMG}} for i in range(12)]
    outbounds, notes = render([{"type": "carousel", "cards": cards}])
    [message] = messages_of(outbounds)
    assert len(message["attachment"]["payload"]["elements"]) == 10
    assert any("2 carousel cards dropped" in n for n in notes)


def test_carousel_cards_with_only_a_title_are_sent_as_text() -> None:
    cards = [{"type": "card", "title": "A", "media": {"url": IMG}}, {"type": "card", "title": "B"}]
    outbounds, notes = render([{"type": "carousel", "cards": cards}])
    assert messages_of(outbounds) == [generic({"title": "A", "image_url": IMG}), {"text": "B"}]
    assert notes


def test_long_list_is_sent_as_generic_templates_of_ten() -> None:
    items = [{"title": f"Item {i}", "description": "d", "payload": f"I{i}"} for i in range(23)]
    outbounds, notes = render([{"type": "list", "text": "All items", "items": items}])
    text, *templates = messages_of(outbounds)
    assert text == {"text": "All items"}
    assert [len(t["attachment"]["payload"]["elements"]) for t in templates] == [10, 10, 3]
    assert any("3 generic templates" in n for n in notes)


def test_list_button_label_is_translated() -> None:
    context = render_ctx(gettext=lambda s: {"Choose": "Choisir"}.get(s, s))
    items = [{"title": "Petit", "description": "1 personne", "payload": "S"}]
    [_, template] = messenger().render(
        [parse_message({"type": "list", "text": "Taille", "items": items})], context
    )
    assert (
        template.body["message"]["attachment"]["payload"]["elements"][0]["buttons"][0]["title"] == "Choisir"
    )


def test_long_card_title_and_description_are_truncated_to_80() -> None:
    outbounds, notes = render(
        [{"type": "card", "title": "T" * 100, "description": "D" * 100, "media": {"url": IMG}}]
    )
    [message] = messages_of(outbounds)
    element = message["attachment"]["payload"]["elements"][0]
    assert len(element["title"]) == len(element["subtitle"]) == 80
    assert len(notes) == 2


# --- the 24-hour window ----------------------------------------------------------------------------------


def test_reply_inside_the_window_is_a_response() -> None:
    outbounds, _ = render(["hi"], reply_to="m_1", age=DAY - 1)
    assert outbounds[-1].body["messaging_type"] == "RESPONSE"


def test_proactive_send_inside_the_window_is_an_update() -> None:
    outbounds, _ = render(["hi"], age=3600)
    assert outbounds[0].body["messaging_type"] == "UPDATE" and "tag" not in outbounds[0].body


@pytest.mark.parametrize("age", [DAY + 1, None])
def test_send_outside_the_window_without_a_tag_is_refused(age: float | None) -> None:
    with pytest.raises(SendRefused, match="24-hour window has closed") as refused:
        render(["hi"], age=age)
    assert "HUMAN_AGENT" in refused.value.reason


@pytest.mark.parametrize("tag", ["ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"])
def test_send_outside_the_window_with_a_tag_is_a_tagged_message(tag: str) -> None:
    message = {"type": "text", "text": "Your order shipped", "options": {"tag": tag}}
    outbounds, _ = render([message], age=30 * DAY)
    assert outbounds[0].body == {
        "recipient": {"id": PSID},
        "messaging_type": "MESSAGE_TAG",
        "tag": tag,
        "message": {"text": "Your order shipped"},
    }


def test_tag_may_come_from_the_send_call() -> None:
    from channelgate.messages import MessageOptions

    outbounds, _ = render(["hello"], age=2 * DAY, options=MessageOptions(tag="human_agent"))
    assert (outbounds[0].body["messaging_type"], outbounds[0].body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


def test_human_agent_tag_only_works_for_seven_days() -> None:
    message = {"type": "text", "text": "Sorry for the wait", "options": {"tag": "HUMAN_AGENT"}}
    render([message], age=7 * DAY - 60)
    with pytest.raises(SendRefused, match="7 days"):
        render([message], age=7 * DAY + 60)


def test_unknown_tag_is_refused() -> None:
    with pytest.raises(SendRefused, match="unknown Messenger message tag 'PROMO'"):
        render([{"type": "text", "text": "Sale!", "options": {"tag": "PROMO"}}], age=2 * DAY)


def test_no_typing_indicator_outside_the_window() -> None:
    message = {"type": "text", "text": "Update", "options": {"tag": "ACCOUNT_UPDATE"}}
    outbounds, _ = render([message], reply_to="m_old", age=3 * DAY)
    assert [o.kind for o in outbounds] == ["message"]
