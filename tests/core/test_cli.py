"""The channelgate command, as a person and a script use it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from typer.testing import CliRunner

from channelgate.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_init_writes_a_commented_config_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    code, out = run("init", "--config", str(path))
    assert code == 0 and "channelgate serve" in out
    text = path.read_text()
    assert text.startswith("# channelgate configuration") and "channel: webchat" in text
    code, _ = run("init", "--config", str(path))
    assert code == 2  # refuses to overwrite


def test_channels_add_list_remove_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("# my gateway\npublic_url: https://bot.example.com  # behind nginx\nintegrations: []\n")
    code, out = run(
        "channels",
        "add",
        "relay",
        "--label",
        "kiosk",
        "--locale",
        "fr-FR",
        "--set",
        "secret=s3cret",
        "--set",
        "send_url=http://127.0.0.1:9/send",
        "--config",
        str(path),
    )
    assert code == 0, out
    assert "https://bot.example.com/webhooks/relay/kiosk" in out
    assert "# behind nginx" in path.read_text()
    code, out = run("channels", "list", "--json", "--config", str(path))
    rows = json.loads(out)
    assert rows == [
        {
            "channel": "relay",
            "label": "kiosk",
            "locale": "fr-FR",
            "callback_url": "https://bot.example.com/webhooks/relay/kiosk",
            "secret": "s3cret",
        }
    ]
    code, out = run(
        "channels",
        "add",
        "relay",
        "--label",
        "kiosk",
        "--set",
        "secret=x",
        "--set",
        "send_url=http://x/s",
        "--config",
        str(path),
    )
    assert code == 2 and "exists already" in out
    code, _ = run("channels", "remove", "relay", "--label", "kiosk", "--config", str(path))
    assert code == 0
    assert json.loads(run("channels", "list", "--json", "--config", str(path))[1]) == []


def test_channels_add_without_a_required_setting_says_which(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("integrations: []\n")
    code, out = run("channels", "add", "relay", "--label", "k", "--set", "secret=x", "--config", str(path))
    assert code == 2 and "send_url" in out and "--set send_url=" in out


def test_bad_config_is_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("integrations:\n  - {channel: relay, label: main}\n")
    code, out = run("channels", "list", "--config", str(path))
    assert code == 2
    assert "Traceback" not in out and "relay/main" in out and "secret: is required" in out


def test_schema_prints_the_universal_json_schema() -> None:
    _, out = run("schema")
    schema = json.loads(out)
    jsonschema.validate({"type": "text", "text": "hi"}, schema)
    _, out = run("schema", "both")
    assert set(json.loads(out)) == {"universal", "brief"}


def test_doctor_checks_config_store_and_bot(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(f"store: sqlite:///{tmp_path}/d.db\nbot: demo\nintegrations: []\n")
    _, out = run("doctor", "--json", "--config", str(path))
    report = json.loads(out)
    assert {c["check"] for c in report["checks"]} >= {"config", "store", "bot"}
    assert all(c["ok"] for c in report["checks"] if c["check"] in ("config", "store", "bot")), report


def test_doctor_reports_an_unreachable_bot(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"store: sqlite:///{tmp_path}/d.db\nbot: {{http: 'http://127.0.0.1:9/turn', retries: 0}}\n"
    )
    code, out = run("doctor", "--json", "--config", str(path))
    report = json.loads(out)
    assert code == 1
    bot = next(c for c in report["checks"] if c["check"] == "bot")
    assert not bot["ok"]


def test_channels_connect_prints_the_console_steps_where_the_platform_has_no_api(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"public_url: https://bot.example.com\nstore: sqlite:///{tmp_path / 'gw.db'}\n"
        "integrations:\n"
        "  - channel: relay\n    label: kiosk\n    locale: en-US\n"
        "    secret: s3cret\n    send_url: 'http://127.0.0.1:9/send'\n"
    )
    code, out = run("channels", "connect", "relay/kiosk", "--json", "--config", str(path))
    assert code == 0, out
    assert json.loads(out) == {
        "connected": False,
        "detail": "In Relay (signed JSON over HTTP)'s webhook settings, set the callback URL to "
        "https://bot.example.com/webhooks/relay/kiosk\nand secret to s3cret",
    }


def test_channels_connect_names_the_integrations_it_knows(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(f"store: sqlite:///{tmp_path / 'gw.db'}\nintegrations: []\n")
    code, out = run("channels", "connect", "telegram/support", "--config", str(path))
    assert code == 2
    assert "no integration telegram/support (integrations: none yet)" in out
    code, out = run("channels", "connect", "telegram", "--config", str(path))
    assert code == 2 and "CHANNEL/LABEL" in out
