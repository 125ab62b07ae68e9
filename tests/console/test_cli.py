"""``channelgate console add-user NAME [--read-only] [--password-stdin] [--config PATH]`` and friends, run
as the real command on a config file whose store the gateway then uses."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from channelgate.cli import app
from channelgate.store import Store, operators

runner = CliRunner()


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "channelgate.yaml"
    path.write_text(
        f"store: sqlite:///{tmp_path}/cli.db\nbot: demo\nintegrations:\n"
        "  - channel: webchat\n    label: site\n    locale: en-US\n",
        encoding="utf-8",
    )
    return path


def check(tmp_path: Path, name: str, password: str) -> operators.Operator | None:
    async def run() -> operators.Operator | None:
        store = Store(f"sqlite:///{tmp_path}/cli.db")
        try:
            return await operators.authenticate(store, name, password)
        finally:
            await store.close()

    return asyncio.run(run())


def test_add_user_from_stdin_then_sign_in_works(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    result = runner.invoke(
        app,
        ["console", "add-user", "alice", "--password-stdin", "--config", str(config)],
        input="s3cret-pass\n",
    )
    assert result.exit_code == 0, result.output
    assert "added full operator alice; sign in at http://127.0.0.1:8080/console" in result.output
    assert check(tmp_path, "alice", "s3cret-pass") == operators.Operator("alice", "full")
    assert check(tmp_path, "alice", "wrong-pass") is None
    with sqlite3.connect(tmp_path / "cli.db") as db:
        (stored,) = db.execute("SELECT password_hash FROM operators WHERE name = 'alice'").fetchone()
    assert stored.startswith("$argon2id$") and "s3cret-pass" not in stored

    result = runner.invoke(
        app,
        ["console", "add-user", "alice", "--read-only", "--password-stdin", "--config", str(config)],
        input="another-pass\n",
    )
    assert result.exit_code == 0 and "updated read-only operator alice" in result.output
    assert check(tmp_path, "alice", "another-pass") == operators.Operator("alice", "read")
    assert check(tmp_path, "alice", "s3cret-pass") is None

    listed = runner.invoke(app, ["console", "list-users", "--json", "--config", str(config)])
    assert json.loads(listed.output) == [{"name": "alice", "role": "read"}]
    removed = runner.invoke(app, ["console", "remove-user", "alice", "--config", str(config)])
    assert removed.exit_code == 0
    assert check(tmp_path, "alice", "another-pass") is None


def test_add_user_prompts_twice_for_the_password(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    result = runner.invoke(
        app, ["console", "add-user", "bob", "--config", str(config)], input="long-enough\nlong-enough\n"
    )
    assert result.exit_code == 0, result.output
    assert check(tmp_path, "bob", "long-enough") == operators.Operator("bob", "full")


def test_bad_names_and_short_passwords_are_refused(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    short = runner.invoke(
        app, ["console", "add-user", "carol", "--password-stdin", "--config", str(config)], input="short\n"
    )
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    bad = runner.invoke(
        app,
        ["console", "add-user", "<b>x", "--password-stdin", "--config", str(config)],
        input="long-enough\n",
    )
    assert bad.exit_code == 2 and "a name is" in bad.output
    empty = runner.invoke(
        app, ["console", "add-user", "dave", "--password-stdin", "--config", str(config)], input=""
    )
    assert empty.exit_code == 2 and "no password on standard input" in empty.output


def test_init_tells_how_to_turn_the_console_on(tmp_path: Path) -> None:
    path = tmp_path / "new.yaml"
    result = runner.invoke(app, ["init", "--config", str(path)])
    assert result.exit_code == 0
    assert f"channelgate console add-user NAME --config {path}" in result.output
