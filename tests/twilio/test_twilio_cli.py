"""``channelgate channels add twilio``: what it asks for, and the integration it writes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from channelgate.cli import app

from .kit import NUMBER, SID, TOKEN

runner = CliRunner()


def test_channels_add_asks_for_the_account_and_a_sender(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("public_url: https://bot.example.com\nintegrations: []\n")
    add = ["channels", "add", "twilio", "--label", "sms", "--config", str(path)]
    result = runner.invoke(app, [*add, "--set", f"account_sid={SID}", "--set", f"auth_token={TOKEN}"])
    assert result.exit_code == 2 and "--set from_number=" in result.output
    result = runner.invoke(
        app,
        [
            *add,
            "--set",
            f"account_sid={SID}",
            "--set",
            f"auth_token={TOKEN}",
            "--set",
            f"from_number={NUMBER}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "https://bot.example.com/webhooks/twilio/sms" in result.output and TOKEN not in result.output
    assert "channel: twilio" in path.read_text()


def test_a_messaging_service_needs_no_number(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("public_url: https://bot.example.com\nintegrations: []\n")
    service = "MG" + "0" * 32
    result = runner.invoke(
        app,
        ["channels", "add", "twilio", "--label", "pool", "--config", str(path), "--set", f"account_sid={SID}",
         "--set", f"auth_token={TOKEN}", "--set", f"messaging_service_sid={service}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
