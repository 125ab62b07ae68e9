"""The Slack integration's settings, ``channels add`` asking for them, and ``channels connect`` (setup step
3: Slack has no API for it, so it checks the token with auth.test and prints the clicks)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from channelgate.channels import registry as registry_module
from channelgate.channels.slack import SlackChannel, SlackConfig
from channelgate.cli import app
from channelgate.testing.slack import SlackSimulator

from .kit import SECRET, TOKEN, channel


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The channel as the entry point makes it known once the package is reinstalled."""
    monkeypatch.setitem(registry_module.BUILTIN, "slack", "channelgate.channels.slack:SlackChannel")


def config(**values: Any) -> SlackConfig:
    return SlackConfig(**{"signing_secret": SECRET, "bot_token": TOKEN, **values})


def test_the_settings_and_their_defaults() -> None:
    assert config().api_base_url == "https://slack.com/api"
    assert config(api_base_url="http://127.0.0.1:9090/api/").api_base_url == "http://127.0.0.1:9090/api"
    assert config().reply_in_thread is False
    assert SlackConfig.settings() == [
        "signing_secret",
        "bot_token",
        "api_base_url",
        "reply_in_thread",
        "rate_limit",
    ]
    assert SlackConfig.required_fields() == ["signing_secret", "bot_token"]
    assert set(SlackConfig.secret_fields()) == {"signing_secret", "bot_token"}
    assert SlackConfig.endpoint_hosts == {"api_base_url": ("slack.com",)}
    assert config().endpoints() == {"api_base_url": "https://slack.com/api"}
    assert SlackChannel(config(), channel().ctx).send_rate == pytest.approx(100 / 60)
    assert SlackChannel(config(rate_limit=20), channel().ctx).send_rate == 20.0
    assert TOKEN not in repr(config()) and SECRET not in repr(config())


@pytest.mark.parametrize(
    "values",
    [
        {"bot_token": "xoxp-user-token"},
        {"bot_token": "xapp-1-app-level"},
        {"bot_token": "xoxb- with spaces"},
        {"signing_secret": "   "},
        {"api_base_url": "slack.com/api"},
        {"reply_in_thread": "sometimes"},
    ],
)
def test_bad_settings_are_refused_naming_the_field(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        config(**values)
    assert str(caught.value.errors()[0]["loc"][0]) == next(iter(values))


def test_a_plain_http_api_elsewhere_than_loopback_is_warned_about() -> None:
    assert SlackChannel.check_config(config()) == []
    assert SlackChannel.check_config(config(api_base_url="http://127.0.0.1:9090/api")) == []
    [warning] = SlackChannel.check_config(config(api_base_url="http://slack.internal/api"))
    assert "unencrypted" in warning and TOKEN not in warning


def write_config(path: Path) -> None:
    path.write_text(
        f"public_url: https://bot.example.com\nstore: sqlite:///{path.parent}/gw.db\nintegrations: []\n"
    )


def test_channels_add_takes_the_two_keys(tmp_path: Path, installed: None) -> None:
    path = tmp_path / "gw.yaml"
    write_config(path)
    runner = CliRunner()
    args = ["channels", "add", "slack", "--label", "team", "--set", f"signing_secret={SECRET}"]
    added = runner.invoke(app, [*args, "--set", f"bot_token={TOKEN}", "--config", str(path)])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["channels", "list", "--json", "--config", str(path)])
    [row] = json.loads(listed.output)
    assert row["callback_url"] == "https://bot.example.com/webhooks/slack/team"
    assert TOKEN not in listed.output
    missing = runner.invoke(app, [*args, "--config", str(path)], input="")
    assert missing.exit_code != 0 and "bot_token" in missing.output


async def test_channels_connect_checks_the_token_and_prints_the_clicks(
    tmp_path: Path, installed: None, sim: SlackSimulator, api_url: str
) -> None:
    path = tmp_path / "gw.yaml"
    write_config(path)
    runner = CliRunner()
    sets = [
        "--set",
        f"signing_secret={SECRET}",
        "--set",
        f"bot_token={TOKEN}",
        "--set",
        f"api_base_url={api_url}",
    ]
    added = await asyncio.to_thread(
        runner.invoke, app, ["channels", "add", "slack", "--label", "team", *sets, "--config", str(path)]
    )
    assert added.exit_code == 0, added.output
    result = await asyncio.to_thread(
        runner.invoke, app, ["channels", "connect", "slack/team", "--config", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "set the webhook by hand" in result.output
    assert sim.team in result.output and "https://bot.example.com/webhooks/slack/team" in result.output
    assert "Interactivity & Shortcuts" in result.output
