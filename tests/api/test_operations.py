"""Dead letters (list and replay) and media served to bots with the integration's credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from channelgate.testing.gateway import wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from tests.core.relay_peer import RelayPeer

from .conftest import Api, relay_integration, start_api

SEND = {
    "channel": "relay",
    "label": "main",
    "user_id": "u-dead",
    "messages": [{"type": "text", "text": "late"}],
}


async def dead_letter(api: Api, client: httpx.AsyncClient) -> int:
    """A message still failing after its retry budget (retry_budget: 1 s in the test config); the peer
    then heals."""
    api.peer.fail_next(503, times=1000)
    message_id: int = (await client.post("/messages", json=SEND)).json()["message_ids"][0]

    async def dead() -> bool:
        return bool((await client.get(f"/messages/{message_id}")).json()["dead_letter"])

    await wait_until(dead, timeout=10)
    api.peer.failures.clear()
    return message_id


async def test_dead_letter_is_listed_with_its_reason_and_replayed(
    api: Api, client: httpx.AsyncClient
) -> None:
    message_id = await dead_letter(api, client)
    status = (await client.get(f"/messages/{message_id}")).json()
    # tried for the whole budget (the count depends on the backoff's jitter), with the platform's reason
    assert status["status"] == "failed" and status["attempts"] >= 2
    assert status["reason"].startswith("relay answered 503 (still failing after the retry budget")
    listing = (await client.get("/dead-letters")).json()
    assert [d["id"] for d in listing["items"]] == [message_id]
    item = listing["items"][0]
    assert (item["channel"], item["label"]) == ("relay", "main")
    assert item["reason"].startswith("relay answered 503")
    assert item["body"]["message"] == {"type": "text", "text": "late"}
    replay = await client.post(f"/dead-letters/{message_id}/replay")
    assert replay.status_code == 202 and replay.json()["status"] == "queued"
    await api.peer.wait_for(1)
    assert api.peer.texts() == ["late"]

    async def sent() -> bool:
        return (await client.get(f"/messages/{message_id}")).json()["status"] == "sent"

    await wait_until(sent)
    assert (await client.get("/dead-letters")).json()["items"] == []
    again = await client.post(f"/dead-letters/{message_id}/replay")
    assert again.status_code == 409 and "not a dead letter" in again.json()["error"]


async def test_dead_letters_filter_and_page(api: Api, client: httpx.AsyncClient) -> None:
    first = await dead_letter(api, client)
    second = await dead_letter(api, client)
    page = (await client.get("/dead-letters", params={"limit": 1})).json()
    rest = (await client.get("/dead-letters", params={"limit": 1, "cursor": page["next_cursor"]})).json()
    other = (await client.get("/dead-letters", params={"channel": "whatsapp"})).json()
    assert [d["id"] for d in page["items"] + rest["items"]] == [first, second]
    assert other["items"] == []


async def test_replaying_an_unknown_message_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/dead-letters/424242/replay")
    assert response.status_code == 404


# --- media ------------------------------------------------------------------------------------------------


@pytest.fixture
async def whatsapp(peer: RelayPeer, tmp_path: Path) -> AsyncIterator[tuple[Api, GraphSimulator]]:
    graph = GraphSimulator(access_token="EAAG-media-secret-token", app_secret="media-secret")
    async with serve_app(graph.app) as graph_url:
        integration = {
            "channel": "whatsapp",
            "label": "shop",
            "locale": "en-US",
            "verify_token": "vt",
            "app_secret": graph.app_secret,
            "access_token": graph.access_token,
            "phone_number_id": graph.phone_number_id,
            "api_base_url": graph.api_base_url(graph_url),
        }
        integrations = [relay_integration(peer.url), integration]  # type: ignore[attr-defined]
        async with start_api(peer, f"sqlite:///{tmp_path}/gw.db", integrations=integrations) as api:
            yield api, graph


async def test_media_is_streamed_without_the_platform_token(whatsapp: tuple[Api, GraphSimulator]) -> None:
    api, graph = whatsapp
    graph.add_media("1234567890", b"\xff\xd8\xff\xe0 a jpeg", "image/jpeg")
    async with api.client(api.read_key) as client:
        response = await client.get("/media/whatsapp/shop/1234567890")
    assert response.status_code == 200
    assert response.content == b"\xff\xd8\xff\xe0 a jpeg"
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == "attachment"
    assert (
        graph.access_token not in str(response.headers)
        and graph.access_token.encode() not in response.content
    )


async def test_unknown_media_and_channels_without_media_are_404(whatsapp: tuple[Api, GraphSimulator]) -> None:
    api, _ = whatsapp
    async with api.client() as client:
        unknown = await client.get("/media/whatsapp/shop/999999")
        relay = await client.get("/media/relay/main/abc")
        nowhere = await client.get("/media/whatsapp/other/abc")
    assert unknown.status_code == 404 and "media 999999 is not available" in unknown.json()["error"]
    assert relay.status_code == 404 and "does not serve media" in relay.json()["error"]
    assert nowhere.status_code == 404
