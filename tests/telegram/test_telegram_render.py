"""Every universal type rendered as Telegram shows it, or degraded with a note; every body within the Bot
API's documented limits (checked by the simulator's own validation)."""

from __future__ import annotations

from typing import Any

import pytest

from channelgate.channels.base import Outbound, RenderContext, SendRefused
from channelgate.messages import parse_message
from channelgate.testing.telegram import BadRequest, validate

from .kit import channel, render_ctx

CHAT = 1111111


def render(*messages: Any, ctx: RenderContext | None = None) -> list[Outbound]:
    outbounds = channel().render([parse_message(m) for m in messages], ctx or render_ctx())
    for outbound in outbounds:
        body = {k: v for k, v in outbound.body.items() if k != "_callbacks"}
        validate(body.pop("method"), body)  # what the Bot API would refuse fails here
    return outbounds


def bodies(*messages: Any, ctx: RenderContext | None = None) -> list[dict[str, Any]]:
    return [o.body for o in render(*messages, ctx=ctx)]


def test_text_is_split_at_4096_characters() -> None:
    ctx = render_ctx()
    text = ("word " * 1000).strip()  # 4,999 characters
    sent = bodies(text, ctx=ctx)
    assert [b["method"] for b in sent] == ["sendMessage", "sendMessage"]
    assert all(len(b["text"]) <= 4096 for b in sent) and sent[0]["chat_id"] == CHAT
    assert " ".join(b["text"] for b in sent) == text
    assert ctx.notes == ["text of 4999 characters sent as 2 messages"]
    assert "parse_mode" not in sent[0]  # shown as written, never read as markup


@pytest.mark.parametrize(
    ("kind", "method", "field"),
    [("image", "sendPhoto", "photo"), ("video", "sendVideo", "video"), ("audio", "sendAudio", "audio"),
     ("file", "sendDocument", "document")],
)  # fmt: skip
def test_media_by_url_with_its_caption(kind: str, method: str, field: str) -> None:
    [body] = bodies({"type": "media", "kind": kind, "url": "https://x.example/a", "caption": "Look"})
    assert body == {"method": method, "chat_id": CHAT, field: "https://x.example/a", "caption": "Look"}


def test_a_caption_over_1024_characters_follows_as_text() -> None:
    ctx = render_ctx()
    caption = "c" * 1500
    media, text = bodies(
        {"type": "media", "kind": "image", "url": "https://x/a.png", "caption": caption}, ctx=ctx
    )
    assert "caption" not in media and text["text"] == caption
    assert ctx.notes == ["caption over 1024 characters sent as text after the image"]


def test_a_card_is_a_photo_with_a_caption_and_an_inline_keyboard() -> None:
    card = {
        "type": "card",
        "title": "Red shoes",
        "description": "Size 42",
        "media": {"url": "https://x/shoe.png"},
        "buttons": [
            {"type": "reply", "title": "Buy", "payload": "BUY_1"},
            {"type": "url", "title": "Details", "url": "https://shop.example/1"},
            {"type": "call", "title": "Call us", "phone": "+15551234567"},
        ],
    }
    ctx = render_ctx()
    [body] = bodies(card, ctx=ctx)
    assert body["method"] == "sendPhoto" and body["photo"] == "https://x/shoe.png"
    assert body["caption"] == "Red shoes\nSize 42\nCall us: call +15551234567"
    assert body["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Buy", "callback_data": "BUY_1"}, {"text": "Details", "url": "https://shop.example/1"}]
        ]
    }
    assert ctx.notes == ["Telegram has no call buttons: call actions were sent as text"]


def test_a_card_without_an_image_is_a_text_with_its_keyboard() -> None:
    card = {"type": "card", "title": "Pick", "buttons": [{"type": "reply", "title": "A", "payload": "A"}]}
    [body] = bodies(card)
    assert body["method"] == "sendMessage" and body["text"] == "Pick"
    assert body["reply_markup"]["inline_keyboard"] == [[{"text": "A", "callback_data": "A"}]]


def test_a_carousel_is_one_message_per_card_and_says_so() -> None:
    ctx = render_ctx()
    cards = [{"type": "card", "title": f"Card {i}", "media": {"url": f"https://x/{i}.png"}} for i in range(3)]
    sent = bodies({"type": "carousel", "cards": cards}, ctx=ctx)
    assert [b["caption"] for b in sent] == ["Card 0", "Card 1", "Card 2"]
    assert ctx.notes == ["Telegram cannot show carousels: sent as one message per card"]


def test_a_list_is_a_text_with_one_button_per_item() -> None:
    message = {
        "type": "list",
        "header": "Menu",
        "text": "What would you like?",
        "footer": "Prices include tax",
        "items": [
            {"title": "Pizza", "payload": "P", "description": "12 EUR"},
            {"title": "Salad", "payload": "S"},
        ],
    }
    [body] = bodies(message)
    assert body["text"] == "Menu\nWhat would you like?\n• Pizza: 12 EUR\nPrices include tax"
    assert body["reply_markup"]["inline_keyboard"] == [
        [{"text": "Pizza", "callback_data": "P"}],
        [{"text": "Salad", "callback_data": "S"}],
    ]


def test_locations_are_venues_when_named_and_addressed() -> None:
    venue = {"type": "location", "latitude": 48.85, "longitude": 2.35, "name": "Louvre", "address": "Paris"}
    assert bodies(venue) == [
        {"method": "sendVenue", "chat_id": CHAT, "latitude": 48.85, "longitude": 2.35, "title": "Louvre",
         "address": "Paris"}
    ]  # fmt: skip
    pin, label = bodies({"type": "location", "latitude": 1.0, "longitude": 2.0, "name": "Here"})
    assert pin == {"method": "sendLocation", "chat_id": CHAT, "latitude": 1.0, "longitude": 2.0}
    assert label["text"] == "Here"


def test_templates_are_refused() -> None:
    with pytest.raises(SendRefused, match="no pre-approved message templates"):
        render({"type": "template", "name": "welcome"})


def test_channel_specific_payloads_pass_through_with_the_chat() -> None:
    poll = {"method": "sendPoll", "question": "Lunch?", "options": [{"text": "Yes"}, {"text": "No"}]}
    assert channel().render(
        [parse_message({"type": "channel", "payloads": {"telegram": poll}})], render_ctx()
    )[0].body == {"chat_id": CHAT, **poll}
    fallback = {"type": "channel", "payloads": {"messenger": {}}, "fallback": {"type": "text", "text": "hi"}}
    assert bodies(fallback)[0]["text"] == "hi"
    with pytest.raises(SendRefused, match="names its Bot API method"):
        render({"type": "channel", "payloads": {"telegram": {"question": "?"}}})


def test_quick_replies_are_an_inline_keyboard_on_the_last_message() -> None:
    message = {
        "type": "text",
        "text": "Coffee?",
        "quick_replies": [
            {"type": "reply", "title": "Yes", "payload": "YES"},
            {"type": "reply", "title": "No", "payload": "NO"},
            {"type": "reply", "title": "Only on Sundays, please", "payload": "SUNDAY"},
        ],
    }
    [body] = bodies(message)
    assert body["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Yes", "callback_data": "YES"}, {"text": "No", "callback_data": "NO"}],
            [{"text": "Only on Sundays, please", "callback_data": "SUNDAY"}],
        ]
    }


def test_quick_replies_join_a_cards_own_buttons() -> None:
    card = {
        "type": "card",
        "title": "Shoe",
        "buttons": [{"type": "reply", "title": "Buy", "payload": "BUY"}],
        "quick_replies": [{"type": "reply", "title": "Menu", "payload": "MENU"}],
    }
    [body] = bodies(card)
    assert body["reply_markup"]["inline_keyboard"] == [
        [{"text": "Buy", "callback_data": "BUY"}],
        [{"text": "Menu", "callback_data": "MENU"}],
    ]


def test_a_reply_keyboard_when_the_bot_asks_for_one() -> None:
    message = {
        "type": "text",
        "text": "Size?",
        "options": {"keyboard": "reply"},
        "quick_replies": [{"type": "reply", "title": "S", "payload": "S"}, {"type": "reply", "title": "M",
                                                                             "payload": "M"}],
    }  # fmt: skip
    [body] = bodies(message)
    assert body["reply_markup"] == {
        "keyboard": [[{"text": "S"}, {"text": "M"}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }


def test_payloads_over_64_bytes_are_mapped_and_carried_for_the_store() -> None:
    long = "ADD_TO_CART:" + "é" * 40  # 92 bytes
    message = {
        "type": "text",
        "text": "Add?",
        "quick_replies": [{"type": "reply", "title": "Add", "payload": long}],
    }
    [outbound] = render(message)
    [[button]] = outbound.body["reply_markup"]["inline_keyboard"]
    data = button["callback_data"]
    assert data.startswith("cg:") and len(data.encode()) <= 64
    assert outbound.body["_callbacks"] == {data: long}
    again = render(message)[0].body["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert again == data  # pure: the same payload always gets the same key


def test_a_quoted_reply_names_the_users_message() -> None:
    message = {"type": "text", "text": "Yes", "options": {"quote": True}}
    [body] = bodies(message, ctx=render_ctx(reply_to="1365"))
    assert body["reply_parameters"] == {"message_id": 1365, "allow_sending_without_reply": True}


def test_the_answer_to_a_button_tap_goes_first_and_is_best_effort() -> None:
    answer, reply = render("Done", ctx=render_ctx(reply_to="callback:4382bfdwdsb323b2d9"))
    assert answer.body == {"method": "answerCallbackQuery", "callback_query_id": "4382bfdwdsb323b2d9"}
    assert (answer.kind, answer.best_effort) == ("action", True)
    assert reply.body["text"] == "Done" and reply.kind == "message"


def test_group_chats_keep_their_negative_ids_and_usernames_stay_strings() -> None:
    assert bodies("hi", ctx=render_ctx("-1001234"))[0]["chat_id"] == -1001234
    assert bodies("hi", ctx=render_ctx("@mychannel"))[0]["chat_id"] == "@mychannel"


def keyboard(data: str) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": "a", "callback_data": data}]]}


def test_the_simulator_refuses_what_telegram_refuses() -> None:
    """The validation the render tests lean on catches each documented limit."""
    for method, params in [
        ("sendMessage", {"chat_id": 1, "text": "x" * 4097}),
        ("sendMessage", {"chat_id": 1, "text": " "}),
        ("sendPhoto", {"chat_id": 1, "photo": "p", "caption": "c" * 1025}),
        ("sendMessage", {"chat_id": 1, "text": "x", "reply_markup": keyboard("x" * 65)}),
        ("sendMessage", {"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "a"}]]}}),
        ("sendMessage", {"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": [{"text": "a"}]}}),
        ("sendLocation", {"chat_id": 1, "latitude": 91, "longitude": 0}),
        ("sendMessage", {"text": "no chat"}),
    ]:  # fmt: skip
        with pytest.raises(BadRequest):
            validate(method, params)
