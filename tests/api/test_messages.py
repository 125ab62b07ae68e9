"""``POST /messages`` and ``GET /messages/{id}``: proactive sends, their status, and idempotent retries."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from channelgate.testing.gateway import wait_until
from tests.core.relay_peer import deliver, event

from .conftest import Api

TEXT = [{"type": "text", "text": "Your order shipped"}]


def send_body(
    user: str = "u1", messages: list[dict[str, Any]] | None = None, **options: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "relay",
        "label": "main",
        "user_id": user,
        "messages": messages or TEXT,
    }
    if options:
        body["options"] = options
    return body


async def status_of(client: httpx.AsyncClient, message_id: int) -> dict[str, Any]:
    response = await client.get(f"/messages/{message_id}")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


async def test_send_to_a_new_user_is_queued_then_sent(api: Api, client: httpx.AsyncClient) -> None:
    response = await client.post("/messages", json=send_body("new-user"))
    assert response.status_code == 202
    answer = response.json()
    assert set(answer) == {"request_id", "conversation_id", "message_ids"} and len(answer["message_ids"]) == 1
    await api.peer.wait_for(1)
    assert api.peer.received == [{"to": "new-user", "message": TEXT[0]}]
    message_id = answer["message_ids"][0]

    async def sent() -> bool:
        return (await status_of(client, message_id))["status"] == "sent"

    await wait_until(sent)
    status = await status_of(client, message_id)
    assert status["request_id"] == answer["request_id"]
    assert status["conversation_id"] == answer["conversation_id"]
    assert (status["platform_message_id"], status["attempts"], status["dead_letter"]) == ("m-1", 1, False)


async def test_status_follows_the_platforms_receipts_to_read(api: Api, client: httpx.AsyncClient) -> None:
    answer = (await client.post("/messages", json=send_body("u-receipts"))).json()
    message_id = answer["message_ids"][0]
    await wait_until(lambda: _is(client, message_id, "sent"))
    async with httpx.AsyncClient() as http:
        url = api.gw.webhook_url("relay", "main")
        await deliver(
            http, url, event("r-1", "u-receipts", status={"message_id": "m-1", "status": "delivered"})
        )
        assert (await status_of(client, message_id))["status"] == "delivered"
        await deliver(http, url, event("r-2", "u-receipts", status={"message_id": "m-1", "status": "read"}))
    assert (await status_of(client, message_id))["status"] == "read"


async def _is(client: httpx.AsyncClient, message_id: int, status: str) -> bool:
    return (await status_of(client, message_id))["status"] == status


async def test_several_messages_go_out_in_order(api: Api, client: httpx.AsyncClient) -> None:
    messages = [{"type": "text", "text": f"part {i}"} for i in range(5)]
    answer = (await client.post("/messages", json=send_body("u-order", messages))).json()
    assert len(answer["message_ids"]) == 5
    await api.peer.wait_for(5)
    assert api.peer.texts("u-order") == [f"part {i}" for i in range(5)]


async def test_send_to_a_conversation_by_id(api: Api, client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient() as http:
        await deliver(http, api.gw.webhook_url("relay", "main"), event("e-1", "u-known", "hello"))
    await api.peer.wait_for(1)
    conversation = api.bot.turns[0].conversation_id
    response = await client.post("/messages", json={"conversation_id": conversation, "messages": TEXT})
    assert response.status_code == 202 and response.json()["conversation_id"] == conversation
    await api.peer.wait_for(2)
    assert api.peer.texts("u-known") == ["echo: hello", "Your order shipped"]


async def test_retry_with_the_same_idempotency_key_sends_once(api: Api, client: httpx.AsyncClient) -> None:
    body = send_body("u-idem", idempotency_key="order-42-shipped")
    first = await client.post("/messages", json=body)
    retries = await asyncio.gather(*[client.post("/messages", json=body) for _ in range(5)])
    assert first.status_code == 202
    assert all(r.status_code == 202 and r.json() == first.json() for r in retries)
    await api.peer.wait_for(1)
    rows = await api.gw.store.outbox.rows(first.json()["conversation_id"])
    assert len(rows) == 1 and rows[0]["idempotency_key"] == "order-42-shipped"
    await asyncio.sleep(0.2)
    assert len(api.peer.received) == 1


async def test_concurrent_first_requests_with_one_key_send_once(api: Api, client: httpx.AsyncClient) -> None:
    body = send_body("u-race", idempotency_key="race-1")
    answers = await asyncio.gather(*[client.post("/messages", json=body) for _ in range(10)])
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["request_id"] for r in answers}) == 1
    await api.peer.wait_for(1)
    await asyncio.sleep(0.2)
    assert len(api.peer.received) == 1


async def test_idempotency_key_header_works_like_the_option(api: Api, client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "hdr-1"}
    first = await client.post("/messages", json=send_body("u-hdr"), headers=headers)
    second = await client.post("/messages", json=send_body("u-hdr"), headers=headers)
    both = await client.post("/messages", json=send_body("u-hdr", idempotency_key="other"), headers=headers)
    assert first.json() == second.json()
    assert both.status_code == 400 and "differ" in both.json()["error"]


async def test_same_key_with_a_different_body_is_409(api: Api, client: httpx.AsyncClient) -> None:
    first = await client.post("/messages", json=send_body("u-409", idempotency_key="k-409"))
    other = await client.post(
        "/messages", json=send_body("u-409", [{"type": "text", "text": "other"}], idempotency_key="k-409")
    )
    assert first.status_code == 202
    assert other.status_code == 409 and "different request" in other.json()["error"]
    await api.peer.wait_for(1)
    await asyncio.sleep(0.1)
    assert api.peer.texts() == ["Your order shipped"]


async def test_rejected_send_fails_with_the_platforms_reason(api: Api, client: httpx.AsyncClient) -> None:
    api.peer.fail_next(400)
    answer = (await client.post("/messages", json=send_body("u-fail"))).json()
    message_id = answer["message_ids"][0]
    await wait_until(lambda: _is(client, message_id, "failed"))
    status = await status_of(client, message_id)
    assert "refused" in status["reason"] and status["dead_letter"] is False


async def test_targets_that_do_not_exist_are_404(client: httpx.AsyncClient) -> None:
    no_label = await client.post("/messages", json={**send_body(), "label": "nope"})
    no_channel = await client.post("/messages", json={**send_body(), "channel": "pigeon"})
    no_conversation = await client.post("/messages", json={"conversation_id": "abc123", "messages": TEXT})
    no_message = await client.get("/messages/999999")
    assert no_label.status_code == 404 and no_label.json()["error"] == "no integration relay/nope"
    assert no_channel.status_code == 404 and "pigeon" in no_channel.json()["error"]
    assert no_conversation.status_code == 404 and "abc123" in no_conversation.json()["error"]
    assert no_message.status_code == 404


async def test_a_send_names_exactly_one_recipient(client: httpx.AsyncClient) -> None:
    neither = await client.post("/messages", json={"channel": "relay", "label": "main", "messages": TEXT})
    both = await client.post("/messages", json={**send_body(), "conversation_id": "abc"})
    no_channel = await client.post("/messages", json={"user_id": "u1", "messages": TEXT})
    for response in (neither, both, no_channel):
        assert response.status_code == 400
    assert "user_id" in neither.json()["error"] and "channel and label" in no_channel.json()["error"]


async def test_invalid_universal_message_is_400_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/messages", json=send_body(messages=[{"type": "card"}]))
    assert response.status_code == 400 and "card.title" in response.json()["error"]


async def test_numbers_beyond_64_bits_are_refused_not_stored(client: httpx.AsyncClient) -> None:
    template = {"type": "template", "name": "n", "parameters": [2**70]}
    response = await client.post("/messages", json=send_body(messages=[template]))
    assert response.status_code == 400 and "64 bits" in response.json()["error"]
