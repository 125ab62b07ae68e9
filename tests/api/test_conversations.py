"""``/conversations``: filters, search, stable paging, and transcripts in time order with statuses."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from channelgate.testing.gateway import wait_until
from tests.core.relay_peer import deliver, event

from .conftest import Api


async def pages(client: httpx.AsyncClient, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (await client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})).json()
        items += page[key]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_conversations_are_filtered_searched_and_paged(api: Api, client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient() as http:
        for i in range(5):
            body = orjson.dumps(
                {"id": f"c-{i}", "user": {"id": f"user-{i}", "name": f"Ann {i}"}, "text": "hi"}
            )
            await deliver(http, api.gw.webhook_url("relay", "main"), body)
    await api.peer.wait_for(5)
    everyone = await pages(client, "/conversations", "items", limit=2)
    assert sorted(c["user_id"] for c in everyone) == [f"user-{i}" for i in range(5)]
    assert len({c["id"] for c in everyone}) == 5
    one = (await client.get("/conversations", params={"user_id": "user-3"})).json()["items"]
    assert [(c["user_id"], c["user_name"], c["channel"], c["label"]) for c in one] == [
        ("user-3", "Ann 3", "relay", "main")
    ]
    assert one[0]["last_inbound_at"] is not None
    searched = (await client.get("/conversations", params={"q": "ANN 4"})).json()["items"]
    assert [c["user_id"] for c in searched] == ["user-4"]
    wildcard = (await client.get("/conversations", params={"q": "%"})).json()["items"]
    assert wildcard == []
    other = (await client.get("/conversations", params={"channel": "whatsapp"})).json()["items"]
    assert other == []


async def test_transcript_interleaves_inputs_and_replies_with_statuses(
    api: Api, client: httpx.AsyncClient
) -> None:
    api.peer.fail_next(400)
    conversation = ""

    async def settled(count: int) -> bool:
        entries = (await client.get(f"/conversations/{conversation}")).json()["transcript"]
        return len(entries) == count and all(e["status"] in ("done", "sent", "failed") for e in entries)

    async with httpx.AsyncClient() as http:
        await deliver(http, api.gw.webhook_url("relay", "main"), event("t-1", "u-t", "first"))
        await wait_until(lambda: bool(api.bot.turns))
        conversation = api.bot.turns[0].conversation_id
        await wait_until(lambda: settled(2))
        await deliver(http, api.gw.webhook_url("relay", "main"), event("t-2", "u-t", "second"))
    await api.peer.wait_for(1)
    await wait_until(lambda: settled(4))
    detail = (await client.get(f"/conversations/{conversation}")).json()
    assert detail["user_id"] == "u-t" and detail["next_cursor"] is None
    lines = [(e["direction"], e.get("input") or e.get("summary"), e["status"]) for e in detail["transcript"]]
    assert lines == [
        ("in", {"type": "text", "text": "first"}, "done"),
        ("out", "text", "failed"),
        ("in", {"type": "text", "text": "second"}, "done"),
        ("out", "text", "sent"),
    ]
    failed = detail["transcript"][1]
    assert "relay refused the message (400)" in failed["reason"]
    assert detail["transcript"][3]["body"]["message"] == {"type": "text", "text": "echo: second"}
    paged = await pages(client, f"/conversations/{conversation}", "transcript", limit=1)
    assert [(e["direction"], e["id"]) for e in paged] == [
        (e["direction"], e["id"]) for e in detail["transcript"]
    ]


async def test_bad_cursors_and_unknown_conversations(client: httpx.AsyncClient) -> None:
    for cursor in ("not-base64!", "WzFd", "eyJ4IjoxfQ"):
        response = await client.get("/conversations", params={"cursor": cursor})
        assert response.status_code == 400 and "cursor is not valid" in response.json()["error"]
    missing = await client.get("/conversations/deadbeef")
    bad_id = await client.get("/conversations/not-an-id")
    assert missing.status_code == 404 and bad_id.status_code == 400
