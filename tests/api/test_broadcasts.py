"""``/broadcasts``: many recipients, per-recipient parameters, progress, cancellation, window rules."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from channelgate.testing.gateway import wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from tests.core.relay_peer import RelayPeer

from .conftest import Api, relay_integration, start_api

TEMPLATE = {"type": "template", "name": "order_update", "language": "en_US", "parameters": ["default"]}


async def finished(client: httpx.AsyncClient, broadcast_id: str, **counts: int) -> dict[str, Any]:
    """The broadcast once it is no longer running and its counts match ``counts``."""
    state: dict[str, Any] = {}

    async def done() -> bool:
        state.update((await client.get(f"/broadcasts/{broadcast_id}")).json())
        return state["status"] != "running" and all(state["counts"][k] == v for k, v in counts.items())

    await wait_until(done, timeout=10)
    return state


async def test_broadcast_with_per_recipient_parameters(api: Api, client: httpx.AsyncClient) -> None:
    recipients = [{"user_id": f"u{i}", "parameters": [f"order-{i}"]} for i in range(5)]
    body = {"channel": "relay", "label": "main", "recipients": recipients, "message": TEMPLATE}
    response = await client.post("/broadcasts", json=body)
    assert response.status_code == 202
    started = response.json()
    assert started["status"] == "running" and started["total"] == 5
    await api.peer.wait_for(5)
    by_user = {r["to"]: r["message"]["parameters"] for r in api.peer.received}
    assert by_user == {f"u{i}": [f"order-{i}"] for i in range(5)}
    state = await finished(client, started["id"], sent=5)
    assert state["status"] == "completed" and state["total"] == 5
    assert {r["user_id"]: r["status"] for r in state["recipients"]} == {f"u{i}": "sent" for i in range(5)}
    assert all(len(r["message_ids"]) == 1 and r["conversation_id"] for r in state["recipients"])


async def test_broadcast_to_a_conversation_filter(api: Api, client: httpx.AsyncClient) -> None:
    store = api.gw.store
    for user in ("a", "b", "c"):
        await store.conversations.for_user("relay", "main", user, "en-US")
    quiet = await store.conversations.for_user("relay", "main", "quiet", "en-US")
    active = time.time()
    for user in ("a", "b", "c"):
        conversation = await store.conversations.find("relay", "main", user)
        await store.conversations.update(conversation["id"], last_inbound_at=active)
    await store.conversations.update(quiet, last_inbound_at=active - 10 * 86400)
    body = {
        "channel": "relay",
        "label": "main",
        "filter": {"active_within": 86400},
        "message": {"type": "text", "text": "We are open on Sunday"},
    }
    started = (await client.post("/broadcasts", json=body)).json()
    assert started["total"] == 3
    await api.peer.wait_for(3)
    assert sorted(r["to"] for r in api.peer.received) == ["a", "b", "c"]
    await finished(client, started["id"], sent=3)


async def test_progress_is_paged_and_listed(api: Api, client: httpx.AsyncClient) -> None:
    recipients = [{"user_id": f"p{i}"} for i in range(7)]
    body = {
        "channel": "relay",
        "label": "main",
        "recipients": recipients,
        "message": {"type": "text", "text": "x"},
    }
    started = (await client.post("/broadcasts", json=body)).json()
    await finished(client, started["id"], sent=7)
    seen: list[str] = []
    cursor = None
    while True:
        page = (
            await client.get(
                f"/broadcasts/{started['id']}", params={"limit": 3, **({"cursor": cursor} if cursor else {})}
            )
        ).json()
        seen += [r["user_id"] for r in page["recipients"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"p{i}" for i in range(7)]
    listing = (await client.get("/broadcasts")).json()
    assert [b["id"] for b in listing["items"]] == [started["id"]]


async def test_cancel_stops_what_was_not_sent(peer: RelayPeer, tmp_path: Path) -> None:
    """At 8 sends a second, 40 recipients take five seconds: cancelling after the first send leaves most
    of them unsent (only the chunk already handed to the delivery worker goes out), and nothing more
    reaches the platform afterwards."""
    integration = relay_integration(peer.url, rate_limit=8)  # type: ignore[attr-defined]
    async with (
        start_api(peer, f"sqlite:///{tmp_path}/gw.db", integrations=[integration]) as api,
        api.client() as client,
    ):
        recipients = [{"user_id": f"c{i}"} for i in range(40)]
        body = {
            "channel": "relay",
            "label": "main",
            "recipients": recipients,
            "message": {"type": "text", "text": "sale"},
        }
        started = (await client.post("/broadcasts", json=body)).json()
        await peer.wait_for(1)
        cancelled = await client.post(f"/broadcasts/{started['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

        async def settled() -> bool:
            counts = (await client.get(f"/broadcasts/{started['id']}")).json()["counts"]
            return counts["pending"] == 0 and counts["queued"] == 0

        await wait_until(settled)
        state = (await client.get(f"/broadcasts/{started['id']}")).json()
        again = await client.post(f"/broadcasts/{started['id']}/cancel")
    counts = state["counts"]
    assert counts["sent"] + counts["cancelled"] == 40
    assert counts["cancelled"] >= 20 and counts["sent"] == len(peer.received)
    reasons = {r["reason"] for r in state["recipients"] if r["status"] == "cancelled"}
    assert reasons == {"cancelled by the API before it was sent"}
    assert again.status_code == 200 and again.json()["counts"] == counts


async def test_cancelling_a_finished_broadcast_is_409(api: Api, client: httpx.AsyncClient) -> None:
    body = {
        "channel": "relay",
        "label": "main",
        "recipients": [{"user_id": "f1"}],
        "message": {"type": "text", "text": "x"},
    }
    started = (await client.post("/broadcasts", json=body)).json()
    await finished(client, started["id"], sent=1)
    response = await client.post(f"/broadcasts/{started['id']}/cancel")
    assert response.status_code == 409 and "finished" in response.json()["error"]


async def test_broadcast_is_idempotent(api: Api, client: httpx.AsyncClient) -> None:
    body = {
        "channel": "relay",
        "label": "main",
        "recipients": [{"user_id": "i1"}, {"user_id": "i2"}],
        "message": {"type": "text", "text": "once"},
        "options": {"idempotency_key": "weekly-1"},
    }
    answers = await asyncio.gather(*[client.post("/broadcasts", json=body) for _ in range(4)])
    assert len({r.json()["id"] for r in answers}) == 1
    await api.peer.wait_for(2)
    await asyncio.sleep(0.2)
    assert len(api.peer.received) == 2


async def test_invalid_broadcasts_are_refused_with_a_reason(client: httpx.AsyncClient) -> None:
    text = {"type": "text", "text": "x"}
    params = await client.post(
        "/broadcasts",
        json={
            "channel": "relay",
            "label": "main",
            "message": text,
            "recipients": [{"user_id": "a", "parameters": [1]}],
        },
    )
    both = await client.post(
        "/broadcasts",
        json={
            "channel": "relay",
            "label": "main",
            "message": text,
            "recipients": [{"user_id": "a"}],
            "filter": {},
        },
    )
    nowhere = await client.post(
        "/broadcasts", json={"channel": "relay", "label": "gone", "message": text, "filter": {}}
    )
    missing = await client.get("/broadcasts/abc123")
    assert params.status_code == 400 and "template" in params.json()["error"]
    assert both.status_code == 400 and "recipients or filter" in both.json()["error"]
    assert nowhere.status_code == 404 and missing.status_code == 404


async def test_a_user_listed_twice_gets_the_broadcast_once(api: Api, client: httpx.AsyncClient) -> None:
    recipients = [{"user_id": "d1"}, {"user_id": "d2"}, {"user_id": "d1"}]
    body = {
        "channel": "relay",
        "label": "main",
        "recipients": recipients,
        "message": {"type": "text", "text": "x"},
    }
    started = (await client.post("/broadcasts", json=body)).json()
    assert started["total"] == 2
    await finished(client, started["id"], sent=2)
    assert sorted(r["to"] for r in api.peer.received) == ["d1", "d2"]


async def test_whatsapp_broadcast_follows_the_window_per_recipient(peer: RelayPeer, tmp_path: Path) -> None:
    """A text broadcast reaches the users inside the 24-hour window and fails, with the reason, for the
    others; a template broadcast reaches everyone with their own parameters."""
    graph = GraphSimulator(access_token="EAAG-bc", app_secret="bc-secret")
    async with serve_app(graph.app) as graph_url:
        whatsapp = {
            "channel": "whatsapp",
            "label": "shop",
            "locale": "en-US",
            "verify_token": graph.verify_token,
            "app_secret": graph.app_secret,
            "access_token": graph.access_token,
            "phone_number_id": graph.phone_number_id,
            "api_base_url": graph.api_base_url(graph_url),
        }
        async with start_api(peer, f"sqlite:///{tmp_path}/gw.db", integrations=[whatsapp]) as api:
            store = api.gw.store
            recent = await store.conversations.for_user("whatsapp", "shop", "15550001", "en-US")
            await store.conversations.update(recent, last_inbound_at=time.time() - 3600)
            async with api.client() as client:
                text = {
                    "channel": "whatsapp",
                    "label": "shop",
                    "message": {"type": "text", "text": "Hi"},
                    "recipients": [{"user_id": "15550001"}, {"user_id": "15550002"}],
                }
                started = (await client.post("/broadcasts", json=text)).json()
                state = await finished(client, started["id"], sent=1, failed=1)
                template = {
                    "channel": "whatsapp",
                    "label": "shop",
                    "message": TEMPLATE,
                    "recipients": [
                        {"user_id": "15550002", "parameters": ["B-2"]},
                        {"user_id": "15550003", "parameters": ["C-3"]},
                    ],
                }
                started = (await client.post("/broadcasts", json=template)).json()
                await finished(client, started["id"], sent=2)
    failed = next(r for r in state["recipients"] if r["status"] == "failed")
    assert failed["user_id"] == "15550002" and "window has closed" in failed["reason"]
    templates = {s.recipient: s.body["template"] for s in graph.sent if s.body.get("type") == "template"}
    assert set(templates) == {"15550002", "15550003"}
    assert templates["15550003"]["components"][0]["parameters"] == [{"type": "text", "text": "C-3"}]
