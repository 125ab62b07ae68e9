"""``POST /conversations/{id}/events``: an event becomes a bot turn whose reply goes out proactively."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from channelgate.testing.gateway import wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from channelgate.turns import EventInput
from tests.core.relay_peer import RelayPeer

from .conftest import Api, relay_integration, start_api

SHIPPED = {"name": "order_shipped", "data": {"order": "A-17", "carrier": "DHL"}}


async def conversation_of(api: Api, user: str) -> str:
    return await api.gw.store.conversations.for_user("relay", "main", user, "en-US")


async def test_event_reaches_the_bot_and_its_reply_is_sent(api: Api, client: httpx.AsyncClient) -> None:
    conversation = await conversation_of(api, "u-ev")
    response = await client.post(f"/conversations/{conversation}/events", json=SHIPPED)
    assert response.status_code == 202
    assert response.json()["conversation_id"] == conversation
    await api.peer.wait_for(1)
    assert api.peer.received == [
        {"to": "u-ev", "message": {"type": "text", "text": "Your order A-17 shipped"}}
    ]
    turn = api.bot.turns[0]
    assert turn.input == EventInput(name="order_shipped", data={"order": "A-17", "carrier": "DHL"})
    assert turn.id == response.json()["turn_id"] and turn.user.id == "u-ev"


async def test_event_and_its_reply_show_in_the_transcript(api: Api, client: httpx.AsyncClient) -> None:
    conversation = await conversation_of(api, "u-tr")
    await client.post(f"/conversations/{conversation}/events", json=SHIPPED)
    await api.peer.wait_for(1)

    async def answered() -> bool:
        entries = (await client.get(f"/conversations/{conversation}")).json()["transcript"]
        return [e["direction"] for e in entries] == ["in", "out"] and entries[1]["status"] == "sent"

    await wait_until(answered)
    entries = (await client.get(f"/conversations/{conversation}")).json()["transcript"]
    assert entries[0]["kind"] == "event" and entries[0]["status"] == "done"
    assert entries[0]["input"] == {"type": "event", **SHIPPED}


async def test_repeated_event_with_one_idempotency_key_is_one_turn(
    api: Api, client: httpx.AsyncClient
) -> None:
    conversation = await conversation_of(api, "u-once")
    body = {**SHIPPED, "idempotency_key": "A-17-shipped"}
    answers = await asyncio.gather(
        *[client.post(f"/conversations/{conversation}/events", json=body) for _ in range(5)]
    )
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["turn_id"] for r in answers}) == 1
    changed = await client.post(
        f"/conversations/{conversation}/events", json={**body, "data": {"order": "B-2"}}
    )
    assert changed.status_code == 409
    await api.peer.wait_for(1)
    await asyncio.sleep(0.2)
    assert len(api.bot.turns) == 1 and len(api.peer.received) == 1


async def test_event_for_an_unknown_conversation_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/conversations/0123abcd/events", json=SHIPPED)
    assert response.status_code == 404 and "0123abcd" in response.json()["error"]


async def test_event_needs_a_name(api: Api, client: httpx.AsyncClient) -> None:
    conversation = await conversation_of(api, "u-noname")
    response = await client.post(f"/conversations/{conversation}/events", json={"data": {}})
    assert response.status_code == 400 and "name" in response.json()["error"]


async def test_event_reply_outside_messengers_window_fails_with_the_reason(
    peer: RelayPeer, tmp_path: Path
) -> None:
    """The reply to an event is proactive: outside 24 hours Messenger needs a tag the bot did not give."""
    graph = GraphSimulator(access_token="EAAG-ev", app_secret="ev-secret")
    async with serve_app(graph.app) as graph_url:
        messenger: dict[str, Any] = {
            "channel": "messenger",
            "label": "shop",
            "locale": "en-US",
            "verify_token": graph.verify_token,
            "app_secret": graph.app_secret,
            "page_access_token": graph.access_token,
            "api_base_url": graph.api_base_url(graph_url),
        }
        integrations = [relay_integration(peer.url), messenger]  # type: ignore[attr-defined]
        async with start_api(peer, f"sqlite:///{tmp_path}/gw.db", integrations=integrations) as api:
            store = api.gw.store
            conversation = await store.conversations.for_user("messenger", "shop", "PSID-9", "en-US")
            await store.conversations.update(conversation, last_inbound_at=time.time() - 40 * 3600)
            async with api.client() as client:
                response = await client.post(f"/conversations/{conversation}/events", json=SHIPPED)
                assert response.status_code == 202

                async def replied() -> bool:
                    entries = (await client.get(f"/conversations/{conversation}")).json()["transcript"]
                    return any(e["direction"] == "out" for e in entries)

                await wait_until(replied)
                entries = (await client.get(f"/conversations/{conversation}")).json()["transcript"]
    out = [e for e in entries if e["direction"] == "out"]
    assert out[0]["status"] == "failed" and "24-hour window has closed" in out[0]["reason"]
    assert graph.sent == []
