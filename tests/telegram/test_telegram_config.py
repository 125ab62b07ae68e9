"""The Telegram integration's settings: checked shapes, and a ``secret_token`` made up by ``channels add``
and the admin API when not given, as Meta's ``verify_token`` is."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from channelgate.channels.telegram import TelegramChannel, TelegramConfig
from channelgate.cli import app
from channelgate.testing.gateway import wait_until
from channelgate.testing.server import serve_app
from channelgate.testing.telegram import TelegramSimulator
from tests.api.conftest import start_api
from tests.core.relay_peer import RelayPeer

from .kit import SECRET, TOKEN, channel

SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{24,256}$")


def config(**values: Any) -> TelegramConfig:
    return TelegramConfig(**{"bot_token": TOKEN, "secret_token": SECRET, **values})


def test_the_settings_and_their_defaults() -> None:
    cfg = config(api_base_url="http://127.0.0.1:8081/")
    assert cfg.api_base_url == "http://127.0.0.1:8081"
    assert config().api_base_url == "https://api.telegram.org"
    assert TelegramConfig.settings() == ["bot_token", "secret_token", "api_base_url", "rate_limit"]
    assert set(TelegramConfig.secret_fields()) == {"bot_token", "secret_token"}
    assert TelegramConfig.endpoint_hosts == {"api_base_url": ("api.telegram.org",)}
    assert TelegramChannel(config(), channel().ctx).send_rate == 30.0
    assert TelegramChannel(config(rate_limit=5), channel().ctx).send_rate == 5.0


@pytest.mark.parametrize(
    "values",
    [
        {"bot_token": "not-a-token"},
        {"bot_token": "123:short"},
        {"bot_token": "123456789:AAE-token/../../getMe-xxxxxxxx"},  # must not be able to change the path
        {"secret_token": "has spaces in it"},
        {"secret_token": "x" * 257},
        {"api_base_url": "api.telegram.org"},
    ],
)
def test_bad_settings_are_refused_naming_the_field(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        config(**values)
    assert str(caught.value.errors()[0]["loc"][0]) == next(iter(values))


def test_channels_add_makes_up_the_secret_token(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("public_url: https://bot.example.com\nintegrations: []\n")
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "channels",
            "add",
            "telegram",
            "--label",
            "support",
            "--set",
            f"bot_token={TOKEN}",
            "--config",
            str(path),
        ],
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["channels", "list", "--json", "--config", str(path)])
    [row] = json.loads(listed.output)
    assert row["callback_url"] == "https://bot.example.com/webhooks/telegram/support"
    assert SECRET_SHAPE.fullmatch(row["secret_token"])  # shown: the operator may set the webhook by hand


async def test_the_admin_api_makes_up_the_secret_token_and_it_works(tmp_path: Path) -> None:
    sim = TelegramSimulator()
    peer = RelayPeer()
    async with serve_app(peer.app) as peer_url, serve_app(sim.app) as api_url:
        peer.url = peer_url  # type: ignore[attr-defined]
        async with start_api(peer, f"sqlite:///{tmp_path}/gw.db") as api:
            body = {
                "channel": "telegram",
                "label": "bot",
                "config": {"bot_token": sim.bot_token, "api_base_url": api_url},
            }
            async with api.client() as client:
                created = (await client.post("/integrations", json=body)).json()
            secret = created["setup"]["secret_token"]
            assert SECRET_SHAPE.fullmatch(secret) and created["config"]["secret_token"] == "***"
            channel = api.gw.gateway.channel("telegram", "bot")
            assert isinstance(channel, TelegramChannel)
            await channel.connect()
            assert (await sim.deliver(sim.text_update(42, "hi"))).status_code == 200
            await wait_until(lambda: len(api.bot.turns) == 1)


def test_a_plain_http_bot_api_elsewhere_than_loopback_is_warned_about() -> None:
    assert TelegramChannel.check_config(config()) == []
    assert TelegramChannel.check_config(config(api_base_url="http://127.0.0.1:8081")) == []
    [warning] = TelegramChannel.check_config(config(api_base_url="http://botapi.internal:8081"))
    assert "crosses the network unencrypted" in warning and TOKEN not in warning
