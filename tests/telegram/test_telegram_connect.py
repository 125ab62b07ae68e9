"""``channelgate channels connect telegram/LABEL``: setup step 3 through the Bot API (simulated)."""

from __future__ import annotations

from pathlib import Path

import pytest

from channelgate.channels.base import InvalidCredentials
from channelgate.channels.registry import load_registry
from channelgate.config import load_config
from channelgate.connecting import connect
from channelgate.testing.telegram import TelegramSimulator

from .kit import TOKEN


def config_file(tmp_path: Path, api_url: str, token: str = TOKEN) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"public_url: https://bot.example.com\nstore: sqlite:///{tmp_path / 'gw.db'}\n"
        "integrations:\n"
        "  - channel: telegram\n    label: support\n    locale: en-US\n"
        f"    bot_token: '{token}'\n    secret_token: s3cret-s3cret\n    api_base_url: '{api_url}'\n"
    )
    return path


async def test_connect_sets_the_webhook_from_the_config_file(
    tmp_path: Path, sim: TelegramSimulator, api_url: str
) -> None:
    cfg = load_config(config_file(tmp_path, api_url), load_registry())
    result = await connect(cfg, "telegram", "support")
    assert result.connected
    assert sim.webhook["url"] == "https://bot.example.com/webhooks/telegram/support"
    assert "no delivery error reported" in result.detail


async def test_a_refused_token_is_an_error_naming_no_secret(
    tmp_path: Path, sim: TelegramSimulator, api_url: str
) -> None:
    cfg = load_config(config_file(tmp_path, api_url, token="123456:" + "B" * 35), load_registry())
    with pytest.raises(InvalidCredentials) as caught:
        await connect(cfg, "telegram", "support")
    assert "B" * 35 not in caught.value.reason
