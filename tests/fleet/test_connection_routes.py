"""Work reaches the replica holding the connection (connection_routes.py), on the real PostgreSQL with two
gateways: a web chat send picked up by the replica without the user's socket is sent by the one with it at
once, and a WeChat request waiting on one replica is answered with the reply of a turn run on the other."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from sqlalchemy.engine import make_url

from channelgate.coordination import Handlers, PgCoordination, asyncpg_dsn
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.server import serve_app
from channelgate.testing.wechat import WeChatSimulator
from tests.api.conftest import Api, relay_integration, start_api
from tests.core.relay_peer import RelayPeer
from tests.webchat.chatkit import chat
from tests.wechat.helpers import gateway_config, simulator
from tests.wechat.test_gateway import EchoBot

#: both replicas poll every 30 s and a user who is away is tried again after 30 s: whatever happens
#: sooner is the routing's doing
SLOW = {"poll_interval": 30, "max_backoff": 30.0, "retry_budget": 120.0}


def routed(gw: RunningGateway, kind: str) -> float:
    value = gw.gateway.metrics.registry.get_sample_value("channelgate_routed_total", {"kind": kind})
    return value or 0.0


def only_a_claims(b: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """B's delivery worker never claims due sends itself: what B sends, a peer's routing handed it."""

    async def nothing(*args: object) -> list[object]:
        return []

    monkeypatch.setattr(b.gw.gateway.store.deliveries, "claim", nothing)


@pytest.fixture
async def webchat_pair(peer: RelayPeer, pg_url: str) -> AsyncIterator[tuple[Api, Api]]:
    """Replicas A and B on one database, each with the relay and a web chat integration (``webchat/site``)."""
    integrations = [
        relay_integration(peer.url),  # type: ignore[attr-defined]
        {"channel": "webchat", "label": "site", "locale": "en-US"},
    ]
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(start_api(peer, pg_url, integrations=integrations, pipeline=SLOW))
        b = await stack.enter_async_context(start_api(peer, pg_url, integrations=integrations, pipeline=SLOW))
        yield a, b


@pytest.mark.postgres
async def test_a_web_chat_send_picked_up_away_from_the_socket_reaches_the_user_within_a_second(
    webchat_pair: tuple[Api, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = webchat_pair
    only_a_claims(b, monkeypatch)
    async with chat(b.gw) as browser:  # the user's socket is on B
        await browser.hello()
        assert browser.user_id is not None
        body = {
            "channel": "webchat",
            "label": "site",
            "user_id": browser.user_id,
            "messages": [{"type": "text", "text": "your order shipped"}],
        }
        async with a.client() as client:
            started = time.monotonic()
            answer = await client.post("/messages", json=body)
            assert answer.status_code == 202, answer.text
            message = await browser.message()
            took = time.monotonic() - started
    assert message == {"type": "text", "text": "your order shipped"}
    assert took < 1.0, f"the message took {took:.2f} s"
    conversation_id = answer.json()["conversation_id"]

    async def sent_once() -> bool:
        rows = await a.gw.store.outbox.rows(conversation_id)
        return [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)]

    await wait_until(sent_once, timeout=2.0)  # B records the send once the browser's receipt is in
    await wait_until(lambda: routed(b.gw, "webchat") == 1, timeout=2.0)  # B took it over from A


@pytest.mark.postgres
async def test_a_routed_line_goes_out_in_order_and_once(
    webchat_pair: tuple[Api, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = webchat_pair
    only_a_claims(b, monkeypatch)
    texts = [f"part {n}" for n in range(5)]
    async with chat(b.gw) as browser:
        await browser.hello()
        body = {
            "channel": "webchat",
            "label": "site",
            "user_id": browser.user_id,
            "messages": [{"type": "text", "text": t} for t in texts],
        }
        async with a.client() as client:
            answer = await client.post("/messages", json=body)
            assert answer.status_code == 202, answer.text
        got = [(await browser.message())["text"] for _ in texts]
    assert got == texts
    conversation_id = answer.json()["conversation_id"]

    async def all_sent() -> bool:
        rows = await a.gw.store.outbox.rows(conversation_id)
        return [r["status"] for r in rows] == ["sent"] * len(texts)

    await wait_until(all_sent, timeout=2.0)
    await wait_until(lambda: routed(b.gw, "webchat") == len(texts), timeout=2.0)


@pytest.fixture
def sim() -> WeChatSimulator:
    return simulator(callback_timeout=4.0)


@pytest.fixture
async def wechat_pair(
    sim: WeChatSimulator, pg_url: str
) -> AsyncIterator[tuple[RunningGateway, RunningGateway]]:
    """Replicas A and B with one WeChat integration pointed at the simulator, on one database."""
    async with AsyncExitStack() as stack:
        api_url = await stack.enter_async_context(serve_app(sim.app))
        config = gateway_config(api_url, "safe", store=pg_url, budget=3.0)
        config["pipeline"] = SLOW
        a = await stack.enter_async_context(run_gateway(config, bot=EchoBot()))
        b = await stack.enter_async_context(run_gateway(config, bot=EchoBot()))
        yield a, b


@pytest.mark.postgres
async def test_a_wechat_request_waiting_on_a_is_answered_with_the_reply_of_a_turn_run_on_b(
    wechat_pair: tuple[RunningGateway, RunningGateway], sim: WeChatSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = wechat_pair
    # A accepts the callback but does not start its turn (as when B holds the conversation): B runs it
    monkeypatch.setattr(a.gateway.turns, "kick", lambda conversation_id: None)
    started = time.monotonic()
    delivery = await sim.deliver(
        a.webhook_url("wechat", "shop"), sim.text_message("oUser1", "hi"), mode="safe"
    )
    took = time.monotonic() - started
    assert delivery.attempts == 1
    reply = sim.read_reply(delivery.response)
    assert reply is not None and reply["Content"] == "echo: hi"  # in A's HTTP answer
    assert took < 2.0, f"the answer took {took:.2f} s (the budget is 3 s)"
    bot_a, bot_b = a.gateway.bot, b.gateway.bot
    assert isinstance(bot_a, EchoBot) and isinstance(bot_b, EchoBot)
    assert [t.input.text for t in bot_b.turns] == ["hi"] and not bot_a.turns  # type: ignore[union-attr]
    assert routed(a, "passive") == 1
    (sent,) = await sim.wait_for_sends(1)  # the second message goes through the API, once
    assert sent.body["text"] == {"content": "second"}
    conversation_id = bot_b.turns[0].conversation_id

    async def settled() -> bool:
        rows = await a.store.outbox.rows(conversation_id)
        return [(r["status"], r["reason"]) for r in rows] == [("sent", "passive reply"), ("sent", None)]

    await wait_until(settled, timeout=2.0)
    assert len(sim.sent) == 1


@pytest.mark.postgres
async def test_a_reply_held_for_a_request_that_has_gone_goes_out_through_the_api(
    wechat_pair: tuple[RunningGateway, RunningGateway], sim: WeChatSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = wechat_pair
    monkeypatch.setattr(a.gateway.turns, "kick", lambda conversation_id: None)
    # B's notice finds no waiting request on A (it gave up in that instant): A answers without the reply
    monkeypatch.setattr(a.gateway.passive, "claim", lambda turn_id: None)
    delivery = await sim.deliver(
        a.webhook_url("wechat", "shop"), sim.text_message("oUser2", "yo"), mode="safe"
    )
    assert sim.read_reply(delivery.response) is None  # answered without the reply
    sent = await sim.wait_for_sends(2, timeout=5.0)
    assert [s.body["text"]["content"] for s in sent] == ["echo: yo", "second"]
    assert routed(a, "passive") == 0
    assert isinstance(b.gateway.bot, EchoBot) and len(b.gateway.bot.turns) == 1  # B ran the turn


@pytest.mark.postgres
async def test_route_notices_reach_the_peers_before_the_turns_news_and_not_the_sender(pg_url: str) -> None:
    """A WeChat request's wait must be known to a peer before that peer can start the turn."""
    dsn = asyncpg_dsn(make_url(pg_url))
    heard: dict[str, list[object]] = {"a": [], "b": []}

    def handlers(name: str) -> Handlers:
        async def nothing(*args: str) -> None:
            return None

        return Handlers(
            integration=nothing,
            turns=lambda ids: heard[name].append(("turns", tuple(ids))),
            outbox=lambda: None,
            poll=lambda: None,
            resync=nothing,
            route=lambda notice: heard[name].append(("route", notice["r"], notice["o"])),
        )

    a, b = PgCoordination(dsn, "owner-a"), PgCoordination(dsn, "owner-b")
    await a.start(handlers("a"))
    await b.start(handlers("b"))
    try:
        a.turns_accepted(["c1"])
        a.route({"r": "passive-wait", "turn": 7, "budget": 4.0})
        await a.flush()
        await wait_until(lambda: len(heard["b"]) == 2, timeout=2.0)
        assert heard["b"] == [("route", "passive-wait", "owner-a"), ("turns", ("c1",))]
        assert heard["a"] == []
    finally:
        await a.stop()
        await b.stop()
