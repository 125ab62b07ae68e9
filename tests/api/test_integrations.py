"""``/integrations``: masked reads, validated creates that serve at once, live updates, read-only config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from channelgate.testing.gateway import wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from tests.core.relay_peer import SECRET, RelayPeer, deliver, event

from .conftest import Api, start_api


def relay_body(peer: RelayPeer, label: str = "kiosk", **config: Any) -> dict[str, Any]:
    return {
        "channel": "relay",
        "label": label,
        "locale": "fr-FR",
        "config": {"secret": SECRET, "send_url": f"{peer.url}/send", **config},
    }  # type: ignore[attr-defined]


async def test_config_file_integrations_are_listed_read_only_with_secrets_masked(
    client: httpx.AsyncClient,
) -> None:
    listing = (await client.get("/integrations")).json()
    assert [(i["channel"], i["label"], i["source"], i["read_only"]) for i in listing["items"]] == [
        ("relay", "main", "config", True)
    ]
    item = listing["items"][0]
    assert item["config"]["secret"] == "***" and SECRET not in str(listing)
    assert item["callback_url"].endswith("/webhooks/relay/main")
    assert item["health"] == {"status": "ok", "message": "", "insecure": {}}


async def test_config_file_integrations_cannot_change_here(client: httpx.AsyncClient) -> None:
    patch = await client.patch("/integrations/relay/main", json={"locale": "de-DE"})
    delete = await client.delete("/integrations/relay/main")
    for response in (patch, delete):
        assert response.status_code == 409
        assert "config file are read-only in the API" in response.json()["error"]


async def test_created_integration_serves_its_callback_url_at_once(
    api: Api, client: httpx.AsyncClient
) -> None:
    response = await client.post("/integrations", json=relay_body(api.peer))
    assert response.status_code == 201
    created = response.json()
    assert (created["source"], created["read_only"], created["locale"]) == ("store", False, "fr-FR")
    assert created["setup"] == {"secret": SECRET}  # the relay's setup field: what the far side signs with
    assert created["config"]["secret"] == "***"
    async with httpx.AsyncClient() as http:
        accepted = await deliver(http, created["callback_url"], event("k-1", "visitor", "bonjour"), SECRET)
    assert accepted.status_code == 200
    await api.peer.wait_for(1)
    assert api.peer.received == [{"to": "visitor", "message": {"type": "text", "text": "echo: bonjour"}}]
    assert api.bot.turns[0].label == "kiosk" and api.bot.turns[0].locale == "fr-FR"
    got = (await client.get("/integrations/relay/kiosk")).json()
    assert "setup" not in got and got["config"]["secret"] == "***"


async def test_messenger_integration_gets_a_verify_token_for_the_handshake(
    peer: RelayPeer, tmp_path: Path
) -> None:
    graph = GraphSimulator(access_token="EAAG-created", app_secret="created-secret")
    async with serve_app(graph.app) as graph_url, start_api(peer, f"sqlite:///{tmp_path}/gw.db") as api:
        body = {
            "channel": "messenger",
            "label": "shop",
            "config": {
                "app_secret": graph.app_secret,
                "page_access_token": graph.access_token,
                "api_base_url": graph.api_base_url(graph_url),
            },
        }
        async with api.client() as client:
            created = (await client.post("/integrations", json=body)).json()
        token = created["setup"]["verify_token"]
        assert len(token) >= 24 and created["config"]["verify_token"] == "***"
        assert created["config"]["page_access_token"] == "***" and graph.access_token not in str(
            created["config"]
        )
        handshake = await graph.verify(created["callback_url"], verify_token=token, challenge="31337")
        wrong = await graph.verify(created["callback_url"], verify_token="guess", challenge="31337")
        assert handshake.status_code == 200 and handshake.text == "31337"
        assert wrong.status_code == 403
        await graph.deliver(created["callback_url"], graph.messenger_text("PSID-77", "hi"))
        await wait_until(lambda: any(s.body.get("message") == {"text": "echo: hi"} for s in graph.sent))


async def test_invalid_integrations_are_refused_with_the_field(api: Api, client: httpx.AsyncClient) -> None:
    missing = await client.post(
        "/integrations", json={"channel": "relay", "label": "x", "config": {"secret": "s"}}
    )
    unknown = await client.post("/integrations", json={"channel": "pigeon", "label": "x"})
    bad_label = await client.post("/integrations", json={**relay_body(api.peer), "label": "Has Space"})
    reserved = await client.post("/integrations", json=relay_body(api.peer, label="y", channel="relay"))
    typo = await client.post("/integrations", json=relay_body(api.peer, label="z", sned_url="x"))
    duplicate = await client.post("/integrations", json=relay_body(api.peer, label="main"))
    assert missing.status_code == 400 and "send_url: is required" in missing.json()["error"]
    assert unknown.status_code == 400 and "unknown channel 'pigeon'" in unknown.json()["error"]
    assert bad_label.status_code == 400 and "label" in bad_label.json()["error"]
    assert reserved.status_code == 400 and "top level" in reserved.json()["error"]
    assert typo.status_code == 400 and "sned_url: is not a known setting" in typo.json()["error"]
    assert duplicate.status_code == 409 and "exists already" in duplicate.json()["error"]
    listing = (await client.get("/integrations")).json()
    assert [i["label"] for i in listing["items"]] == ["main"]


async def test_update_keeps_masked_secrets_and_restarts_live(api: Api, client: httpx.AsyncClient) -> None:
    created = (await client.post("/integrations", json=relay_body(api.peer))).json()
    masked = {**created["config"], "rate_limit": 5}  # what a client read, edited and sent back
    response = await client.patch("/integrations/relay/kiosk", json={"config": masked, "locale": "de-DE"})
    assert response.status_code == 200
    assert response.json()["config"]["rate_limit"] == 5 and response.json()["locale"] == "de-DE"
    assert api.gw.gateway.channel("relay", "kiosk").config.secret.get_secret_value() == SECRET
    async with httpx.AsyncClient() as http:
        ok = await deliver(http, created["callback_url"], event("k-2", "v2", "hallo"), SECRET)
        rotated = await client.patch("/integrations/relay/kiosk", json={"config": {"secret": "new-secret"}})
        old = await deliver(http, created["callback_url"], event("k-3", "v2", "again"), SECRET)
    assert ok.status_code == 200 and rotated.status_code == 200 and old.status_code == 403
    invalid = await client.patch("/integrations/relay/kiosk", json={"config": {"send_url": None}})
    assert invalid.status_code == 400 and "send_url: is required" in invalid.json()["error"]
    assert api.gw.gateway.channel("relay", "kiosk").config.secret.get_secret_value() == "new-secret"


async def test_deleted_integration_stops_serving(api: Api, client: httpx.AsyncClient) -> None:
    created = (await client.post("/integrations", json=relay_body(api.peer))).json()
    deleted = await client.delete("/integrations/relay/kiosk")
    assert deleted.status_code == 204
    async with httpx.AsyncClient() as http:
        webhook = await deliver(http, created["callback_url"], event("k-9", "v", "hi"), SECRET)
    assert webhook.status_code == 404
    assert (await client.get("/integrations/relay/kiosk")).status_code == 404
    assert (await client.delete("/integrations/relay/kiosk")).status_code == 404


async def test_created_integrations_start_again_after_a_restart(peer: RelayPeer, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/gw.db"
    async with start_api(peer, store) as api, api.client() as client:
        assert (await client.post("/integrations", json=relay_body(peer))).status_code == 201
    async with start_api(peer, store) as api, api.client() as client:
        listing = (await client.get("/integrations")).json()
        assert [(i["label"], i["source"]) for i in listing["items"]] == [
            ("kiosk", "store"),
            ("main", "config"),
        ]
        async with httpx.AsyncClient() as http:
            webhook = await deliver(
                http, api.gw.webhook_url("relay", "kiosk"), event("r-1", "v", "back"), SECRET
            )
        assert webhook.status_code == 200
        await peer.wait_for(1)


async def test_installed_channels_list_their_settings(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/channels")).json()
    by_name = {c["name"]: c for c in listing["items"]}
    messenger = by_name["messenger"]
    assert {"verify_token", "page_access_token"} <= set(messenger["required"])
    assert "page_access_token" in messenger["secrets"] and messenger["setup_fields"] == ["verify_token"]
    assert "api_base_url" in messenger["config_schema"]["properties"]
    assert by_name["relay"]["required"] == ["secret", "send_url"]


async def test_an_integration_in_a_locale_the_bot_does_not_speak_is_refused(
    api: Api, client: httpx.AsyncClient
) -> None:
    response = await client.post("/integrations", json={**relay_body(api.peer), "locale": "ko-KR"})
    assert response.status_code == 400
    assert "ko-KR" in response.json()["error"] and "bot's locales" in response.json()["error"]
