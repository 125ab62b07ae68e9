"""Universal messages → WhatsApp Cloud API payloads: exact payloads, accepted by the simulator's validator,
the 24-hour window with template fallbacks, read marks and quoted replies."""

from __future__ import annotations

from typing import Any

import pytest
from metakit import WA_ID, render_ctx, whatsapp

from channelgate.channels.base import Outbound, SendRefused
from channelgate.channels.meta.render import DAY
from channelgate.channels.whatsapp.render import template_components, whatsapp_language
from channelgate.messages import MessageOptions, Template, parse_message
from channelgate.testing.graph import validate_whatsapp

IMG = "https://cdn.example/shoe.png"
ENVELOPE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID}


def render(messages: list[Any], user_id: str = WA_ID, **ctx: Any) -> tuple[list[Outbound], list[str]]:
    context = render_ctx(user_id, **ctx)
    outbounds = whatsapp().render([parse_message(m) for m in messages], context)
    for outbound in outbounds:
        for body in (outbound.body, outbound.fallback):
            if body is not None:
                problem = validate_whatsapp(body)
                assert problem is None, f"{problem} {problem.details}: {body}"
    return outbounds, context.notes


def contents(outbounds: list[Outbound]) -> list[dict[str, Any]]:
    """The message contents, without the envelope every payload shares."""
    out = []
    for outbound in outbounds:
        if outbound.kind != "message":
            continue
        body = dict(outbound.body)
        assert {k: body.pop(k) for k in ENVELOPE} == ENVELOPE
        out.append(body)
    return out


def reply(id: str, title: str) -> dict[str, Any]:
    return {"type": "reply", "reply": {"id": id, "title": title}}


def r(title: str, payload: str) -> dict[str, str]:
    return {"type": "reply", "title": title, "payload": payload}


CASES: list[tuple[str, Any, list[dict[str, Any]]]] = [
    ("text", "hello", [{"type": "text", "text": {"body": "hello"}}]),
    (
        "text with a link previews it",
        "See https://shop.example/sale",
        [{"type": "text", "text": {"body": "See https://shop.example/sale", "preview_url": True}}],
    ),
    (
        "up to three replies are reply buttons",
        {
            "type": "text",
            "text": "Confirm?",
            "quick_replies": [r("Yes", "confirm_yes"), r("No", "confirm_no")],
        },
        [
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Confirm?"},
                    "action": {"buttons": [reply("confirm_yes", "Yes"), reply("confirm_no", "No")]},
                },
            }
        ],
    ),
    (
        "four replies are a list",
        {"type": "text", "text": "Pick one", "quick_replies": [r(f"Option {i}", f"O{i}") for i in range(4)]},
        [
            {
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": {"text": "Pick one"},
                    "action": {
                        "button": "Choose",
                        "sections": [{"rows": [{"id": f"O{i}", "title": f"Option {i}"} for i in range(4)]}],
                    },
                },
            }
        ],
    ),
    (
        "a single link is a CTA URL button",
        {
            "type": "text",
            "text": "Track your parcel",
            "quick_replies": [{"type": "url", "title": "Track", "url": "https://t.example/1"}],
        },
        [
            {
                "type": "interactive",
                "interactive": {
                    "type": "cta_url",
                    "body": {"text": "Track your parcel"},
                    "action": {
                        "name": "cta_url",
                        "parameters": {"display_text": "Track", "url": "https://t.example/1"},
                    },
                },
            }
        ],
    ),
    (
        "a call action is text with the number",
        {
            "type": "text",
            "text": "Need help?",
            "quick_replies": [{"type": "call", "title": "Call us", "phone": "tel:+15550100"}],
        },
        [{"type": "text", "text": {"body": "Need help?\n\nCall us: +15550100"}}],
    ),
    (
        "card with image and buttons is interactive with an image header",
        {
            "type": "card",
            "title": "Shoe",
            "description": "Size 42",
            "media": {"url": IMG},
            "buttons": [
                r("Buy", "BUY_1"),
                {"type": "url", "title": "Details", "url": "https://shop.example/1"},
            ],
        },
        [
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "header": {"type": "image", "image": {"link": IMG}},
                    "body": {"text": "*Shoe*\nSize 42\n\nDetails: https://shop.example/1"},
                    "action": {"buttons": [reply("BUY_1", "Buy")]},
                },
            }
        ],
    ),
    (
        "card with image and one link is a CTA URL with the image",
        {
            "type": "card",
            "title": "Sale",
            "media": {"url": IMG},
            "buttons": [{"type": "url", "title": "Shop", "url": "https://s.example"}],
        },
        [
            {
                "type": "interactive",
                "interactive": {
                    "type": "cta_url",
                    "header": {"type": "image", "image": {"link": IMG}},
                    "body": {"text": "*Sale*"},
                    "action": {
                        "name": "cta_url",
                        "parameters": {"display_text": "Shop", "url": "https://s.example"},
                    },
                },
            }
        ],
    ),
    (
        "card with image and no buttons is a captioned image",
        {"type": "card", "title": "Shoe", "description": "Size 42", "media": {"url": IMG}},
        [{"type": "image", "image": {"link": IMG, "caption": "*Shoe*\nSize 42"}}],
    ),
    (
        "card without image or buttons is text",
        {"type": "card", "title": "Hours", "description": "9-5"},
        [{"type": "text", "text": {"body": "*Hours*\n9-5"}}],
    ),
    (
        "carousel is one message per card",
        {
            "type": "carousel",
            "cards": [
                {"type": "card", "title": "A", "media": {"url": IMG}},
                {"type": "card", "title": "B", "buttons": [r("Go", "B")]},
            ],
        },
        [
            {"type": "image", "image": {"link": IMG, "caption": "*A*"}},
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "*B*"},
                    "action": {"buttons": [reply("B", "Go")]},
                },
            },
        ],
    ),
    (
        "list is an interactive list",
        {
            "type": "list",
            "header": "Pizza",
            "text": "Choose size",
            "footer": "Prices include tax",
            "button": "Sizes",
            "items": [
                {"title": "Small", "description": "Serves 1", "payload": "row_1"},
                {"title": "Medium", "description": "Serves 2", "payload": "row_2"},
            ],
        },
        [
            {
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "header": {"type": "text", "text": "Pizza"},
                    "body": {"text": "Choose size"},
                    "footer": {"text": "Prices include tax"},
                    "action": {
                        "button": "Sizes",
                        "sections": [
                            {
                                "rows": [
                                    {"id": "row_1", "title": "Small", "description": "Serves 1"},
                                    {"id": "row_2", "title": "Medium", "description": "Serves 2"},
                                ]
                            }
                        ],
                    },
                },
            }
        ],
    ),
    (
        "image by link",
        {"type": "media", "kind": "image", "url": IMG, "caption": "New!"},
        [{"type": "image", "image": {"link": IMG, "caption": "New!"}}],
    ),
    (
        "file is a document with its filename",
        {"type": "media", "kind": "file", "url": "https://cdn/a.pdf", "filename": "invoice.pdf"},
        [{"type": "document", "document": {"link": "https://cdn/a.pdf", "filename": "invoice.pdf"}}],
    ),
    (
        "audio caption follows as text",
        {"type": "media", "kind": "audio", "url": "https://cdn/a.ogg", "caption": "Listen"},
        [
            {"type": "audio", "audio": {"link": "https://cdn/a.ogg"}},
            {"type": "text", "text": {"body": "Listen"}},
        ],
    ),
    (
        "video by link",
        {"type": "media", "kind": "video", "url": "https://cdn/v.mp4"},
        [{"type": "video", "video": {"link": "https://cdn/v.mp4"}}],
    ),
    (
        "media with quick replies is interactive with a media header",
        {
            "type": "media",
            "kind": "image",
            "url": IMG,
            "caption": "Like it?",
            "quick_replies": [r("Yes", "Y")],
        },
        [
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "header": {"type": "image", "image": {"link": IMG}},
                    "body": {"text": "Like it?"},
                    "action": {"buttons": [reply("Y", "Yes")]},
                },
            }
        ],
    ),
    (
        "location",
        {
            "type": "location",
            "latitude": 37.48,
            "longitude": -122.15,
            "name": "HQ",
            "address": "1 Hacker Way",
        },
        [
            {
                "type": "location",
                "location": {
                    "latitude": 37.48,
                    "longitude": -122.15,
                    "name": "HQ",
                    "address": "1 Hacker Way",
                },
            }
        ],
    ),
    (
        "location with quick replies gets a follow-up",
        {"type": "location", "latitude": 1, "longitude": 2, "quick_replies": [r("Open", "OPEN")]},
        [
            {"type": "location", "location": {"latitude": 1.0, "longitude": 2.0}},
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Choose"},
                    "action": {"buttons": [reply("OPEN", "Open")]},
                },
            },
        ],
    ),
    (
        "template with parameters and language",
        {"type": "template", "name": "order_update", "language": "en-US", "parameters": ["Ann", 42]},
        [
            {
                "type": "template",
                "template": {
                    "name": "order_update",
                    "language": {"code": "en_US"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}],
                        }
                    ],
                },
            }
        ],
    ),
    (
        "template without parameters",
        {"type": "template", "name": "hello_world"},
        [{"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}],
    ),
    (
        "channel-specific payload is merged into the envelope",
        {
            "type": "channel",
            "payloads": {
                "whatsapp": {
                    "type": "reaction",
                    "reaction": {"message_id": "wamid.1", "emoji": "👍"},
                    "to": "someone else",
                }
            },
        },
        [{"type": "reaction", "reaction": {"message_id": "wamid.1", "emoji": "👍"}}],
    ),
    (
        "channel-specific fallback",
        {
            "type": "channel",
            "payloads": {"messenger": {"text": "x"}},
            "fallback": {"type": "text", "text": "plain"},
        },
        [{"type": "text", "text": {"body": "plain"}}],
    ),
]


@pytest.mark.parametrize(("name", "message", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rendering(name: str, message: Any, expected: list[dict[str, Any]]) -> None:
    outbounds, _ = render([message])
    assert contents(outbounds) == expected
    assert all(o.summary and o.fallback is None for o in outbounds)


def test_reply_marks_the_message_read_with_a_typing_indicator() -> None:
    outbounds, _ = render(["hi"], reply_to="wamid.IN")
    assert outbounds[0].body == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN",
        "typing_indicator": {"type": "text"},
    }
    assert outbounds[0].kind == "action" and outbounds[0].best_effort
    assert [o.kind for o in outbounds] == ["action", "message"]


def test_quote_option_makes_the_first_payload_a_quoted_reply() -> None:
    message = {"type": "text", "text": "x " * 2500, "options": {"quote": True}}
    outbounds, _ = render([message, "next"], reply_to="wamid.IN")
    messages = [o.body for o in outbounds if o.kind == "message"]
    assert messages[0]["context"] == {"message_id": "wamid.IN"}
    assert all("context" not in m for m in messages[1:])


def test_quote_without_a_message_to_quote_is_ignored() -> None:
    outbounds, _ = render([{"type": "text", "text": "hi", "options": {"quote": True}}])
    assert "context" not in outbounds[0].body


def test_user_known_only_by_bsuid_is_addressed_by_recipient() -> None:
    outbounds, _ = render(["hi"], user_id="US.13491208655302741918")
    assert outbounds[0].body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": "US.13491208655302741918",
        "type": "text",
        "text": {"body": "hi"},
    }


def test_long_text_is_split_under_4096() -> None:
    text = "\n\n".join(["A paragraph of some length. " * 20] * 12)
    outbounds, notes = render([text])
    bodies = [c["text"]["body"] for c in contents(outbounds)]
    assert len(bodies) > 1 and all(len(b) <= 4096 for b in bodies)
    assert notes


def test_long_body_with_buttons_sends_the_start_as_text() -> None:
    text = "Some sentence here. " * 100
    outbounds, _ = render([{"type": "text", "text": text, "quick_replies": [r("OK", "OK")]}])
    *texts, interactive = contents(outbounds)
    assert [t["type"] for t in texts] == ["text"]
    assert len(interactive["interactive"]["body"]["text"]) <= 1024


def test_button_titles_are_cut_to_20_and_noted() -> None:
    outbounds, notes = render(
        [{"type": "text", "text": "?", "quick_replies": [r("A title of 21 chars!!", "X")]}]
    )
    [content] = contents(outbounds)
    assert content["interactive"]["action"]["buttons"][0]["reply"]["title"] == "A title of 21 chars…"
    assert any("truncated to 20" in n for n in notes)


def test_more_than_ten_choices_keep_ten_rows() -> None:
    outbounds, notes = render(
        [{"type": "text", "text": "?", "quick_replies": [r(f"C{i}", f"P{i}") for i in range(12)]}]
    )
    [content] = contents(outbounds)
    assert len(content["interactive"]["action"]["sections"][0]["rows"]) == 10
    assert any("2 choices dropped" in n for n in notes)


def test_long_list_is_sent_as_several_lists_of_ten() -> None:
    items = [{"title": f"Item {i}", "payload": f"I{i}"} for i in range(25)]
    outbounds, notes = render([{"type": "list", "text": "Everything", "items": items}])
    rows = [len(c["interactive"]["action"]["sections"][0]["rows"]) for c in contents(outbounds)]
    assert rows == [10, 10, 5]
    assert any("3 lists" in n for n in notes)


def test_list_limits_are_applied() -> None:
    item = {"title": "T" * 30, "description": "D" * 80, "payload": "P" * 210}
    outbounds, notes = render([{"type": "list", "text": "x", "button": "B" * 25, "items": [item]}])
    [content] = contents(outbounds)
    action = content["interactive"]["action"]
    row = action["sections"][0]["rows"][0]
    assert (len(action["button"]), len(row["title"]), len(row["description"]), len(row["id"])) == (
        20,
        24,
        72,
        200,
    )
    assert len(notes) == 4


def test_list_button_label_is_translated() -> None:
    context = render_ctx(WA_ID, gettext=lambda s: {"Choose": "Elegir"}.get(s, s))
    [outbound] = whatsapp().render(
        [parse_message({"type": "list", "text": "x", "items": [{"title": "a", "payload": "a"}]})], context
    )
    assert outbound.body["interactive"]["action"]["button"] == "Elegir"


def test_card_with_many_replies_sends_the_image_then_a_list() -> None:
    card = {
        "type": "card",
        "title": "Pick",
        "media": {"url": IMG},
        "buttons": [r(f"O{i}", f"P{i}") for i in range(5)],
    }
    outbounds, _ = render([card])
    image, listing = contents(outbounds)
    assert image == {"type": "image", "image": {"link": IMG}}
    assert listing["interactive"]["type"] == "list" and "header" not in listing["interactive"]


@pytest.mark.parametrize(
    ("locale", "code"),
    [
        ("en-US", "en_US"),
        ("en_US", "en_US"),
        ("pt-br", "pt_BR"),
        ("fr", "fr"),
        ("zh-Hant", "zh_TW"),
        ("zh-Hans-CN", "zh_CN"),
    ],
)
def test_template_language_codes(locale: str, code: str) -> None:
    assert whatsapp_language(locale) == code


def test_template_components_pass_through_and_plain_values_fill_the_body() -> None:
    header = {"type": "header", "parameters": [{"type": "image", "image": {"link": IMG}}]}
    currency = {
        "type": "currency",
        "currency": {"fallback_value": "$10", "code": "USD", "amount_1000": 10000},
    }
    assert template_components([header, "Ann", currency]) == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ann"}, currency]},
        header,
    ]


# --- the 24-hour window ----------------------------------------------------------------------------------

FALLBACK = {"type": "template", "name": "we_miss_you", "language": "en-US", "parameters": ["Ann"]}
FALLBACK_BODY = {
    **ENVELOPE,
    "type": "template",
    "template": {
        "name": "we_miss_you",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}],
    },
}


def test_template_can_be_sent_outside_the_window() -> None:
    outbounds, _ = render([{"type": "template", "name": "hello_world"}], age=30 * DAY)
    assert outbounds[0].body["type"] == "template"


@pytest.mark.parametrize("age", [DAY + 1, None])
def test_free_form_message_outside_the_window_is_refused(age: float | None) -> None:
    with pytest.raises(SendRefused, match="24-hour customer service window has closed"):
        render(["hi"], age=age)


def test_free_form_message_outside_the_window_is_replaced_by_its_template_fallback() -> None:
    message = {"type": "text", "text": "Still there?", "options": {"template_fallback": FALLBACK}}
    outbounds, notes = render([message], age=2 * DAY)
    assert [o.body for o in outbounds] == [FALLBACK_BODY]
    assert any("we_miss_you" in n for n in notes)


def test_the_same_fallback_is_sent_once_for_several_messages() -> None:
    options = MessageOptions(template_fallback=Template(**{k: v for k, v in FALLBACK.items() if k != "type"}))
    outbounds, _ = render(["one", "two", "three"], age=2 * DAY, options=options)
    assert [o.body for o in outbounds] == [FALLBACK_BODY]


def test_inside_the_window_the_fallback_rides_along_once() -> None:
    options = MessageOptions(
        template_fallback=Template(name="we_miss_you", language="en-US", parameters=["Ann"])
    )
    outbounds, _ = render(["one", "two"], age=DAY - 60, options=options)
    assert [o.body["text"]["body"] for o in outbounds] == ["one", "two"]
    assert outbounds[0].fallback == FALLBACK_BODY
    assert outbounds[1].fallback is None


def test_no_fallback_without_the_option() -> None:
    outbounds, _ = render(["one"])
    assert outbounds[0].fallback is None


def test_channel_specific_template_passes_outside_the_window() -> None:
    raw = {"type": "template", "template": {"name": "x", "language": {"code": "en"}}}
    outbounds, _ = render([{"type": "channel", "payloads": {"whatsapp": raw}}], age=3 * DAY)
    assert outbounds[0].body == {**ENVELOPE, **raw}
