"""Config errors name the file, the integration and the field, and say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from channelgate.channels.registry import load_registry
from channelgate.config import ConfigError, load_config, parse_config, substitute_env

REGISTRY = load_registry()
RELAY = {
    "channel": "relay",
    "label": "main",
    "locale": "en-US",
    "secret": "s",
    "send_url": "http://127.0.0.1:1/send",
}


def error_of(data: object) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, REGISTRY, "gw.yaml")
    return str(info.value)


def test_a_good_config_loads_with_defaults() -> None:
    config = parse_config({"integrations": [RELAY]}, REGISTRY, "gw.yaml")
    assert config.settings.public_url == "http://127.0.0.1:8080"
    assert config.settings.store == "sqlite:///channelgate.db"
    [integration] = config.integrations
    assert (
        integration.callback_url("https://bot.example.com") == "https://bot.example.com/webhooks/relay/main"
    )


def test_wrong_field_type_names_file_integration_and_field() -> None:
    message = error_of({"integrations": [{**RELAY, "rate_limit": "fast"}]})
    assert message.startswith("gw.yaml: integrations[0] (relay/main).rate_limit:")


def test_missing_required_field_says_it_is_required() -> None:
    data = {k: v for k, v in RELAY.items() if k != "send_url"}
    message = error_of({"integrations": [data]})
    assert "integrations[0] (relay/main).send_url: is required" in message


def test_misspelled_setting_is_called_out() -> None:
    message = error_of({"integrations": [{**RELAY, "secrte": "x"}]})
    assert "secrte: is not a known setting" in message


def test_unknown_channel_lists_the_known_ones() -> None:
    message = error_of({"integrations": [{"channel": "fax", "label": "x"}]})
    assert "unknown channel 'fax'" in message and "relay" in message


@pytest.mark.parametrize("label", ["Shop", "has space", "", "a/b"])
def test_labels_must_be_url_safe(label: str) -> None:
    assert "label" in error_of({"integrations": [{**RELAY, "label": label}]})


def test_duplicate_integration_is_refused() -> None:
    assert "defined twice" in error_of({"integrations": [RELAY, RELAY]})


def test_bad_locale_is_refused_with_an_example() -> None:
    message = error_of({"integrations": [{**RELAY, "locale": "klingon-XX"}]})
    assert ".locale" in message and "en-US" in message


def test_bad_top_level_settings_are_named() -> None:
    assert "gw.yaml.public_url" in error_of({"public_url": "bot.example.com"})
    assert "bot" in error_of({"bot": {"http": "not a url"}})


def test_env_vars_are_substituted_and_missing_ones_named() -> None:
    assert substitute_env("token: ${TOKEN}", "f", {"TOKEN": "abc"}) == "token: abc"
    assert substitute_env("token: ${TOKEN:-dflt}", "f", {}) == "token: dflt"
    with pytest.raises(ConfigError, match=r"f, line 2: environment variable TOKEN is not set"):
        substitute_env("a: 1\ntoken: ${TOKEN}", "f", {})


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="channelgate init"):
        load_config(tmp_path / "nope.yaml", REGISTRY)


def test_secrets_never_show_in_reprs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_SECRET", "super-secret-value")
    path = tmp_path / "gw.yaml"
    path.write_text(
        "integrations:\n  - {channel: relay, label: main, secret: '${RELAY_SECRET}', send_url: 'http://x/s'}\n"
    )
    config = load_config(path, REGISTRY)
    assert "super-secret-value" not in repr(config) and "super-secret-value" not in str(config.integrations)
    assert config.integrations[0].config.secret.get_secret_value() == "super-secret-value"  # type: ignore[attr-defined]


def test_commented_out_examples_need_no_environment_variable() -> None:
    text = "# page_access_token: ${MESSENGER_TOKEN}\nport: 8080\n"
    assert substitute_env(text, "f", {}) == text
