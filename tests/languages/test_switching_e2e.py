"""The three ways a conversation changes language, end to end over loopback on several channels: the bot's
Reply.locale, the language command and a pick, detection; and the locale surviving a restart."""

# ruff: noqa: RUF001 - full-width punctuation and letters are the point: the texts are CJK

from __future__ import annotations

import pytest

from channelgate.languages import Languages
from channelgate.testing.gateway import wait_until

from .harness import LABELS, SIX, Harness, LangBot, open_harness

CHANNELS = ["relay", "whatsapp", "messenger"]


@pytest.mark.parametrize("channel", ["relay", "messenger"])
async def test_bot_reply_locale_switches_the_conversation_and_later_turns_carry_it(
    channel: str, store: str
) -> None:
    async with open_harness(channel, store) as user:
        await user.say("speak fr-FR")
        await user.wait_seen(1)
        await user.say("bonjour")
        seen = await user.wait_seen(2)
        assert [s.text for s in seen] == ["[en-US] ok", "[fr-FR] bonjour"]
        assert (await user.conversation())["locale"] == "fr-FR"
        await user.say("fail")  # the gateway's own apology now comes in French
        seen = await user.wait_seen(3)
        assert seen[2].text == "Désolé, une erreur s'est produite. Veuillez réessayer."


@pytest.mark.parametrize("channel", CHANNELS)
async def test_language_command_shows_the_menu_and_a_tap_switches_and_tells_the_bot(
    channel: str, store: str
) -> None:
    async with open_harness(channel, store) as user:
        await user.say("/lang")
        [menu] = await user.wait_seen(1)
        assert menu.text == "Choose a language:"
        assert menu.choices == [(label, f"locale:{tag}") for label, tag in zip(LABELS, SIX, strict=True)]
        assert user.bot.turns == []  # the gateway answered the command itself

        await user.tap("locale:fr-FR", "Français")
        seen = await user.wait_seen(3)
        assert [s.text for s in seen[1:]] == ["Langue\u00a0: Français", "[fr-FR] locale_changed en-US>fr-FR"]
        assert user.bot.inputs() == [("fr-FR", "event:locale_changed", "en-US>fr-FR")]

        await user.say("Language")  # any case; the menu is now asked in French
        menu = (await user.wait_seen(4))[3]
        assert menu.text == "Choisissez une langue\u00a0:"
        if channel == "whatsapp":  # six choices are a list, whose button is the gateway's own text
            assert menu.button == "Choisir"
        await user.say("bonjour")
        await user.wait_seen(5)
        assert user.bot.inputs()[-1] == ("fr-FR", "text", "bonjour")
        assert (await user.conversation())["locale"] == "fr-FR"


@pytest.mark.parametrize(
    ("channel", "command", "confirmation", "locale"),
    [
        ("relay", "/lang ja", "言語：日本語", "ja-JP"),
        ("whatsapp", "/lang Deutsch", "Sprache: Deutsch", "de-DE"),
        ("messenger", "idioma español", "Idioma: Español", "es-ES"),
        ("relay", "语言 中文", "语言：中文", "zh-CN"),
    ],
)
async def test_command_with_a_language_picks_it_at_once(
    channel: str, command: str, confirmation: str, locale: str, store: str
) -> None:
    async with open_harness(channel, store) as user:
        await user.say(command)
        seen = await user.wait_seen(2)
        assert [s.text for s in seen] == [confirmation, f"[{locale}] locale_changed en-US>{locale}"]
        assert (await user.conversation())["locale"] == locale


@pytest.mark.parametrize("channel", ["relay", "whatsapp"])
async def test_words_that_merely_start_like_the_command_go_to_the_bot(channel: str, store: str) -> None:
    async with open_harness(channel, store) as user:
        await user.say("language is hard")
        [said] = await user.wait_seen(1)
        assert said.text == "[en-US] language is hard"


async def test_integration_without_the_language_command_passes_everything_to_the_bot(store: str) -> None:
    async with open_harness("relay", store, language_command=False) as user:
        await user.say("/lang")
        await user.tap("locale:fr-FR", "Français")
        seen = await user.wait_seen(2)
        assert [s.text for s in seen] == ["[en-US] /lang", "[en-US] locale:fr-FR"]


async def test_configured_triggers_replace_the_defaults(store: str) -> None:
    async with open_harness("relay", store, languages={"triggers": ["!idiomas"]}) as user:
        await user.say("/lang")
        await user.say("!IDIOMAS")
        seen = await user.wait_seen(2)
        assert seen[0].text == "[en-US] /lang"
        assert seen[1].text == "Choose a language:" and len(seen[1].choices) == 6


@pytest.mark.parametrize("channel", ["relay", "messenger"])
async def test_detection_switches_on_a_clear_sentence_but_not_on_a_word(channel: str, store: str) -> None:
    async with open_harness(channel, store, auto_detect=True) as user:
        warm_up(user)
        await user.say("merci")
        await user.wait_seen(1)
        sentence = "Bonjour, je voudrais changer l'adresse de livraison de ma commande."
        await user.say(sentence)
        await wait_until(lambda: f"[fr-FR] {sentence}" in user.texts())
        texts = user.texts()
        assert texts[:2] == ["[en-US] merci", "Langue\u00a0: Français"]
        assert texts[-1] == f"[fr-FR] {sentence}"  # the text itself still reaches the bot, in French now
        assert (await user.conversation())["locale"] == "fr-FR"


async def test_detection_leaves_unsupported_languages_alone(store: str) -> None:
    async with open_harness("relay", store, auto_detect=True) as user:
        warm_up(user)
        await user.say("Gostaria de cancelar a minha assinatura, por favor.")
        [said] = await user.wait_seen(1)
        assert said.text.startswith("[en-US] Gostaria")


async def test_detected_switch_tells_the_bot_before_it_answers_the_text(store: str) -> None:
    async with open_harness("relay", store, auto_detect=True) as user:
        warm_up(user)
        await user.say("Können Sie mir bitte bei meiner Bestellung helfen?")
        await user.wait_seen(3, timeout=1.5)
        assert [kind for _, kind, _ in user.bot.inputs()] == ["event:locale_changed", "text"]


@pytest.mark.parametrize("answer", ["4", "Français"])
async def test_typing_the_number_or_name_after_the_menu_picks(answer: str, store: str) -> None:
    async with open_harness("relay", store) as user:
        await user.say("/lang")
        await user.wait_seen(1)
        await user.say(answer)
        seen = await user.wait_seen(3, timeout=1.5)
        assert seen[1].text == "Langue\u00a0: Français"


@pytest.mark.parametrize("channel", ["relay", "whatsapp"])
async def test_the_locale_survives_a_restart_and_is_in_the_next_turn(channel: str, store: str) -> None:
    async with open_harness(channel, store) as user:
        await user.say("/lang de")
        await user.wait_seen(2)
    bot = LangBot()
    async with open_harness(channel, store, bot=bot) as user:
        user._count = 10  # new event ids
        await user.say("hallo")
        [said] = await user.wait_seen(1)
        assert said.text == "[de-DE] hallo"
        assert bot.turns[0].locale == "de-DE"


async def test_first_contact_negotiates_the_platform_locale(store: str) -> None:
    """Messenger's profile says fr_CA: the conversation starts in fr-FR (same language and script)."""
    async with open_harness("messenger", store) as user:
        assert user.sim is not None
        user.sim.profiles[user.user] = {"first_name": "Élise", "last_name": "Roy", "locale": "fr_CA"}
        await user.say("salut")
        [said] = await user.wait_seen(1)
        assert said.text == "[fr-FR] salut"
        assert user.bot.turns[0].user.name == "Élise Roy"


def warm_up(user: Harness) -> None:
    """Load the detector before the first message (the gateway does it at start once it calls
    Languages.warm_up; see the languages report)."""
    gateway = user.gw.gateway
    languages: Languages = gateway.languages
    channel = gateway.channel(user.channel, "main")
    assert channel is not None
    languages.warm_up(user.integration, gateway.locales_for(channel))
