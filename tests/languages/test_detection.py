"""Detection: accurate on a multilingual sample, never on a word, never between Chinese and Japanese on
Han characters alone, never into a language the bot does not speak, and never from the network."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from channelgate.channels.base import ChannelConfig
from channelgate.config import Integration, LanguageSettings
from channelgate.languages import Languages, clean_for_detection, long_enough
from channelgate.locale import negotiate
from channelgate.turns import EventInput, TextInput

from .harness import SIX
from .samples import MUST_NOT_SWITCH, SENTENCES, UNSUPPORTED

LANGUAGES = Languages()


def detecting(**settings: object) -> Integration:
    return Integration(
        channel="relay",
        label="main",
        locale="en-US",
        config=ChannelConfig(),
        auto_detect=True,
        languages=LanguageSettings(**settings),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module", autouse=True)
def detector_loaded() -> None:
    LANGUAGES.warm_up(detecting(), SIX)


def switch(text: str, current: str, supported: list[str] = SIX, **settings: object) -> str | None:
    decision = LANGUAGES.decide(detecting(**settings), TextInput(text=text), current, supported)
    if decision is None:
        return None
    assert decision.bot_input == TextInput(text=text)  # the text itself still goes to the bot
    assert decision.events == [
        EventInput(name="locale_changed", data={"from": current, "to": decision.locale})
    ]
    return decision.locale


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_every_sample_sentence_switches_to_its_language(language: str) -> None:
    sentences = SENTENCES[language]
    assert len(sentences) >= 10
    expected = negotiate([language], SIX)
    current = "fr-FR" if language == "en" else "en-US"
    missed = [s for s in sentences if switch(s, current) != expected]
    assert missed == []


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_a_sentence_in_the_current_language_changes_nothing(language: str) -> None:
    current = negotiate([language], SIX)
    assert current is not None
    assert [s for s in SENTENCES[language] if switch(s, current) is not None] == []


@pytest.mark.parametrize("text", MUST_NOT_SWITCH)
def test_short_or_ambiguous_texts_never_switch(text: str) -> None:
    assert [current for current in SIX if switch(text, current) is not None] == []


@pytest.mark.parametrize("text", UNSUPPORTED)
def test_languages_the_bot_does_not_speak_are_not_taken_for_ones_it_does(text: str) -> None:
    assert [current for current in SIX if switch(text, current) is not None] == []


def test_han_characters_alone_never_switch_between_chinese_and_japanese() -> None:
    han_only = "東京駅八重洲北口周辺地図案内"
    assert switch(han_only, "ja-JP") is None
    assert switch("東京駅の八重洲北口はどこにありますか", "zh-CN") == "ja-JP"  # kana: plainly Japanese
    assert switch("请问这家店几点关门呢", "en-US") == "zh-CN"


def test_a_language_the_bot_does_not_speak_is_never_chosen() -> None:
    assert switch(SENTENCES["de"][0], "en-US", supported=["en-US", "fr-FR"]) is None


def test_the_confidence_threshold_is_configurable() -> None:
    sentence = "Can you help me with my order?"
    assert switch(sentence, "fr-FR") == "en-US"
    assert switch(sentence, "fr-FR", min_confidence=0.99) is None


def test_detection_only_runs_where_the_integration_asks_for_it() -> None:
    plain = Integration(channel="relay", label="main", locale="en-US", config=ChannelConfig())
    assert LANGUAGES.decide(plain, TextInput(text=SENTENCES["fr"][0]), "en-US", SIX) is None


@pytest.mark.parametrize(
    ("text", "enough"),
    [
        ("hello there", False),
        ("hello there friend", True),
        ("ok 👍 12345 !!!", False),
        ("我想预订", False),
        ("我想预订明天晚上", True),  # 8 characters
        ("ありがとう", False),
        ("よろしくお願いします", True),
        ("我要 iPhone", False),
    ],
)
def test_length_rule(text: str, enough: bool) -> None:
    assert long_enough(text, LanguageSettings()) is enough


def test_links_addresses_and_handles_do_not_count() -> None:
    cleaned = clean_for_detection("see https://example.com/a/b and mail jean@example.com @support #help")
    assert cleaned.split() == ["see", "and", "mail"]


def test_the_detector_runs_with_the_network_cut_off(tmp_path: Path) -> None:
    """Lingua's models are inside its package: with no network and an empty home and cache, it still
    loads and detects (a detector that downloaded a model at run time would fail here)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {probe.stderr.decode().strip()}")
    script = textwrap.dedent(
        """
        import socket
        from channelgate.languages import Detector
        try:
            socket.create_connection(("1.1.1.1", 443), timeout=2)
        except OSError:
            pass
        else:
            raise SystemExit("the network is reachable: the test proves nothing")
        detector = Detector()
        found = detector.detect("Ceci est une phrase en français, sans aucun doute.",
                                frozenset({"fr", "en", "es", "it"}), "low")
        print(found.language)
        """
    )
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run(
        [unshare, "-rn", sys.executable, "-c", script], capture_output=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "fr"
