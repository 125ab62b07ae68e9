"""Secrets at rest: what the API and the channels store is encrypted (read from the raw SQLite file and the
PostgreSQL tables), keys rotate with `channelgate secrets rotate`, a missing or wrong key is a clear error,
files holding secrets are 0600, and debug logging prints no SQL parameter."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from channelgate import logs
from channelgate.cli import app as cli_app
from channelgate.store import Store, StoreKeyValue, admin
from channelgate.store.secret_box import ENV_VAR, SecretBox, SecretKeyError, SecretKeyMissing
from tests.core.relay_peer import RelayPeer

from .conftest import start_api

TOKEN = "relay-secret-Q7wz0rNs"
KV_SECRET = "kv-secret-3KdX9pLm"


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default: files a program creates without care are world-readable (0644)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``logs.configure`` (``serve`` calls it) sets levels and handlers process-wide: put them back so the
    tests that run after still see what they expect (httpx at INFO, pytest's handlers)."""
    touched = ["", "httpx", *logs._DRIVER_LOGGERS]
    saved = {name: logging.getLogger(name).level for name in touched}
    handlers = logging.getLogger().handlers[:]
    try:
        yield
    finally:
        logging.getLogger().handlers[:] = handlers
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def raw_store_text(url: str) -> str:
    """Everything the store holds, as an attacker with the file (or the tables) would read it."""
    if url.startswith("sqlite"):
        database = Path(url.removeprefix("sqlite:///"))
        files = [database, database.with_name(database.name + "-wal")]
        return "".join(f.read_bytes().decode("latin-1") for f in files if f.exists())
    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1))
    try:
        configs = await conn.fetch("SELECT config::text AS v FROM stored_integrations")
        values = await conn.fetch("SELECT key || '=' || value AS v FROM kv")
    finally:
        await conn.close()
    return "\n".join(r["v"] for r in [*configs, *values])


async def test_api_secrets_and_channel_keys_are_encrypted_in_the_store(
    peer: RelayPeer, store_url: str
) -> None:
    async with start_api(peer, store_url) as api, api.client() as client:
        relay = {"secret": TOKEN, "send_url": f"{peer.url}/send"}  # type: ignore[attr-defined]
        created = await client.post(
            "/integrations", json={"channel": "relay", "label": "kiosk", "config": relay}
        )
        chat = await client.post("/integrations", json={"channel": "webchat", "label": "site"})
        assert created.status_code == 201 and chat.status_code == 201, (created.text, chat.text)
        hmac_key = api.gw.gateway.channel("webchat", "site")._secret  # type: ignore[union-attr]
        await StoreKeyValue(api.gw.store, "t", "relay:kiosk:").set("token", KV_SECRET)
        raw = await raw_store_text(store_url)
        row = await admin.stored_integration(api.gw.store, "relay", "kiosk")
    assert hmac_key and len(hmac_key) >= 32
    for secret in (TOKEN, KV_SECRET, hmac_key.decode()):
        assert secret not in raw
    assert "fernet:" in raw and "$sealed" in raw
    assert row is not None and row["config"]["secret"] == TOKEN  # and it reads back


async def test_rotation_reencrypts_with_the_new_key(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = Store(store_url, secrets=SecretBox([old.encode()], "old"))
    await first.create_schema()
    await admin.insert_integration(first, "relay", "kiosk", "en-US", {"secret": TOKEN, "send_url": "x"})
    await StoreKeyValue(first, "t", "relay:kiosk:").set("token", KV_SECRET)
    await first.kv.set("relay:kiosk:legacy", "stored-in-clear-before-encryption")
    await first.close()

    both = Store(store_url, secrets=SecretBox([new.encode(), old.encode()], "new,old"))
    counts = await admin.rotate_secrets(both, ["relay"])
    await both.close()
    assert counts == {"integrations": 1, "key_values": 2}

    only_new = Store(store_url, secrets=SecretBox([new.encode()], "new"))
    only_old = Store(store_url, secrets=SecretBox([old.encode()], "old"))
    try:
        row = await admin.stored_integration(only_new, "relay", "kiosk")
        assert row is not None and row["config"]["secret"] == TOKEN
        assert await StoreKeyValue(only_new, "t", "relay:kiosk:").get("token") == KV_SECRET
        assert await StoreKeyValue(only_new, "t", "relay:kiosk:").get("legacy") == (
            "stored-in-clear-before-encryption"
        )
        assert "stored-in-clear" not in await raw_store_text(store_url)
        with pytest.raises(SecretKeyError, match="does not open with the configured key"):
            await admin.stored_integration(only_old, "relay", "kiosk")
    finally:
        await only_new.close()
        await only_old.close()


def test_the_rotate_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path}/gw.db"
    config = tmp_path / "gw.yaml"
    config.write_text(f"store: {url}\nintegrations: []\n")

    async def put() -> None:
        store = Store(url, secrets=SecretBox([old.encode()], "old"))
        await store.create_schema()
        await admin.insert_integration(store, "relay", "kiosk", "en-US", {"secret": TOKEN, "send_url": "x"})
        await store.close()

    asyncio.run(put())
    runner = CliRunner()
    monkeypatch.setenv(ENV_VAR, new)  # the old key is gone: nothing opens
    refused = runner.invoke(cli_app, ["secrets", "rotate", "--config", str(config)])
    monkeypatch.setenv(ENV_VAR, f"{new},{old}")
    rotated = runner.invoke(cli_app, ["secrets", "rotate", "--config", str(config), "--json"])
    generated = runner.invoke(cli_app, ["secrets", "generate-key"])
    assert refused.exit_code == 2 and "KEY_NEW,KEY_OLD" in refused.output
    assert rotated.exit_code == 0, rotated.output
    assert '"integrations": 1' in rotated.output
    Fernet(generated.output.strip())  # a usable key

    async def read() -> str:
        store = Store(url, secrets=SecretBox([new.encode()], "new"))
        row = await admin.stored_integration(store, "relay", "kiosk")
        await store.close()
        assert row is not None
        return str(row["config"]["secret"])

    assert asyncio.run(read()) == TOKEN


async def test_a_postgres_store_without_a_key_refuses_to_start(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR)
    store = Store(pg_url)
    try:
        with pytest.raises(SecretKeyMissing, match=f"set {ENV_VAR}.*same on every replica"):
            await store.create_schema()
    finally:
        await store.close()


async def test_encrypted_data_without_its_key_says_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/gw.db"
    sealed = SecretBox([Fernet.generate_key()], "env")
    store = Store(url, secrets=sealed)
    await store.create_schema()
    await admin.insert_integration(store, "relay", "kiosk", "en-US", {"secret": TOKEN})
    await store.close()
    keyless = Store(url, secrets=SecretBox([], "none"))
    try:
        with pytest.raises(SecretKeyMissing, match=f"encrypted secrets but no key is set: set {ENV_VAR}"):
            await admin.stored_integration(keyless, "relay", "kiosk")
    finally:
        await keyless.close()


async def test_sqlite_store_files_and_its_key_are_private(tmp_path: Path, umask_022: None) -> None:
    database = tmp_path / "gw.db"
    store = Store(f"sqlite:///{database}")
    await store.create_schema()
    await StoreKeyValue(store, "t", "relay:x:").set("token", KV_SECRET)
    await store.inbox.accept("relay", "x", "en-US", [])
    files = [database, tmp_path / "gw.db-wal", tmp_path / "gw.db-shm", tmp_path / "gw.db.key"]
    try:
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await store.close()
    # a second start reuses the key: what the first sealed still opens
    again = Store(f"sqlite:///{database}")
    try:
        assert await StoreKeyValue(again, "t", "relay:x:").get("token") == KV_SECRET
    finally:
        await again.close()


def test_init_and_channels_add_write_private_files(tmp_path: Path, umask_022: None) -> None:
    runner = CliRunner()
    path = tmp_path / "gw.yaml"
    assert runner.invoke(cli_app, ["init", "--config", str(path)]).exit_code == 0
    assert mode(path) == 0o600
    path.chmod(0o644)  # a file the user made readable: adding a secret to it makes it private again
    added = runner.invoke(
        cli_app,
        [
            "channels",
            "add",
            "relay",
            "--label",
            "k",
            "--set",
            f"secret={TOKEN}",
            "--set",
            "send_url=http://x/y",
            "--config",
            str(path),
        ],
    )
    assert added.exit_code == 0, added.output
    assert TOKEN in path.read_text() and mode(path) == 0o600


async def test_debug_logging_prints_no_sql_parameter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, restore_logging: None
) -> None:
    logs.configure("debug")
    logging.getLogger().addHandler(caplog.handler)  # configure() replaced the root handlers
    caplog.set_level(logging.DEBUG)
    logs.quiet_drivers()  # caplog.set_level lowered the root only; the drivers keep their own level
    try:
        store = Store(f"sqlite:///{tmp_path}/gw.db", echo=True)  # echo: statements are logged at INFO
        await store.create_schema()
        await admin.insert_integration(store, "relay", "kiosk", "en-US", {"secret": TOKEN})
        await store.kv.set("plain-key", KV_SECRET)
        assert await store.kv.get("plain-key") == KV_SECRET
        await store.close()
    finally:
        logging.getLogger().removeHandler(caplog.handler)
    statements = [r for r in caplog.records if r.name.startswith("sqlalchemy.engine")]
    assert any("INSERT INTO kv" in r.getMessage() for r in statements)  # echo is on: statements show
    assert all(TOKEN not in r.getMessage() and KV_SECRET not in r.getMessage() for r in caplog.records)
    assert KV_SECRET not in caplog.text and TOKEN not in caplog.text


async def test_sqlite_synchronous_full_applies_to_every_connection(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/gw.db", synchronous="full")
    await store.create_schema()
    try:
        async with store.engine.connect() as conn:
            reader = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
        writer = await store.run(lambda conn: conn.exec_driver_sql("PRAGMA synchronous").scalar())
        assert reader == writer == 2  # FULL
    finally:
        await store.close()
    default = Store(f"sqlite:///{tmp_path}/other.db")
    try:
        async with default.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 1  # NORMAL
    finally:
        await default.close()


def test_serve_without_a_key_for_postgres_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("store: postgresql://postgres@127.0.0.1:5432/test\nintegrations: []\n")
    monkeypatch.delenv(ENV_VAR, raising=False)
    missing = CliRunner().invoke(cli_app, ["serve", "--config", str(config)])
    monkeypatch.setenv(ENV_VAR, "not-a-key-at-all")
    malformed = CliRunner().invoke(cli_app, ["serve", "--config", str(config)])
    assert missing.exit_code == 2 and f"set {ENV_VAR}" in missing.output
    assert "Traceback" not in missing.output
    assert malformed.exit_code == 2 and "key 1 of 1 is not a Fernet key" in malformed.output
    assert "not-a" not in malformed.output


def test_doctor_warns_about_readable_secret_files(tmp_path: Path, umask_022: None) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(f"store: sqlite:///{tmp_path}/gw.db\nintegrations: []\n")  # 0644: umask 022
    result = CliRunner().invoke(cli_app, ["doctor", "--config", str(config), "--json"])
    warnings = [c["detail"] for c in json.loads(result.output)["checks"] if c["check"] == "file permissions"]
    assert warnings == [f"{config} is readable by others (644) and may hold secrets: chmod 600 {config}"]
    config.chmod(0o600)
    again = CliRunner().invoke(cli_app, ["doctor", "--config", str(config)])
    assert "file permissions" not in again.output


def test_doctor_names_the_key_source_and_a_missing_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite = tmp_path / "lite.yaml"
    sqlite.write_text(f"store: sqlite:///{tmp_path}/gw.db\nintegrations: []\n")
    pg = tmp_path / "pg.yaml"
    pg.write_text("store: postgresql://postgres@127.0.0.1:5432/test\nintegrations: []\n")
    monkeypatch.delenv(ENV_VAR, raising=False)
    checks = {
        name: {
            c["check"]: c
            for c in json.loads(
                CliRunner().invoke(cli_app, ["doctor", "--json", "--config", str(path)]).output
            )["checks"]
        }
        for name, path in (("sqlite", sqlite), ("pg", pg))
    }
    assert (
        checks["sqlite"]["secret key"]["ok"]
        and str(tmp_path / "gw.db.key") in checks["sqlite"]["secret key"]["detail"]
    )
    assert not checks["pg"]["secret key"]["ok"] and f"set {ENV_VAR}" in checks["pg"]["secret key"]["detail"]
