"""The admin API on PostgreSQL: the same queries as on SQLite, and the races SQLite's single writer hides
(concurrent first uses of one idempotency key, cancels racing the delivery worker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from channelgate.store import admin
from channelgate.testing.gateway import wait_until
from tests.core.relay_peer import RelayPeer, deliver, event

from .conftest import Api, relay_integration, start_api

pytestmark = pytest.mark.postgres

TEXT = [{"type": "text", "text": "Your order shipped"}]


@pytest.fixture
async def pg_api(peer: RelayPeer, pg_url: str) -> AsyncIterator[Api]:
    async with start_api(peer, pg_url) as running:
        yield running


async def test_concurrent_first_uses_of_one_key_send_once(pg_api: Api) -> None:
    body = {
        "channel": "relay",
        "label": "main",
        "user_id": "pg-1",
        "messages": TEXT,
        "options": {"idempotency_key": "pg-race"},
    }
    async with pg_api.client() as client:
        answers = await asyncio.gather(*[client.post("/messages", json=body) for _ in range(12)])
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["request_id"] for r in answers}) == 1
    await pg_api.peer.wait_for(1)
    await asyncio.sleep(0.2)
    assert len(pg_api.peer.received) == 1


async def test_events_and_transcripts(pg_api: Api) -> None:
    conversation = await pg_api.gw.store.conversations.for_user("relay", "main", "pg-ev", "en-US")
    body = {"name": "order_shipped", "data": {"order": "P-1"}, "idempotency_key": "pg-ev-1"}
    async with pg_api.client() as client:
        answers = await asyncio.gather(
            *[client.post(f"/conversations/{conversation}/events", json=body) for _ in range(6)]
        )
        assert len({r.json()["turn_id"] for r in answers}) == 1
        await pg_api.peer.wait_for(1)

        async def answered() -> bool:
            entries = (await client.get(f"/conversations/{conversation}", params={"limit": 1})).json()
            return entries["next_cursor"] is not None

        await wait_until(answered)
        first = (await client.get(f"/conversations/{conversation}", params={"limit": 1})).json()
        second = (
            await client.get(
                f"/conversations/{conversation}", params={"limit": 1, "cursor": first["next_cursor"]}
            )
        ).json()
    assert first["transcript"][0]["direction"] == "in" and second["transcript"][0]["direction"] == "out"
    assert pg_api.peer.texts() == ["Your order P-1 shipped"]


async def test_search_escapes_like_wildcards(pg_api: Api) -> None:
    store = pg_api.gw.store
    for user in ("ann_1", "annx1", "bob%"):
        await store.conversations.for_user("relay", "main", user, "en-US")
    async with pg_api.client() as client:
        underscore = (await client.get("/conversations", params={"q": "ann_"})).json()["items"]
        percent = (await client.get("/conversations", params={"q": "%"})).json()["items"]
        everyone = (await client.get("/conversations", params={"limit": 2})).json()
        rest = (
            await client.get("/conversations", params={"limit": 2, "cursor": everyone["next_cursor"]})
        ).json()
    assert [c["user_id"] for c in underscore] == ["ann_1"]
    assert [c["user_id"] for c in percent] == ["bob%"]
    assert len({c["id"] for c in everyone["items"] + rest["items"]}) == 3


async def test_broadcast_cancel_and_progress(peer: RelayPeer, pg_url: str) -> None:
    integration = relay_integration(peer.url, rate_limit=8)  # type: ignore[attr-defined]
    async with start_api(peer, pg_url, integrations=[integration]) as api, api.client() as client:
        recipients = [{"user_id": f"pg-c{i}"} for i in range(40)]
        body = {
            "channel": "relay",
            "label": "main",
            "recipients": recipients,
            "message": {"type": "text", "text": "sale"},
        }
        started = (await client.post("/broadcasts", json=body)).json()
        await peer.wait_for(1)
        assert (await client.post(f"/broadcasts/{started['id']}/cancel")).status_code == 200

        async def settled() -> bool:
            counts = (await client.get(f"/broadcasts/{started['id']}")).json()["counts"]
            return counts["pending"] == 0 and counts["queued"] == 0

        await wait_until(settled)
        counts = (await client.get(f"/broadcasts/{started['id']}")).json()["counts"]
    assert counts["sent"] + counts["cancelled"] == 40 and counts["cancelled"] >= 20
    assert counts["sent"] == len(peer.received)


async def test_dead_letters_keys_and_stored_integrations(peer: RelayPeer, pg_url: str) -> None:
    async with start_api(peer, pg_url) as api, api.client() as client:
        peer.fail_next(503, times=1000)
        sent = (
            await client.post(
                "/messages", json={"channel": "relay", "label": "main", "user_id": "pg-d", "messages": TEXT}
            )
        ).json()

        async def dead() -> bool:
            return bool((await client.get("/dead-letters")).json()["items"])

        await wait_until(dead, timeout=10)
        peer.failures.clear()
        replay = await client.post(f"/dead-letters/{sent['message_ids'][0]}/replay")
        assert replay.status_code == 202
        await peer.wait_for(1)
        created = await client.post(
            "/integrations",
            json={
                "channel": "relay",
                "label": "pg-kiosk",
                "config": {"secret": "s", "send_url": f"{peer.url}/send"},
            },
        )  # type: ignore[attr-defined]
        assert created.status_code == 201
        revoked = await admin.revoke_key(api.gw.store, "dashboard")
        assert [k.name for k in revoked] == ["dashboard"]
    async with start_api(peer, pg_url) as api, api.client() as client:
        listing: dict[str, Any] = (await client.get("/integrations")).json()
        assert ("pg-kiosk", "store") in [(i["label"], i["source"]) for i in listing["items"]]
        async with httpx.AsyncClient() as http:
            webhook = await deliver(http, api.gw.webhook_url("relay", "pg-kiosk"), event("k", "v", "hi"), "s")
        assert webhook.status_code == 200
