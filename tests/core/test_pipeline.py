"""The message path end to end over loopback: signed webhook → dedup → turn → bot → outbox → send."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest

from channelgate.bots.base import Bot, BotError
from channelgate.testing import ChannelHarness, wait_until
from channelgate.turns import Reply, Turn

from .relay_peer import SECRET, RelayPeer, deliver, event


class RecordingBot(Bot):
    """Echoes text; records every turn; can be told to fail or to be slow."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.fail: list[BotError] = []
        self.delay = 0.0
        self.answer: Any = None

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise self.fail.pop(0)
        if self.answer is not None:
            return Reply.coerce(self.answer)
        text = getattr(turn.input, "text", None) or getattr(turn.input, "payload", "?")
        return Reply(messages=[{"type": "text", "text": f"echo: {text}"}])


@pytest.fixture
async def gw(peer: RelayPeer, store_url: str) -> Any:
    """A gateway on each store engine, with the relay channel and a recording bot (the channel test harness
    of channelgate.testing, as an external channel's tests use it)."""
    settings = {"secret": SECRET, "send_url": f"{peer.url}/send"}  # type: ignore[attr-defined]
    async with ChannelHarness(
        "relay", settings, label="main", bot=RecordingBot(), store=store_url
    ) as running:
        yield running


async def test_signed_webhook_gets_one_turn_and_its_reply_is_delivered(
    gw: ChannelHarness, peer: RelayPeer
) -> None:
    async with httpx.AsyncClient() as client:
        response = await deliver(client, gw.webhook_url("relay", "main"), event("e1", "u1", "hello"))
    assert response.status_code == 200
    await peer.wait_for(1)
    assert peer.received == [{"to": "u1", "message": {"type": "text", "text": "echo: hello"}}]
    turn = gw.bot.turns[0]  # type: ignore[attr-defined]
    assert (turn.channel, turn.label, turn.user.id, turn.locale) == ("relay", "main", "u1", "en-US")
    assert turn.input.type == "text"
    assert turn.raw == {"id": "e1", "user": {"id": "u1"}, "text": "hello"}
    await wait_until(lambda: _status(gw, turn.conversation_id, "sent"))
    rows = await gw.store.outbox.rows(turn.conversation_id)
    assert rows[0]["platform_message_id"] == "m-1"


async def test_redelivered_webhook_is_answered_once(gw: ChannelHarness, peer: RelayPeer) -> None:
    body = event("dup-1", "u1", "once")
    async with httpx.AsyncClient() as client:
        first = await deliver(client, gw.webhook_url("relay", "main"), body)
        second = await deliver(client, gw.webhook_url("relay", "main"), body)
    assert first.status_code == second.status_code == 200
    await peer.wait_for(1)
    await asyncio.sleep(0.2)
    assert len(peer.received) == 1
    assert len(gw.bot.turns) == 1  # type: ignore[attr-defined]


async def test_same_webhook_sent_concurrently_twenty_times_makes_one_turn(
    gw: ChannelHarness, peer: RelayPeer
) -> None:
    body = event("storm-1", "u7", "storm")
    async with httpx.AsyncClient() as client:
        responses = await asyncio.gather(
            *[deliver(client, gw.webhook_url("relay", "main"), body) for _ in range(20)]
        )
    assert {r.status_code for r in responses} == {200}
    await peer.wait_for(1)
    await asyncio.sleep(0.3)
    assert len(gw.bot.turns) == 1  # type: ignore[attr-defined]
    assert len(peer.received) == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"x-relay-signature": "sha256=" + "0" * 64}, 403)],
    ids=["missing", "wrong"],
)
async def test_bad_signature_is_refused_and_makes_no_turn(
    gw: ChannelHarness, headers: dict[str, str], status: int
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(gw.webhook_url("relay", "main"), content=b"{not json", headers=headers)
    assert response.status_code == status
    assert "error" in response.json()
    await asyncio.sleep(0.1)
    assert gw.bot.turns == []  # type: ignore[attr-defined]


async def test_unknown_channel_and_label_are_404_with_a_reason(gw: ChannelHarness) -> None:
    async with httpx.AsyncClient() as client:
        no_label = await client.post(gw.webhook_url("relay", "nope"), content=b"{}")
        no_channel = await client.post(gw.webhook_url("carrier-pigeon", "x"), content=b"{}")
    assert no_label.status_code == 404 and "relay/nope" in no_label.json()["error"]
    assert no_channel.status_code == 404 and "carrier-pigeon" in no_channel.json()["error"]


async def test_oversized_body_gets_413(gw: ChannelHarness) -> None:
    body = b"x" * (1024 * 1024 + 1)
    async with httpx.AsyncClient() as client:
        response = await deliver(client, gw.webhook_url("relay", "main"), body)
    assert response.status_code == 413


async def test_malformed_event_gets_400_with_reason(gw: ChannelHarness) -> None:
    async with httpx.AsyncClient() as client:
        response = await deliver(client, gw.webhook_url("relay", "main"), b'{"id": "x"}')
    assert response.status_code == 400
    assert "user" in response.json()["error"]


async def test_turns_of_one_conversation_run_in_order(gw: ChannelHarness, peer: RelayPeer) -> None:
    async with httpx.AsyncClient() as client:
        for i in range(8):
            await deliver(client, gw.webhook_url("relay", "main"), event(f"o{i}", "u-order", f"m{i}"))
    await peer.wait_for(8)
    assert peer.texts("u-order") == [f"echo: m{i}" for i in range(8)]


async def test_failing_bot_is_retried_then_answers(gw: ChannelHarness, peer: RelayPeer) -> None:
    gw.bot.fail = [BotError("bot down"), BotError("still down")]  # type: ignore[attr-defined]
    async with httpx.AsyncClient() as client:
        await deliver(client, gw.webhook_url("relay", "main"), event("r1", "u2", "retry me"))
    await peer.wait_for(1, timeout=10)
    assert peer.texts() == ["echo: retry me"]
    assert len(gw.bot.turns) == 3  # type: ignore[attr-defined]


async def test_bot_that_fails_for_good_gets_the_user_an_apology(gw: ChannelHarness, peer: RelayPeer) -> None:
    gw.bot.fail = [BotError("broken", retryable=False)]  # type: ignore[attr-defined]
    async with httpx.AsyncClient() as client:
        await deliver(client, gw.webhook_url("relay", "main"), event("f1", "u3", "hi"))
    await peer.wait_for(1)
    assert peer.texts() == ["Sorry, something went wrong, please try again."]


async def test_invalid_bot_message_is_reported_and_the_rest_delivered(
    gw: ChannelHarness, peer: RelayPeer, caplog: pytest.LogCaptureFixture
) -> None:
    gw.bot.answer = [{"type": "text", "text": "first"}, {"type": "card"}, "third"]  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="channelgate.pipeline"):
        async with httpx.AsyncClient() as client:
            await deliver(client, gw.webhook_url("relay", "main"), event("i1", "u4", "x"))
        await peer.wait_for(2)
    assert peer.texts() == ["first", "third"]
    warning = next(
        r.getMessage() for r in caplog.records if "not a valid universal message" in r.getMessage()
    )
    assert "message 1" in warning and "card.title" in warning and "conversation" in warning


async def test_bot_reply_in_the_brief_format_is_translated(gw: ChannelHarness, peer: RelayPeer) -> None:
    gw.bot.answer = {
        "messages": [
            {
                "type": "rich",
                "title": "Shoe",
                "description": "Red",  # type: ignore[attr-defined]
                "insideActions": [{"type": "reply", "display": "Buy", "payload": "BUY"}],
            }
        ]
    }
    async with httpx.AsyncClient() as client:
        await deliver(client, gw.webhook_url("relay", "main"), event("b1", "u5", "x"))
    await peer.wait_for(1)
    assert peer.received[0]["message"] == {
        "type": "card",
        "title": "Shoe",
        "description": "Red",
        "buttons": [{"type": "reply", "title": "Buy", "payload": "BUY"}],
    }


async def test_send_failures_are_retried_honouring_retry_after(gw: ChannelHarness, peer: RelayPeer) -> None:
    peer.fail_next(503)
    peer.fail_next(429, headers={"retry-after": "0.1"})
    async with httpx.AsyncClient() as client:
        await deliver(client, gw.webhook_url("relay", "main"), event("s1", "u6", "persist"))
    await peer.wait_for(1, timeout=10)
    assert peer.texts() == ["echo: persist"]
    conversation = gw.bot.turns[0].conversation_id  # type: ignore[attr-defined]
    await wait_until(lambda: _status(gw, conversation, "sent"))
    rows = await gw.store.outbox.rows(conversation)
    assert rows[0]["attempts"] == 3


async def test_refused_send_fails_with_its_reason_and_does_not_block_the_next(
    gw: ChannelHarness, peer: RelayPeer
) -> None:
    peer.fail_next(400)
    async with httpx.AsyncClient() as client:
        await deliver(client, gw.webhook_url("relay", "main"), event("x1", "u8", "one"))
        await deliver(client, gw.webhook_url("relay", "main"), event("x2", "u8", "two"))
    await peer.wait_for(1)
    assert peer.texts() == ["echo: two"]
    rows = await gw.store.outbox.rows(gw.bot.turns[0].conversation_id)  # type: ignore[attr-defined]
    assert rows[0]["status"] == "failed" and "refused" in rows[0]["reason"]


async def test_status_updates_move_messages_forward_only(gw: ChannelHarness, peer: RelayPeer) -> None:
    url = gw.webhook_url("relay", "main")
    async with httpx.AsyncClient() as client:
        await deliver(client, url, event("t1", "u9", "hi"))
        await peer.wait_for(1)
        conversation = gw.bot.turns[0].conversation_id  # type: ignore[attr-defined]
        await wait_until(lambda: _status(gw, conversation, "sent"))
        await deliver(client, url, event("st-r", "u9", status={"message_id": "m-1", "status": "read"}))
        await deliver(client, url, event("st-d", "u9", status={"message_id": "m-1", "status": "delivered"}))
    rows = await gw.store.outbox.rows(conversation)
    assert rows[0]["status"] == "read"


async def _status(gw: ChannelHarness, conversation: str, status: str) -> bool:
    rows = await gw.store.outbox.rows(conversation)
    return bool(rows) and rows[0]["status"] == status


async def test_health_and_metrics_are_served(gw: ChannelHarness, peer: RelayPeer) -> None:
    async with httpx.AsyncClient() as client:
        await deliver(client, gw.webhook_url("relay", "main"), event("h1", "u10", "hi"))
        await peer.wait_for(1)
        health = await client.get(f"{gw.url}/healthz")
        ready = await client.get(f"{gw.url}/readyz")
        metrics = await client.get(f"{gw.url}/metrics")
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["integrations"]["relay/main"]["status"] == "ok"
    assert 'channelgate_webhooks_total{channel="relay",outcome="accepted"} 1.0' in metrics.text
    assert "channelgate_queue_depth" in metrics.text
    # one process alone (SQLite): the whole of every limit
    assert "channelgate_fleet_replicas 1.0" in metrics.text
    assert "channelgate_fleet_share 1.0" in metrics.text
