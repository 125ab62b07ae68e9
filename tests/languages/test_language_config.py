"""The config's language parts: integration locales against the bot's, and the ``languages:`` section."""

# ruff: noqa: RUF001 - full-width punctuation and letters are the point: the texts are CJK

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from channelgate.channels.registry import load_registry
from channelgate.config import DEFAULT_TRIGGERS, ConfigError, parse_config

REGISTRY = load_registry()


def relay(**kw: Any) -> dict[str, Any]:
    return {
        "channel": "relay",
        "label": "main",
        "locale": "en-US",
        "secret": "s",
        "send_url": "http://127.0.0.1:1/send",
        **kw,
    }


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, REGISTRY, "gw.yaml")
    return str(info.value)


def test_an_integration_locale_the_demo_bot_does_not_speak_is_refused_naming_integration_and_field() -> None:
    message = error_of({"integrations": [relay(locale="pt-BR")]})
    assert message.startswith("gw.yaml: integrations[0] (relay/main).locale: 'pt-BR' is not one of the bot's")
    assert "en-US, zh-CN, es-ES, fr-FR, de-DE, ja-JP" in message


def test_bot_locales_in_the_config_are_the_ones_checked() -> None:
    bot = {"python": "mybot.main:respond", "locales": ["pt-BR", "en-US"]}
    config = parse_config({"bot": bot, "integrations": [relay(locale="pt_br")]}, REGISTRY, "gw.yaml")
    assert config.integrations[0].locale == "pt-BR"
    message = error_of({"bot": bot, "integrations": [relay(), relay(label="fr", locale="fr-FR")]})
    assert "integrations[1] (relay/fr).locale: 'fr-FR'" in message and "(pt-BR, en-US)" in message


def test_another_spelling_of_a_bot_locale_takes_the_bot_spelling() -> None:
    config = parse_config(
        {"integrations": [relay(locale="zh-Hans-CN"), relay(label="b", locale="fr")]}, REGISTRY, "gw.yaml"
    )
    assert [i.locale for i in config.integrations] == ["zh-CN", "fr-FR"]


def test_a_bot_that_declares_no_locales_accepts_any_integration_locale() -> None:
    config = parse_config(
        {"bot": {"http": "https://bot.example.com/turn"}, "integrations": [relay(locale="pt-BR")]},
        REGISTRY,
        "gw.yaml",
    )
    assert config.integrations[0].locale == "pt-BR"


def test_the_languages_section_has_defaults_and_reaches_each_integration() -> None:
    config = parse_config({"integrations": [relay()]}, REGISTRY, "gw.yaml")
    settings = config.settings.languages
    assert settings.triggers == list(DEFAULT_TRIGGERS)
    assert (settings.confirm, settings.min_confidence, settings.min_words, settings.min_cjk_chars) == (
        True,
        0.5,
        3,
        8,
    )
    assert config.integrations[0].languages is settings
    assert config.integrations[0].limits.quick_replies_max == 13  # the relay channel's


def test_languages_settings_are_validated_and_named() -> None:
    assert "gw.yaml.languages.min_confidence" in error_of({"languages": {"min_confidence": 2}})
    assert "gw.yaml.languages.trigger: is not a known setting" in error_of({"languages": {"trigger": ["/x"]}})
    assert "a trigger cannot be empty" in error_of({"languages": {"triggers": ["/lang", "  "]}})
    assert "detect_also" in error_of({"languages": {"detect_also": ["xx"]}})
    assert "without script or region" in error_of({"languages": {"detect_also": ["pt-BR"]}})
    config = parse_config(
        {"languages": {"triggers": ["/LANG", "/lang", "Ｌａｎｇｕａｇｅ"], "detect_also": ["IT"]}},
        REGISTRY,
        "gw.yaml",
    )
    assert config.settings.languages.triggers == ["/lang", "language"]
    assert config.settings.languages.detect_also == ["it"]


def test_language_flags_must_be_booleans() -> None:
    message = error_of({"integrations": [relay(auto_detect="yes please")]})
    assert (
        message
        == "gw.yaml: integrations[0] (relay/main).auto_detect: must be true or false, not 'yes please'"
    )


def test_detection_without_the_detector_installed_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "lingua" else real(name, *a)
    )
    message = error_of({"integrations": [relay(auto_detect=True)]})
    assert (
        "integrations[0] (relay/main).auto_detect: language detection needs the lingua-language-detector"
        in message
    )
