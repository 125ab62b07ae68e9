"""Config: what starts, what is refused (naming the field, never the secret), and the GBM → RBM move."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from channelgate.channels.registry import load_registry
from channelgate.config import ConfigError, parse_config
from channelgate.testing.google import GoogleAgentSimulator


@pytest.fixture
def key(key_pem: str) -> str:
    info = GoogleAgentSimulator(private_key_pem=key_pem).service_account_info(
        "https://oauth2.googleapis.com/token"
    )
    return orjson.dumps(info).decode()


def integration(channel: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"channel": channel, "label": "shop", "client_token": "tok", "service_account": key, **extra}


def test_both_channels_are_registered() -> None:
    registry = load_registry()
    assert registry.get("gbm") is not None and registry.get("rbm") is not None
    assert "gbm" not in registry.broken and "rbm" not in registry.broken


def test_gbm_starts_with_a_warning_about_the_shutdown(key: str) -> None:
    config = parse_config({"integrations": [integration("gbm", key)]}, load_registry())
    assert any("shut down on 31 July 2024" in w for w in config.warnings)


@pytest.mark.parametrize("channel", ["gbm", "rbm"])
def test_a_broken_key_refuses_to_start_without_showing_it(channel: str) -> None:
    broken = (
        '{"type": "service_account", "client_email": "a@b", "private_key": "SECRET-PEM", "token_uri": "x"}'
    )
    extra = {"agent_id": "a"} if channel == "rbm" else {}
    with pytest.raises(ConfigError, match="private key cannot be loaded") as caught:
        parse_config({"integrations": [integration(channel, broken, **extra)]}, load_registry())
    assert "SECRET-PEM" not in str(caught.value)


@pytest.mark.parametrize("channel", ["gbm", "rbm"])
def test_an_empty_client_token_refuses_to_start(channel: str, key: str) -> None:
    extra = {"agent_id": "a"} if channel == "rbm" else {}
    raw = {**integration(channel, key, **extra), "client_token": ""}
    with pytest.raises(ConfigError, match="client_token is required"):
        parse_config({"integrations": [raw]}, load_registry())


def test_moving_from_gbm_to_rbm_is_a_config_change(key: str) -> None:
    gbm = integration("gbm", key, representative_name="Shop")
    parse_config({"integrations": [gbm]}, load_registry())
    moved = {**gbm, "channel": "rbm", "agent_id": "shop-agent@rbm.goog"}
    with pytest.raises(ConfigError, match="representative_name: is not a known setting"):
        parse_config({"integrations": [moved]}, load_registry())
    del moved["representative_name"]
    [rbm] = parse_config({"integrations": [moved]}, load_registry()).integrations
    assert rbm.config.agent_id == "shop-agent"  # type: ignore[attr-defined]


def test_secrets_are_masked_in_the_config_repr(key: str) -> None:
    [gbm] = parse_config({"integrations": [integration("gbm", key)]}, load_registry()).integrations
    assert "BEGIN PRIVATE KEY" not in repr(gbm.config)
    assert set(type(gbm.config).secret_fields()) == {"client_token", "service_account"}
