"""``channelgate.Client`` / ``AsyncClient`` and the CLI commands (send, broadcast, conversations, keys)
against a running gateway. The sync client and the CLI block, so they run in a thread while the gateway
serves."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import channelgate
from channelgate.api.cli import read_recipients, register
from channelgate.client import ApiError, AsyncClient, Client
from channelgate.testing.gateway import wait_until
from tests.core.relay_peer import RelayPeer

from .conftest import Api, start_api


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli(), list(args), env=env)


async def test_client_is_exported_lazily_from_the_package() -> None:
    assert channelgate.Client is Client and channelgate.AsyncClient is AsyncClient


async def test_sync_client_sends_and_reads_status(api: Api) -> None:
    def work() -> dict[str, Any]:
        with Client(api.gw.url, api.full_key) as client:
            sent = client.send(
                channel="relay",
                label="main",
                user_id="c-1",
                text="Your order shipped",
                idempotency_key="order-1",
            )
            again = client.send(
                channel="relay",
                label="main",
                user_id="c-1",
                text="Your order shipped",
                idempotency_key="order-1",
            )
            assert again == sent
            with pytest.raises(ApiError) as missing:
                client.message(987654)
            assert missing.value.status == 404
            return {
                "sent": sent,
                "conversations": client.conversations(user_id="c-1"),
                "integrations": client.integrations(),
            }

    result = await asyncio.to_thread(work)
    await api.peer.wait_for(1)
    assert api.peer.texts() == ["Your order shipped"]
    assert result["conversations"]["items"][0]["id"] == result["sent"]["conversation_id"]
    assert result["integrations"]["items"][0]["label"] == "main"


async def test_async_client_covers_broadcasts_events_and_errors(api: Api) -> None:
    async with AsyncClient(f"{api.gw.url}/api/v1", api.full_key) as client:
        started = await client.broadcast(
            channel="relay",
            label="main",
            message={"type": "text", "text": "hey"},
            recipients=["a1", {"user_id": "a2"}],
        )
        await api.peer.wait_for(2)

        async def done() -> bool:
            return (await client.broadcast_status(started["id"]))["status"] == "completed"

        await wait_until(done)
        conversation = (await client.conversations(user_id="a1"))["items"][0]["id"]
        turn = await client.send_event(conversation, "order_shipped", {"order": "Z-9"})
        await api.peer.wait_for(3)
        transcript = await client.conversation(conversation)
        with pytest.raises(ApiError) as refused:
            await client.replay(123456)
    assert turn["conversation_id"] == conversation
    assert "Your order Z-9 shipped" in api.peer.texts("a1")
    assert [e["direction"] for e in transcript["transcript"]][:2] == ["out", "in"]
    assert refused.value.status == 404 and "123456" in refused.value.reason


async def test_read_only_key_gets_a_clear_error_from_the_client(api: Api) -> None:
    async with AsyncClient(api.gw.url, api.read_key) as client:
        assert (await client.integrations())["items"]
        with pytest.raises(ApiError) as denied:
            await client.send(channel="relay", label="main", user_id="x", text="no")
    assert denied.value.status == 403 and "read-only" in denied.value.reason


# --- CLI --------------------------------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "channelgate.yaml"
    path.write_text(f"store: sqlite:///{tmp_path}/gw.db\nintegrations: []\n", encoding="utf-8")
    return path


def test_keys_create_list_and_revoke_work_on_the_store(config_file: Path) -> None:
    created = run("keys", "create", "--name", "shop-backend", "--config", str(config_file), "--json")
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)
    assert key["key"].startswith("cg_") and key["scope"] == "full" and key["name"] == "shop-backend"
    read = run("keys", "create", "--name", "dashboard", "--read-only", "--config", str(config_file))
    assert read.exit_code == 0 and "read-only" in read.output and "not shown again" in read.output
    listed = run("keys", "list", "--config", str(config_file), "--json")
    rows = json.loads(listed.output)
    assert [(r["name"], r["scope"], r["revoked_at"]) for r in rows] == [
        ("shop-backend", "full", None),
        ("dashboard", "read", None),
    ]
    assert key["key"] not in listed.output
    revoked = run("keys", "revoke", key["id"], "--config", str(config_file))
    assert revoked.exit_code == 0 and f"revoked {key['id']}" in revoked.output
    gone = run("keys", "revoke", key["id"], "--config", str(config_file))
    assert gone.exit_code == 2 and "no live key" in gone.output


async def test_cli_send_conversations_and_broadcast_against_a_gateway(
    peer: RelayPeer, tmp_path: Path, config_file: Path
) -> None:
    async with start_api(peer, f"sqlite:///{tmp_path}/gw.db") as api:
        created = await asyncio.to_thread(
            run, "keys", "create", "--name", "cli", "--config", str(config_file), "--json"
        )
        env = {"CHANNELGATE_API_KEY": json.loads(created.output)["key"], "CHANNELGATE_URL": api.gw.url}
        message_file = tmp_path / "card.json"
        message_file.write_text(json.dumps({"type": "card", "title": "Order A-17", "description": "Shipped"}))
        sent = await asyncio.to_thread(
            run,
            "send",
            "--channel",
            "relay",
            "--label",
            "main",
            "--user",
            "PSID-1",
            "--text",
            "Your order shipped",
            "--message-file",
            str(message_file),
            "--idempotency-key",
            "cli-1",
            "--json",
            env=env,
        )
        assert sent.exit_code == 0, sent.output
        answer = json.loads(sent.output)
        await peer.wait_for(2)
        assert peer.texts("PSID-1") == ["Your order shipped", "card"]
        listed = await asyncio.to_thread(run, "conversations", "list", "--user", "PSID-1", env=env)
        assert answer["conversation_id"] in listed.output
        shown = await asyncio.to_thread(run, "conversations", "show", answer["conversation_id"], env=env)
        assert shown.exit_code == 0 and "relay/main user PSID-1" in shown.output
        recipients = tmp_path / "recipients.csv"
        recipients.write_text("# user, order\nb1,A-1\nb2,A-2\n")
        started = await asyncio.to_thread(
            run,
            "broadcast",
            "send",
            "--channel",
            "relay",
            "--label",
            "main",
            "--recipients-file",
            str(recipients),
            "--template",
            "order_update",
            "--wait",
            "--json",
            env=env,
        )
        assert started.exit_code == 0, started.output
        status = json.loads(started.output)
        assert status["status"] == "completed" and status["total"] == 2
        await peer.wait_for(4)
        params = {
            r["to"]: r["message"]["parameters"] for r in peer.received if r["message"]["type"] == "template"
        }
        assert params == {"b1": ["A-1"], "b2": ["A-2"]}
        refused = await asyncio.to_thread(
            run, "send", "--channel", "relay", "--label", "nope", "--user", "x", "--text", "hi", env=env
        )
        assert refused.exit_code == 2 and "404 no integration relay/nope" in refused.output
        _ = api


def test_cli_send_without_a_key_says_how_to_get_one() -> None:
    result = run(
        "send",
        "--channel",
        "relay",
        "--label",
        "main",
        "--user",
        "u",
        "--text",
        "hi",
        env={"CHANNELGATE_API_KEY": ""},
    )
    assert result.exit_code == 2 and "channelgate keys create" in result.output


def test_recipient_files_in_json_and_csv(tmp_path: Path) -> None:
    as_json = tmp_path / "r.json"
    as_json.write_text(json.dumps(["u1", {"user_id": "u2", "parameters": ["x"]}]))
    as_csv = tmp_path / "r.csv"
    as_csv.write_text("u1\nu2, x ,y\n\n")
    assert read_recipients(as_json) == [{"user_id": "u1"}, {"user_id": "u2", "parameters": ["x"]}]
    assert read_recipients(as_csv) == [{"user_id": "u1"}, {"user_id": "u2", "parameters": ["x", "y"]}]
