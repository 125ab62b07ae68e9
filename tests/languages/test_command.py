"""The language command and the pick, decided without a gateway: what Languages.decide answers."""

# ruff: noqa: RUF001 - full-width punctuation and letters are the point: the texts are CJK

from __future__ import annotations

import time
from typing import Any

import pytest

from channelgate.channels.base import ChannelConfig, ChannelLimits
from channelgate.config import Integration, LanguageSettings
from channelgate.languages import MENU_TTL, STATE_KEY, LanguageDecision, Languages, resolve
from channelgate.messages import ListMessage, Text
from channelgate.turns import EventInput, Input, LocationInput, PostbackInput, TextInput

from .harness import LABELS, SIX


def integration(**kw: Any) -> Integration:
    settings = kw.pop("languages", LanguageSettings())
    return Integration(
        channel="relay", label="main", locale="en-US", config=ChannelConfig(), languages=settings, **kw
    )


def decide(
    input: Input | str,
    current: str = "en-US",
    supported: list[str] | None = None,
    state: dict[str, Any] | None = None,
    **kw: Any,
) -> LanguageDecision | None:
    if isinstance(input, str):
        input = TextInput(text=input)
    return Languages().decide(integration(**kw), input, current, supported or SIX, state=state)


def is_menu(decision: LanguageDecision | None) -> bool:
    return (
        decision is not None
        and decision.bot_input is None
        and decision.locale is None
        and len(decision.messages) == 1
        and bool(
            getattr(decision.messages[0], "quick_replies", None)
            or getattr(decision.messages[0], "items", None)
        )
    )


def picked(decision: LanguageDecision | None) -> str | None:
    assert decision is not None and decision.bot_input is not None
    assert decision.bot_input == EventInput(
        name="locale_changed", data={"from": "en-US", "to": decision.locale}
    )
    return decision.locale


@pytest.mark.parametrize(
    "text",
    [
        "/lang",
        "/LANG",
        "/language",
        "language",
        "Language?",
        "languages",
        "语言",
        "語言",
        "言語",
        "idioma",
        "Idioma.",
        "langue",
        "Sprache",
        "SPRACHE!",
        "／ｌａｎｇ",
        "  language  ",
        "语言？",
    ],
)
def test_every_default_trigger_opens_the_menu(text: str) -> None:
    assert is_menu(decide(text))


@pytest.mark.parametrize(
    "text",
    ["lang", "my language", "languages are fun", "language is hard", "/langs", "sprache bitte", "hello"],
)
def test_other_texts_are_ordinary_turns(text: str) -> None:
    assert decide(text) is None


def test_a_postback_with_a_trigger_payload_opens_the_menu() -> None:
    """A bot can offer its own "Language" button with the payload /lang."""
    assert is_menu(decide(PostbackInput(payload="/lang", title="Language")))


def test_the_menu_offers_each_language_in_its_own_name_as_quick_replies() -> None:
    decision = decide("/lang", current="ja-JP")
    assert decision is not None
    [menu] = decision.messages
    assert isinstance(menu, Text)
    assert menu.text == "言語を選択してください："  # asked in the conversation's language
    assert [(a.title, a.payload) for a in menu.quick_replies or []] == [
        (label, f"locale:{tag}") for label, tag in zip(LABELS, SIX, strict=True)
    ]


def test_more_languages_than_the_channel_shows_as_quick_replies_become_a_list() -> None:
    decision = decide("/lang", current="de-DE", limits=ChannelLimits(quick_replies_max=3))
    assert decision is not None
    [menu] = decision.messages
    assert isinstance(menu, ListMessage)
    assert (menu.text, menu.button) == ("Sprache auswählen:", "Sprachen")
    assert [(i.title, i.payload) for i in menu.items][:2] == [
        ("English", "locale:en-US"),
        ("中文", "locale:zh-CN"),
    ]


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("/lang fr", "fr-FR"),
        ("/lang fr-CA", "fr-FR"),
        ("/lang zh_TW", "zh-CN"),
        ("/lang Japanese", "ja-JP"),
        ("/lang 日本語", "ja-JP"),
        ("/LANG DEUTSCH", "de-DE"),
        ("language German", "de-DE"),
        ("language français", "fr-FR"),
        ("idioma español", "es-ES"),
        ("语言 中文", "zh-CN"),
        ("sprache: Deutsch", None),  # "sprache:" is not "sprache"
    ],
)
def test_a_trigger_followed_by_a_language_picks_it(text: str, locale: str | None) -> None:
    decision = decide(text)
    if locale is None:
        assert decision is None
    else:
        assert picked(decision) == locale


def test_names_in_the_current_language_are_understood() -> None:
    assert resolve("inglés", SIX, "es-ES") == "en-US"
    assert resolve("Französisch", SIX, "de-DE") == "fr-FR"
    assert resolve("英語", SIX, "ja-JP") == "en-US"
    assert resolve("inglés", SIX, "en-US") is None


def test_slash_command_with_an_unknown_language_shows_the_menu_but_a_word_trigger_is_left_alone() -> None:
    assert is_menu(decide("/lang klingon"))
    assert decide("language klingon") is None


@pytest.mark.parametrize(
    ("payload", "locale"), [("locale:fr-FR", "fr-FR"), ("locale:fr", "fr-FR"), ("locale:zh-Hans-CN", "zh-CN")]
)
def test_a_tap_on_the_menu_picks_and_the_bot_is_told(payload: str, locale: str) -> None:
    decision = decide(PostbackInput(payload=payload, title="x"))
    assert picked(decision) == locale
    assert decision is not None
    assert [m.text for m in decision.messages if isinstance(m, Text)] == [
        {"fr-FR": "Langue\u00a0: Français", "zh-CN": "语言：中文"}[locale]
    ]


def test_a_tap_on_a_stale_menu_shows_the_current_one() -> None:
    assert is_menu(decide(PostbackInput(payload="locale:pt-BR")))


def test_picking_the_current_language_says_so_and_skips_the_bot() -> None:
    decision = decide(PostbackInput(payload="locale:en-US"))
    assert decision is not None
    assert (decision.locale, decision.bot_input) == (None, None)
    assert decision.messages == [Text(text="Language: English")]


def test_without_confirmation_the_bot_answers_the_switch_alone() -> None:
    decision = decide("/lang es", languages=LanguageSettings(confirm=False))
    assert picked(decision) == "es-ES"
    assert decision is not None and decision.messages == []


def test_custom_triggers_replace_the_defaults() -> None:
    settings = LanguageSettings(triggers=["!Idioma", "Ｌｉｎｇｕａ"])
    assert settings.triggers == ["!idioma", "lingua"]
    assert decide("/lang", languages=settings) is None
    assert is_menu(decide("!IDIOMA", languages=settings))
    assert is_menu(decide("lingua", languages=settings))
    assert picked(decide("lingua fr", languages=settings)) == "fr-FR"


@pytest.mark.parametrize(
    "kw", [{"language_command": False}, {"supported": ["en-US"]}], ids=["command off", "one language"]
)
def test_the_command_is_off_when_disabled_or_when_there_is_nothing_to_choose(kw: dict[str, Any]) -> None:
    assert decide("/lang", **kw) is None
    assert decide(PostbackInput(payload="locale:fr-FR"), **kw) is None


def test_other_inputs_are_never_commands() -> None:
    assert decide(LocationInput(latitude=1, longitude=2)) is None
    assert decide(EventInput(name="subscribed")) is None


# --- the menu's state: a bare number or name right after the menu ---


def menu_state(at: float | None = None, **others: Any) -> dict[str, Any]:
    return {STATE_KEY: {"menu": SIX, "at": time.time() if at is None else at}, **others}


def test_showing_the_menu_stores_it_and_keeps_other_state() -> None:
    decision = decide("/lang", state={"handoff": True})
    assert decision is not None and decision.state is not None
    assert decision.state["handoff"] is True
    assert decision.state[STATE_KEY]["menu"] == SIX


@pytest.mark.parametrize(
    ("answer", "locale"),
    [
        ("4", "fr-FR"),
        ("4.", "fr-FR"),
        ("２", "zh-CN"),
        ("Français", "fr-FR"),
        ("deutsch", "de-DE"),
        ("日本語", "ja-JP"),
    ],
)
def test_a_number_or_name_right_after_the_menu_picks(answer: str, locale: str) -> None:
    decision = decide(answer, state=menu_state(handoff=True))
    assert picked(decision) == locale
    assert decision is not None and decision.state == {"handoff": True}  # the menu is answered


@pytest.mark.parametrize("answer", ["7", "0", "what?", "four"])
def test_anything_else_after_the_menu_goes_to_the_bot_and_ends_the_menu(answer: str) -> None:
    decision = decide(answer, state=menu_state(handoff=True))
    assert decision is not None
    assert (decision.bot_input, decision.locale, decision.messages) == (TextInput(text=answer), None, [])
    assert decision.state == {"handoff": True}


def test_a_number_long_after_the_menu_is_an_ordinary_answer() -> None:
    decision = decide("4", state=menu_state(at=time.time() - MENU_TTL - 1))
    assert decision is not None and decision.locale is None and decision.bot_input == TextInput(text="4")


def test_without_stored_state_a_bare_number_or_name_never_switches() -> None:
    assert decide("4") is None
    assert decide("Français") is None
    menu = decide("/lang", state=None)
    assert menu is not None and menu.state is None  # nothing to store where the pipeline keeps no state


def test_state_is_left_alone_when_there_is_no_menu() -> None:
    assert decide("hello", state={"handoff": True}) is None
