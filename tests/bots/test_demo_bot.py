"""The demo bot: greetings, echo, every universal type on request, postbacks, languages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from channelgate.bots.demo import SAMPLES, DemoBot
from channelgate.messages import (
    Card,
    Carousel,
    ChannelSpecific,
    ListMessage,
    Location,
    Media,
    Template,
    Text,
    parse_messages,
)
from channelgate.turns import Reply, Turn

MakeTurn = Callable[..., Turn]

EXPECTED_TYPES: dict[str, list[type]] = {
    "text": [Text],
    "media": [Media],
    "card": [Card],
    "carousel": [Carousel],
    "list": [ListMessage],
    "location": [Location],
    "quick": [Text],
    "template": [Template],
    "channel": [ChannelSpecific],
    "brief": [Card],  # the brief's rich format, translated by messages.parse_message
}


async def answer(bot: DemoBot, turn: Turn) -> Reply:
    """The bot's reply, with every message checked against the universal schema."""
    reply = await bot.respond(turn)
    good, bad = parse_messages(reply.messages)
    assert bad == [], [str(b) for b in bad]
    assert len(good) == len(reply.messages)
    return reply


async def seen_bot(make_turn: MakeTurn) -> DemoBot:
    """A bot that already greeted the test conversation, so answers are not prefixed by a greeting."""
    bot = DemoBot()
    await bot.respond(make_turn({"type": "event", "name": "subscribed"}))
    return bot


def test_every_command_has_an_expectation() -> None:
    assert set(EXPECTED_TYPES) == set(SAMPLES)


@pytest.mark.parametrize("command", list(EXPECTED_TYPES))
async def test_each_command_shows_its_universal_type(make_turn: MakeTurn, command: str) -> None:
    bot = await seen_bot(make_turn)
    reply = await answer(bot, make_turn(command))
    good, _ = parse_messages(reply.messages)
    assert [type(m) for m in good] == EXPECTED_TYPES[command]


@pytest.mark.parametrize("command", list(EXPECTED_TYPES))
async def test_a_command_tapped_as_a_quick_reply_shows_the_same_thing(
    make_turn: MakeTurn, command: str
) -> None:
    bot = await seen_bot(make_turn)
    typed = await answer(bot, make_turn(command))
    tapped = await answer(bot, make_turn({"type": "postback", "payload": command, "title": command}))
    assert tapped.messages == typed.messages


async def test_card_carries_reply_url_and_call_buttons(make_turn: MakeTurn) -> None:
    bot = await seen_bot(make_turn)
    reply = await answer(bot, make_turn("Card"))
    (card,) = parse_messages(reply.messages)[0]
    assert isinstance(card, Card)
    assert [b.type for b in card.buttons or []] == ["reply", "url", "call"]
    assert card.media is not None
    assert card.media.url.startswith("https://picsum.photos/seed/channelgate")


async def test_carousel_has_three_cards_and_channel_has_a_fallback(make_turn: MakeTurn) -> None:
    bot = await seen_bot(make_turn)
    (carousel,) = parse_messages((await answer(bot, make_turn("carousel"))).messages)[0]
    assert isinstance(carousel, Carousel)
    assert len(carousel.cards) == 3
    (channel,) = parse_messages((await answer(bot, make_turn("channel"))).messages)[0]
    assert isinstance(channel, ChannelSpecific)
    assert {"messenger", "whatsapp", "wechat"} <= set(channel.payloads)
    assert isinstance(channel.fallback, Text)


async def test_quick_sample_offers_quick_replies(make_turn: MakeTurn) -> None:
    bot = await seen_bot(make_turn)
    (message,) = parse_messages((await answer(bot, make_turn("quick"))).messages)[0]
    assert [q.title for q in message.quick_replies or []] == ["Red", "Green", "Blue"]


@pytest.mark.parametrize("word", ["help", "menu", "HELP", " Menu "])
async def test_help_lists_every_command_as_a_quick_reply(make_turn: MakeTurn, word: str) -> None:
    bot = await seen_bot(make_turn)
    reply = await answer(bot, make_turn(word))
    (message,) = reply.messages
    assert [q["payload"] for q in message["quick_replies"]] == [*SAMPLES, "help"]


@pytest.mark.parametrize("word", ["hi", "Hello!", "hey"])
async def test_hi_and_hello_are_greeted_once(make_turn: MakeTurn, word: str) -> None:
    reply = await answer(DemoBot(), make_turn(word))
    (message,) = reply.messages
    assert message["text"].startswith("Hello! I am the channelgate demo bot.")
    assert message["quick_replies"] == [{"type": "reply", "title": "help", "payload": "help"}]


async def test_subscribed_event_gets_a_greeting(make_turn: MakeTurn) -> None:
    reply = await answer(DemoBot(), make_turn({"type": "event", "name": "subscribed"}))
    assert reply.messages[0]["text"].startswith("Hello!")


async def test_first_contact_is_greeted_before_the_answer_and_only_once(make_turn: MakeTurn) -> None:
    bot = DemoBot()
    first = await answer(bot, make_turn("good morning"))
    assert [m["text"] for m in first.messages] == [
        "Hello! I am the channelgate demo bot. Type help to see what each message type looks like here.",
        "You said: good morning",
    ]
    second = await answer(bot, make_turn("good morning"))
    assert [m["text"] for m in second.messages] == ["You said: good morning"]
    other = await answer(bot, make_turn("good morning", conversation_id="webchat:site:u2"))
    assert len(other.messages) == 2


async def test_text_is_echoed(make_turn: MakeTurn) -> None:
    bot = await seen_bot(make_turn)
    reply = await answer(bot, make_turn("where is my parcel?"))
    assert reply.messages == [{"type": "text", "text": "You said: where is my parcel?"}]


@pytest.mark.parametrize(
    ("payload", "title", "expected"),
    [("CAROUSEL_2", "Pick 2", "You picked Pick 2."), ("PLAN_TEAM", None, "You picked PLAN_TEAM.")],
)
async def test_postbacks_answer_what_was_picked(
    make_turn: MakeTurn, payload: str, title: str | None, expected: str
) -> None:
    bot = await seen_bot(make_turn)
    data: dict[str, Any] = {"type": "postback", "payload": payload}
    if title:
        data["title"] = title
    reply = await answer(bot, make_turn(data))
    assert reply.messages == [{"type": "text", "text": expected}]


async def test_media_and_location_inputs_are_acknowledged(make_turn: MakeTurn) -> None:
    bot = await seen_bot(make_turn)
    media = await answer(
        bot, make_turn({"type": "media", "kind": "image", "media_id": "m1", "caption": "cat"})
    )
    assert media.messages == [{"type": "text", "text": "You sent: image (cat)"}]
    place = await answer(
        bot,
        make_turn({"type": "location", "latitude": 35.6586, "longitude": 139.7454, "name": "Tokyo Tower"}),
    )
    assert place.messages == [{"type": "text", "text": "You are at 35.65860, 139.74540 (Tokyo Tower)"}]


async def test_unsubscribed_event_gets_no_answer(make_turn: MakeTurn) -> None:
    bot = await seen_bot(make_turn)
    reply = await bot.respond(make_turn({"type": "event", "name": "unsubscribed"}))
    assert reply.messages == []
    assert reply.locale is None


@pytest.mark.parametrize(
    ("locale", "greeting"),
    [
        ("zh-CN", "你好!"),
        ("es-ES", "¡Hola!"),
        ("fr-FR", "Bonjour !"),
        ("de-DE", "Hallo!"),
        ("ja-JP", "こんにちは!"),
        ("pt-BR", "Hello!"),  # a language it does not speak: English
    ],
)
async def test_greeting_is_in_the_turns_language(make_turn: MakeTurn, locale: str, greeting: str) -> None:
    reply = await answer(DemoBot(), make_turn({"type": "event", "name": "subscribed"}, locale=locale))
    assert reply.messages[0]["text"].startswith(greeting)


async def test_echo_is_in_the_turns_language(make_turn: MakeTurn) -> None:
    bot = await seen_bot(make_turn)
    reply = await answer(bot, make_turn("merci", locale="fr-FR"))
    assert reply.messages == [{"type": "text", "text": "Vous avez dit : merci"}]


async def test_locale_command_switches_the_conversation_language(make_turn: MakeTurn) -> None:
    bot = await seen_bot(make_turn)
    reply = await answer(bot, make_turn("locale fr-FR"))
    assert reply.locale == "fr-FR"
    assert reply.messages == [{"type": "text", "text": "D'accord, la langue est maintenant fr-FR."}]
    assert (await answer(bot, make_turn("locale zh_CN"))).locale == "zh-CN"


async def test_an_unknown_locale_is_refused_without_switching(make_turn: MakeTurn) -> None:
    bot = await seen_bot(make_turn)
    reply = await answer(bot, make_turn("locale xx-??"))
    assert reply.locale is None
    assert "xx-??" in reply.messages[0]["text"]


async def test_same_turns_give_the_same_answers(make_turn: MakeTurn) -> None:
    turns = [make_turn(t) for t in ["hello", "card", "what", "locale de-DE", "brief"]]
    first = [(await DemoBot().respond(t)).model_dump() for t in turns]
    again = [(await DemoBot().respond(t)).model_dump() for t in turns]
    assert first == again
