"""An integration's ``handoff`` key through the admin API: the desk URL follows the endpoints' rule, the
desk's secrets are sealed and masked (and kept by a PATCH that sends the mask back), the create's setup
gives the Chatwoot webhook URL, and the hand-off works at once and after a restart."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from channelgate.cli import app
from channelgate.store import admin
from channelgate.store.admin_tables import stored_integrations
from channelgate.testing.chatwoot import ChatwootSimulator
from channelgate.testing.gateway import RunningGateway, run_gateway
from channelgate.testing.graph import GraphSimulator

from .conftest import DeskBot, holder, say, user_gets


def loopback(url: str) -> str:
    return url.removeprefix("http://").removeprefix("https://").split("/")[0]


@asynccontextmanager
async def api_gateway(
    store: str, allowed: list[str], bot: DeskBot | None = None
) -> AsyncIterator[tuple[RunningGateway, httpx.AsyncClient]]:
    """A gateway without integrations of its own, its API open to a full key."""
    config: dict[str, Any] = {
        "store": store,
        "integrations": [],
        "pipeline": {"poll_interval": 0.05, "max_backoff": 0.5},
        "admin_api": {"allowed_hosts": allowed},
    }
    async with run_gateway(config, bot=bot or DeskBot()) as gw:
        _, key = await admin.create_key(gw.store, "tests", "full")
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=f"{gw.url}/api/v1", headers=headers, timeout=10) as client:
            yield gw, client


def whatsapp_body(graph: GraphSimulator, graph_url: str, handoff: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "whatsapp",
        "label": "shop",
        "config": {
            "verify_token": graph.verify_token,
            "app_secret": graph.app_secret,
            "api_base_url": graph_url,
            "access_token": graph.access_token,
            "phone_number_id": graph.phone_number_id,
        },
    }
    if handoff is not None:
        body["handoff"] = handoff
    return body


async def test_created_integration_hands_off_to_its_desk_at_once_and_after_a_restart(
    graph: GraphSimulator,
    graph_url: str,
    chatwoot: ChatwootSimulator,
    chatwoot_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = f"sqlite:///{tmp_path}/gw.db"
    token = chatwoot.api_access_token
    bot = DeskBot()
    async with api_gateway(store, ["127.0.0.1"], bot) as (gw, client):
        body = whatsapp_body(graph, graph_url, {"chatwoot": chatwoot.settings(chatwoot_url)})
        created = await client.post("/integrations", json=body)
        assert created.status_code == 201, created.text
        answer = created.json()
        webhook = answer["setup"]["chatwoot_webhook_url"]
        assert webhook.startswith(f"{gw.url}/handoff/chatwoot/whatsapp/shop/")
        assert answer["handoff"]["chatwoot"]["api_access_token"] == "***"
        assert answer["handoff"]["chatwoot"]["url"] == chatwoot_url
        for read in (await client.get("/integrations/whatsapp/shop"), await client.get("/integrations")):
            assert token not in read.text and webhook not in read.text
        async with gw.store.engine.connect() as conn:
            stored = (await conn.execute(select(stored_integrations.c.config))).scalar_one()
        assert token not in str(stored)  # sealed with the rest of the settings

        chatwoot.webhook_url = webhook
        await say(gw, graph, "human")
        await user_gets(graph, "A person will answer you here shortly.")
        await chatwoot.wait_for(lambda: len(chatwoot.conversations) == 1)
        assert await holder(gw) == "agent"
        desk = chatwoot.only_conversation()
        assert (await chatwoot.agent_reply(desk.id, "Ann here")).status_code == 200
        await user_gets(graph, "Ann here")
        assert (await chatwoot.resolve(desk.id)).status_code == 200
        await user_gets(graph, "Welcome back")

    async with api_gateway(store, ["127.0.0.1"]) as (gw, client):  # loaded from the store
        assert gw.gateway.handoffs.chatwoot("whatsapp", "shop") is not None
        await say(gw, graph, "agent")
        await chatwoot.wait_for(lambda: len(chatwoot.conversations) == 2)
        assert await holder(gw) == "agent"
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("channelgate"))
    assert "shop" in ours and token not in ours and webhook not in ours


async def test_desk_url_must_be_an_allowed_host(
    graph: GraphSimulator, graph_url: str, chatwoot: ChatwootSimulator, tmp_path: Path
) -> None:
    async with api_gateway(f"sqlite:///{tmp_path}/gw.db", [loopback(graph_url)]) as (gw, client):
        for url in ("https://chatwoot.example.com", "http://127.0.0.1:1"):
            desk = {**chatwoot.settings(url)}
            refused = await client.post(
                "/integrations", json=whatsapp_body(graph, graph_url, {"chatwoot": desk})
            )
            assert refused.status_code == 400
            error = refused.json()["error"]
            assert error.startswith("handoff.chatwoot.url:") and "admin_api.allowed_hosts" in error
            assert chatwoot.api_access_token not in error
        assert (await client.get("/integrations")).json()["items"] == []
        assert await admin.stored_integration(gw.store, "whatsapp", "shop") is None


async def test_patch_keeps_masked_secrets_replaces_and_removes_the_desk(
    graph: GraphSimulator, graph_url: str, chatwoot: ChatwootSimulator, chatwoot_url: str, tmp_path: Path
) -> None:
    chatwoot.webhook_secret = "signing-secret"
    async with api_gateway(f"sqlite:///{tmp_path}/gw.db", ["127.0.0.1"]) as (gw, client):
        body = whatsapp_body(graph, graph_url, {"chatwoot": chatwoot.settings(chatwoot_url)})
        assert (await client.post("/integrations", json=body)).status_code == 201
        read = (await client.get("/integrations/whatsapp/shop")).json()
        assert read["handoff"]["chatwoot"]["webhook_secret"] == "***"

        handoff = {**read["handoff"], "user_request": False}  # sent back as read: *** keeps the secrets
        patched = await client.patch("/integrations/whatsapp/shop", json={"handoff": handoff})
        assert patched.status_code == 200, patched.text
        assert patched.json()["setup"]["chatwoot_webhook_url"].startswith(gw.url)
        live = gw.gateway.handoffs.chatwoot("whatsapp", "shop")
        assert live is not None and live.api_access_token.get_secret_value() == chatwoot.api_access_token
        assert live.webhook_secret is not None and live.webhook_secret.get_secret_value() == "signing-secret"
        assert gw.gateway.integrations[("whatsapp", "shop")].handoff.user_request is False  # type: ignore[union-attr]

        moved = {"chatwoot": {**read["handoff"]["chatwoot"], "url": "https://desk.example.com"}}
        refused = await client.patch("/integrations/whatsapp/shop", json={"handoff": moved})
        assert refused.status_code == 400 and refused.json()["error"].startswith("handoff.chatwoot.url:")

        in_config = await client.patch("/integrations/whatsapp/shop", json={"config": {"handoff": {}}})
        assert in_config.status_code == 400 and "top level" in in_config.json()["error"]

        removed = await client.patch("/integrations/whatsapp/shop", json={"handoff": None})
        assert removed.status_code == 200 and removed.json()["handoff"] is None
        assert gw.gateway.handoffs.chatwoot("whatsapp", "shop") is None

        masked = await client.patch("/integrations/whatsapp/shop", json={"handoff": moved})
        assert masked.status_code == 400
        assert "handoff.chatwoot.api_access_token: *** keeps a stored secret" in masked.json()["error"]


async def test_stored_desk_on_a_host_no_longer_allowed_does_not_start(
    graph: GraphSimulator,
    graph_url: str,
    chatwoot: ChatwootSimulator,
    chatwoot_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = f"sqlite:///{tmp_path}/gw.db"
    async with api_gateway(store, ["127.0.0.1"]) as (_, client):
        body = whatsapp_body(graph, graph_url, {"chatwoot": chatwoot.settings(chatwoot_url)})
        assert (await client.post("/integrations", json=body)).status_code == 201
    caplog.set_level(logging.ERROR)
    narrowed = [loopback(graph_url)]  # the Graph simulator still, the desk's port no more
    async with api_gateway(store, narrowed) as (gw, _):
        assert ("whatsapp", "shop") not in gw.gateway.integrations
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("channelgate"))
    assert "handoff.chatwoot.url:" in ours and chatwoot.api_access_token not in ours


async def test_channels_list_shows_the_desk_of_integrations_created_through_the_api(
    graph: GraphSimulator, graph_url: str, chatwoot: ChatwootSimulator, chatwoot_url: str, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path}/gw.db"
    async with api_gateway(store, ["127.0.0.1"]) as (gw, client):
        body = whatsapp_body(graph, graph_url, {"chatwoot": chatwoot.settings(chatwoot_url)})
        created = (await client.post("/integrations", json=body)).json()
        public_url = gw.url
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"public_url: {public_url}\nstore: {store}\nadmin_api:\n  allowed_hosts: ['127.0.0.1']\n"
        "integrations:\n  - channel: webchat\n    label: site\n"
    )
    runner = CliRunner()
    listed = await asyncio.to_thread(
        runner.invoke, app, ["channels", "list", "--json", "--config", str(path)]
    )
    assert listed.exit_code == 0, listed.output
    rows = {f"{r['channel']}/{r['label']}": r for r in json.loads(listed.stdout)}
    assert "source" not in rows["webchat/site"]
    made = rows["whatsapp/shop"]
    assert made["source"] == "api"
    assert made["chatwoot_webhook_url"] == created["setup"]["chatwoot_webhook_url"]
    assert made["verify_token"] == graph.verify_token
    text = await asyncio.to_thread(runner.invoke, app, ["channels", "list", "--config", str(path)])
    assert "whatsapp/shop  (en-US)  [created through the API]" in text.stdout
    assert f"chatwoot_webhook_url: {made['chatwoot_webhook_url']}" in text.stdout
    assert chatwoot.api_access_token not in listed.output + text.output
