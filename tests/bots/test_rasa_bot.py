"""The Rasa adapter against a fake Rasa server on loopback that answers in the REST channel's real shapes.

Rasa's ``RestInput`` returns the list its ``CollectingOutputChannel`` collected: objects with
``recipient_id`` and any of ``text``, ``buttons``, ``image``, ``attachment``, ``custom``
(RasaHQ/rasa ``rasa/core/channels/channel.py`` and ``rest.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.bots import BotError, build_bot, parse_bot_spec
from channelgate.bots.rasa import RasaBot, media_kind, messages_from_rasa, rasa_message
from channelgate.messages import parse_messages
from channelgate.testing.server import free_port, serve_app
from channelgate.turns import Turn, input_adapter

MakeTurn = Callable[..., Turn]

CARD = {
    "type": "card",
    "title": "Order 1234",
    "description": "Shipped",
    "buttons": [{"type": "url", "title": "Track", "url": "https://example.com/t/1234"}],
}
MESSENGER_TEMPLATE = {
    "attachment": {"type": "template", "payload": {"template_type": "button", "text": "Hi", "buttons": []}}
}


def collected(sender: str, message: str) -> list[dict[str, Any]]:
    """What a Rasa assistant with the moodbot-like domain below would answer."""
    if message == "hi":
        return [
            {
                "recipient_id": sender,
                "text": "Hey! How are you?",
                "buttons": [
                    {"title": "great", "payload": "/mood_great"},
                    {"title": "sad", "payload": '/mood_unhappy{"reason": "weather"}'},
                ],
            }
        ]
    if message == "/mood_unhappy":
        return [
            {"recipient_id": sender, "text": "Here is something to cheer you up:"},
            {"recipient_id": sender, "image": "https://i.imgur.com/nGF1K8f.jpg"},
            {"recipient_id": sender, "text": "Did that help you?"},
        ]
    if message == "/custom":
        return [
            {"recipient_id": sender, "custom": CARD},
            {"recipient_id": sender, "custom": {"messenger": MESSENGER_TEMPLATE}},
            {"recipient_id": sender, "custom": {"blocks": [{"type": "section"}]}},
        ]
    if message == "/files":
        return [
            {"recipient_id": sender, "attachment": "https://example.com/files/Price%20list.pdf"},
            {"recipient_id": sender, "attachment": "https://example.com/media/clip.mp4"},
            {
                "recipient_id": sender,
                "attachment": {"type": "video", "payload": {"src": "https://example.com/v"}},
            },
        ]
    return []


@asynccontextmanager
async def fake_rasa(status: int = 200) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def webhook(request: Request) -> Response:
        body = orjson.loads(await request.body())
        received.append(body)
        if status != 200:
            return JSONResponse({"status": "failure"}, status_code=status)
        return JSONResponse(collected(body["sender"], body["message"]))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/webhooks/rest/", health, methods=["GET"]),
            Route("/webhooks/rest/webhook", webhook, methods=["POST"]),
        ]
    )
    async with serve_app(app) as base:
        yield base, received


async def ask(base: str, turn: Turn) -> list[Any]:
    bot = build_bot(parse_bot_spec({"rasa": base, "timeout": 2}))
    await bot.start()
    try:
        reply = await bot.respond(turn)
    finally:
        await bot.stop()
    _, bad = parse_messages(reply.messages)
    assert bad == [], [str(b) for b in bad]
    return reply.messages


async def test_the_rest_channel_request_carries_sender_message_and_metadata(make_turn: MakeTurn) -> None:
    turn = make_turn("hi", locale="fr-FR")
    async with fake_rasa() as (base, received):
        await ask(base, turn)
    assert received == [
        {
            "sender": "webchat:site:u1",
            "message": "hi",
            "metadata": {
                "locale": "fr-FR",
                "channel": "webchat",
                "label": "site",
                "user": {"id": "u1", "name": "Ada"},
                "input": {"type": "text", "text": "hi"},
            },
        }
    ]


async def test_text_with_buttons_becomes_text_with_quick_replies(make_turn: MakeTurn) -> None:
    async with fake_rasa() as (base, _):
        messages = await ask(base, make_turn("hi"))
    assert messages == [
        {
            "type": "text",
            "text": "Hey! How are you?",
            "quick_replies": [
                {"type": "reply", "title": "great", "payload": "/mood_great"},
                {"type": "reply", "title": "sad", "payload": '/mood_unhappy{"reason": "weather"}'},
            ],
        }
    ]


async def test_a_tapped_button_sends_its_payload_as_the_message(make_turn: MakeTurn) -> None:
    turn = make_turn({"type": "postback", "payload": "/mood_unhappy", "title": "sad"})
    async with fake_rasa() as (base, received):
        messages = await ask(base, turn)
    assert received[0]["message"] == "/mood_unhappy"
    assert received[0]["metadata"]["input"] == {
        "type": "postback",
        "payload": "/mood_unhappy",
        "title": "sad",
    }
    assert messages == [
        {"type": "text", "text": "Here is something to cheer you up:"},
        {"type": "media", "kind": "image", "url": "https://i.imgur.com/nGF1K8f.jpg"},
        {"type": "text", "text": "Did that help you?"},
    ]


async def test_custom_payloads_are_used_wrapped_or_dropped(
    make_turn: MakeTurn, caplog: pytest.LogCaptureFixture
) -> None:
    async with fake_rasa() as (base, _):
        with caplog.at_level(logging.WARNING, logger="channelgate.bots.rasa"):
            messages = await ask(base, make_turn("/custom"))
    assert messages == [CARD, {"type": "channel", "payloads": {"messenger": MESSENGER_TEMPLATE}}]
    assert "rasa custom payload dropped" in caplog.text
    assert "blocks" in caplog.text


async def test_attachments_become_media_of_the_kind_their_url_says(make_turn: MakeTurn) -> None:
    async with fake_rasa() as (base, _):
        messages = await ask(base, make_turn("/files"))
    assert messages == [
        {
            "type": "media",
            "kind": "file",
            "url": "https://example.com/files/Price%20list.pdf",
            "filename": "Price list.pdf",
        },
        {"type": "media", "kind": "video", "url": "https://example.com/media/clip.mp4"},
        {"type": "media", "kind": "video", "url": "https://example.com/v"},
    ]


async def test_an_empty_answer_is_an_empty_reply(make_turn: MakeTurn) -> None:
    async with fake_rasa() as (base, _):
        assert await ask(base, make_turn("nothing to say")) == []


async def test_a_rasa_without_the_rest_channel_is_reported_with_the_fix(make_turn: MakeTurn) -> None:
    async with serve_app(Starlette(routes=[])) as base:
        bot = RasaBot(base)
        with pytest.raises(BotError) as caught:
            await bot.respond(make_turn("hi"))
        await bot.stop()
    assert caught.value.retryable is False
    assert "credentials.yml" in caught.value.reason


async def test_a_failing_or_unreachable_rasa_is_retryable(make_turn: MakeTurn) -> None:
    async with fake_rasa(status=503) as (base, received):
        bot = RasaBot(base)
        with pytest.raises(BotError) as caught:
            await bot.respond(make_turn("hi"))
        await bot.stop()
    assert caught.value.retryable is True
    assert "HTTP 503" in caught.value.reason
    assert len(received) == 1  # Rasa keeps what it received in its tracker: the pipeline decides on a retry

    bot = RasaBot(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BotError) as unreachable:
        await bot.respond(make_turn("hi"))
    await bot.stop()
    assert unreachable.value.retryable is True
    assert "cannot reach Rasa" in unreachable.value.reason


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "text", "text": "hello there"}, "hello there"),
        ({"type": "postback", "payload": '/inform{"size": "L"}'}, '/inform{"size": "L"}'),
        (
            {"type": "media", "kind": "image", "url": "https://cdn.example/cat.jpg"},
            "https://cdn.example/cat.jpg",
        ),
        ({"type": "media", "kind": "audio", "media_id": "m1", "caption": "voice"}, "voice"),
        ({"type": "media", "kind": "audio", "media_id": "m1"}, "/media"),
        (
            {"type": "location", "latitude": 48.8584, "longitude": 2.2945},
            '/location{"latitude": 48.8584, "longitude": 2.2945}',
        ),
        ({"type": "event", "name": "subscribed", "data": {"ref": "ad"}}, "/subscribed"),
    ],
)
def test_each_input_becomes_a_rasa_message(data: dict[str, Any], message: str) -> None:
    assert rasa_message(input_adapter.validate_python(data)) == message


def test_buttons_of_other_kinds_and_elements_are_mapped() -> None:
    messages = messages_from_rasa(
        [
            {
                "recipient_id": "c1",
                "text": "Choose",
                "buttons": [
                    {"type": "web_url", "title": "Site", "url": "https://example.com"},
                    {"type": "phone_number", "title": "Call", "payload": "+15555550100"},
                    {"title": "Plain"},
                    {"payload": "/no_title"},
                ],
            },
            {
                "recipient_id": "c1",
                "elements": [
                    {
                        "title": "A",
                        "subtitle": "first",
                        "image_url": "https://example.com/a.png",
                        "buttons": [{"title": "Go", "payload": "/a"}],
                    },
                    {"title": "B"},
                ],
            },
        ]
    )
    _, bad = parse_messages(messages)
    assert bad == []
    assert messages[0]["quick_replies"] == [
        {"type": "url", "title": "Site", "url": "https://example.com"},
        {"type": "call", "title": "Call", "phone": "+15555550100"},
        {"type": "reply", "title": "Plain", "payload": "Plain"},
    ]
    assert messages[1] == {
        "type": "carousel",
        "cards": [
            {
                "type": "card",
                "title": "A",
                "description": "first",
                "media": {"url": "https://example.com/a.png"},
                "buttons": [{"type": "reply", "title": "Go", "payload": "/a"}],
            },
            {"type": "card", "title": "B"},
        ],
    }


def test_a_custom_with_channel_keys_and_a_fallback_keeps_the_fallback() -> None:
    fallback = {"type": "text", "text": "plain version"}
    (message,) = messages_from_rasa(
        [{"recipient_id": "c1", "custom": {"whatsapp": {"type": "text"}, "fallback": fallback}}]
    )
    assert message == {"type": "channel", "payloads": {"whatsapp": {"type": "text"}}, "fallback": fallback}


def test_an_answer_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(BotError, match="expected a list of messages"):
        messages_from_rasa({"text": "hi"})


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://x/a.JPG", "image"),
        ("https://x/a.webp?sig=1", "image"),
        ("https://x/a.ogg", "audio"),
        ("https://x/a.mov", "video"),
        ("https://x/report", "file"),
    ],
)
def test_media_kind_comes_from_the_extension(url: str, kind: str) -> None:
    assert media_kind(url) == kind


def test_a_full_webhook_url_is_kept() -> None:
    assert RasaBot("http://rasa:5005/webhooks/rest/webhook").url == "http://rasa:5005/webhooks/rest/webhook"
    assert RasaBot("http://rasa:5005").describe() == "rasa bot http://rasa:5005/webhooks/rest/webhook"
