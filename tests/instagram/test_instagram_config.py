"""The Instagram integration's settings: the issue's exact keys, secrets masked, the Graph hosts as its only
endpoints, and ``channels add`` asking for what it needs and making up the ``verify_token``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from channelgate.channels.instagram import InstagramChannel, InstagramConfig
from channelgate.channels.registry import load_registry
from channelgate.cli import app

from .kit import ACCOUNT


def test_the_settings_are_the_issues_keys() -> None:
    assert InstagramConfig.required_fields() == [
        "verify_token",
        "app_secret",
        "access_token",
        "instagram_account_id",
    ]
    assert set(InstagramConfig.secret_fields()) == {"verify_token", "app_secret", "access_token"}
    assert InstagramConfig.settings()[-1] == "rate_limit"  # the common one, not redeclared
    assert InstagramConfig.endpoint_hosts == {"api_base_url": ("graph.instagram.com", "graph.facebook.com")}
    assert load_registry().get("instagram") is InstagramChannel


def test_defaults_and_checks() -> None:
    config = InstagramConfig(verify_token="v", app_secret="s", access_token="t", instagram_account_id=ACCOUNT)
    assert config.api_base_url == "https://graph.instagram.com/v25.0"
    assert config.endpoints() == {"api_base_url": "https://graph.instagram.com/v25.0"}
    assert config.graph_node == ACCOUNT  # Instagram Login: the account's own edges
    facebook_login = config.model_copy(update={"api_base_url": "https://graph.facebook.com/v25.0"})
    assert facebook_login.graph_node == "me"  # Facebook Login: the Page the token belongs to
    assert repr(config.access_token) == "SecretStr('**********')" and InstagramChannel.limits.send_rate == 300
    with pytest.raises(ValidationError):
        InstagramConfig(verify_token="v", app_secret="s", access_token="t", instagram_account_id="../me")
    with pytest.raises(ValidationError):
        InstagramConfig(
            verify_token="v",
            app_secret="s",
            access_token="t",
            instagram_account_id=ACCOUNT,
            api_base_url="ftp://x",
        )


def test_channels_add_asks_for_the_keys_and_makes_up_the_verify_token(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("public_url: https://bot.example.com\nintegrations: []\n")
    runner = CliRunner()
    args = ["channels", "add", "instagram", "--label", "shop", "--config", str(path)]
    missing = runner.invoke(app, [*args, "--set", "app_secret=s3cret"])
    assert missing.exit_code != 0 and "access_token" in missing.output
    added = runner.invoke(
        app,
        [
            *args,
            "--set",
            "app_secret=s3cret",
            "--set",
            "access_token=IGAAtoken",
            "--set",
            f"instagram_account_id={ACCOUNT}",
        ],
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["channels", "list", "--json", "--config", str(path)])
    [row] = json.loads(listed.output)
    assert row["callback_url"] == "https://bot.example.com/webhooks/instagram/shop"
    assert len(row["verify_token"]) >= 24  # shown: it is pasted into the App Dashboard
