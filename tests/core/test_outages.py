"""Outages heal by themselves, refused credentials pause and resume, poisoned turns end: at the wire, with
the Graph API simulator on loopback and the gateway on each store engine, in time scaled down to seconds."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

import pytest

from channelgate.bots.base import Bot, BotError
from channelgate.channels.base import InboundMessage, Outbound
from channelgate.channels.registry import load_registry
from channelgate.config import build_integration, parse_config
from channelgate.store import NewOutbound, Store
from channelgate.store import inbox as sql  # the inbox repository owns INSERT_TURN
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from channelgate.turns import Reply, TextInput, Turn, User

APOLOGY = "Sorry, something went wrong, please try again."


class EchoBot(Bot):
    """Echoes text. "boom" raises (a bot bug); "flaky" fails with a retryable error every time; a user in
    ``fail_once`` gets one retryable failure first."""

    def __init__(self) -> None:
        self.fail_once: set[str] = set()
        self.calls: list[str] = []

    async def respond(self, turn: Turn) -> Reply:
        text = turn.input.text if isinstance(turn.input, TextInput) else turn.input.type
        self.calls.append(text)
        if text == "boom":
            raise RuntimeError("the bot has a bug")
        if text == "flaky":
            raise BotError("the bot is down", retryable=True)
        if turn.user.id in self.fail_once:
            self.fail_once.discard(turn.user.id)
            raise BotError("one hiccup", retryable=True)
        return Reply(messages=[{"type": "text", "text": f"echo: {text}"}])


@pytest.fixture
def sim() -> GraphSimulator:
    return GraphSimulator(kind="whatsapp", access_token="EAAG-sim-token", app_secret="my_app_secret")


@pytest.fixture
async def graph_url(sim: GraphSimulator) -> Any:
    async with serve_app(sim.app) as url:
        yield sim.api_base_url(url)


def integration(sim: GraphSimulator, graph_url: str, token: str | None = None) -> dict[str, Any]:
    return {
        "channel": "whatsapp",
        "label": "shop",
        "locale": "en-US",
        "verify_token": sim.verify_token,
        "app_secret": sim.app_secret,
        "access_token": token or sim.access_token,
        "phone_number_id": sim.phone_number_id,
        "api_base_url": graph_url,
    }


def config(sim: GraphSimulator, graph_url: str, store: str, **pipeline: Any) -> dict[str, Any]:
    return {
        "store": store,
        "pipeline": {"poll_interval": 0.05, "max_backoff": 0.3, "bot_attempts": 3, **pipeline},
        "integrations": [integration(sim, graph_url)],
    }


def texts(sim: GraphSimulator) -> dict[str, list[str]]:
    """The text messages the platform accepted, per user, in the order it accepted them."""
    out: dict[str, list[str]] = defaultdict(list)
    for sent in sim.sent:
        if sent.body.get("type") == "text":
            out[sent.body["to"]].append(sent.body["text"]["body"])
    return out


async def say(gw: RunningGateway, sim: GraphSimulator, user: str, text: str) -> None:
    response = await sim.deliver(gw.webhook_url("whatsapp", "shop"), sim.whatsapp_text(user, text))
    assert response.status_code == 200


async def replies(gw: RunningGateway, user: str) -> list[Any]:
    conversation = await gw.store.conversations.find("whatsapp", "shop", user)
    if conversation is None:
        return []
    return [r for r in await gw.store.outbox.rows(conversation["id"]) if r["kind"] == "message"]


async def test_a_platform_outage_heals_with_nothing_lost_in_order(
    sim: GraphSimulator, graph_url: str, store_url: str
) -> None:
    users = [f"1650555{n:04d}" for n in range(4)]
    async with run_gateway(config(sim, graph_url, store_url, retry_budget=120), bot=EchoBot()) as gw:
        sim.outage(600)  # down until the test ends the outage: every send answers 500
        for i in range(3):
            for user in users:
                await say(gw, sim, user, f"{user}-{i}")
        # the outage lasts until each user's first reply has been refused several times over (many
        # backoff rounds at max_backoff 0.3), however slow the machine: ended by events, not by a clock
        await wait_until(lambda: sim.outage_refused >= 3 * len(users), timeout=60)
        sim.outage(0)

        async def all_answered() -> bool:
            return sum(len(v) for v in texts(sim).values()) >= 12

        await wait_until(all_answered, timeout=60)

        async def all_marked_sent() -> bool:  # the platform answers before the store records it
            statuses = [[r["status"] for r in await replies(gw, user)] for user in users]
            return statuses == [["sent"] * 3] * len(users)

        await wait_until(all_marked_sent, timeout=10)
    got = texts(sim)
    assert got == {user: [f"echo: {user}-{i}" for i in range(3)] for user in users}  # in order, once each


async def test_a_send_past_its_budget_is_dead_lettered_and_the_conversation_moves_on(
    sim: GraphSimulator, graph_url: str, store_url: str
) -> None:
    user = "16505550001"
    sim.outage(600)
    async with run_gateway(config(sim, graph_url, store_url, retry_budget=2.0), bot=EchoBot()) as gw:
        await say(gw, sim, user, "one")
        await say(gw, sim, user, "two")

        async def both_dead() -> bool:
            rows = await replies(gw, user)
            return len(rows) == 2 and all(r["status"] == "dead" for r in rows)

        await wait_until(both_dead, timeout=20)
        first, _ = await replies(gw, user)
        assert first["attempts"] >= 2  # retried for the whole two seconds, then given up
        assert first["reason"].startswith("Graph API error 2: Service temporarily unavailable")
        assert "retry budget of 2s" in first["reason"]
        sim.outage(0)
        await say(gw, sim, user, "three")
        await wait_until(lambda: texts(sim).get(user) == ["echo: three"], timeout=10)


async def test_a_permanent_refusal_fails_at_once_and_the_next_message_goes(
    sim: GraphSimulator, graph_url: str, store_url: str
) -> None:
    user = "16505550002"
    async with run_gateway(config(sim, graph_url, store_url), bot=EchoBot()) as gw:
        sim.fail_next(1, code=100, status=400, message="(#100) Invalid parameter")
        await say(gw, sim, user, "one")
        await say(gw, sim, user, "two")
        await wait_until(lambda: texts(sim).get(user) == ["echo: two"], timeout=10)

        async def settled() -> bool:
            return [r["status"] for r in await replies(gw, user)] == ["failed", "sent"]

        await wait_until(settled)
        refused, _ = await replies(gw, user)
        assert refused["attempts"] == 1 and refused["reason"].startswith("Graph API error 100")


async def paused(gw: RunningGateway, user: str) -> bool:
    rows = await replies(gw, user)
    return bool(rows) and (rows[0]["reason"] or "").startswith("paused: credentials refused")


async def test_refused_credentials_pause_deliveries_until_the_integration_is_replaced(
    sim: GraphSimulator, graph_url: str, store_url: str
) -> None:
    user = "16505550003"
    async with run_gateway(config(sim, graph_url, store_url), bot=EchoBot()) as gw:
        sim.access_token = "EAAG-rotated-token"  # rotated on the platform
        channel = gw.gateway.channel("whatsapp", "shop")
        assert channel is not None
        await say(gw, sim, user, "one")
        await say(gw, sim, user, "two")
        await wait_until(lambda: paused(gw, user), timeout=10)
        assert channel.ctx.health.status == "failing"
        assert "deliveries are paused" in channel.ctx.health.message
        assert "EAAG" not in channel.ctx.health.message
        head, behind = await replies(gw, user)
        assert (head["status"], head["attempts"]) == ("queued", 0)  # no try used up
        assert (behind["status"], behind["attempts"]) == ("queued", 0)
        assert texts(sim) == {}

        # the operator puts the new token in (the admin API does this: a new Channel instance)
        fixed, _ = build_integration(
            integration(sim, graph_url, token="EAAG-rotated-token"), gw.gateway.registry, "test"
        )
        await gw.gateway.remove_integration("whatsapp", "shop")
        replaced = await gw.gateway.add_integration(fixed)
        await wait_until(lambda: texts(sim).get(user) == ["echo: one", "echo: two"], timeout=10)
        assert replaced.ctx.health.status == "ok"

        async def sent() -> bool:
            return [(r["status"], r["attempts"]) for r in await replies(gw, user)] == [("sent", 1)] * 2

        await wait_until(sent)


async def test_refused_credentials_heal_when_the_probe_goes_through(
    sim: GraphSimulator, graph_url: str, store_url: str
) -> None:
    user = "16505550004"
    settings = {"credentials_probe_interval": 0.5}
    async with run_gateway(config(sim, graph_url, store_url, **settings), bot=EchoBot()) as gw:
        token, sim.access_token = sim.access_token, "EAAG-other-token"
        channel = gw.gateway.channel("whatsapp", "shop")
        assert channel is not None
        await say(gw, sim, user, "one")
        await wait_until(lambda: paused(gw, user), timeout=10)
        assert channel.ctx.health.status == "failing"
        sim.access_token = token  # fixed on the platform's side: the same token works again
        await wait_until(lambda: texts(sim).get(user) == ["echo: one"], timeout=10)
        await wait_until(lambda: channel.ctx.health.status == "ok")


async def test_refused_credentials_resume_after_a_restart_with_the_new_token(
    sim: GraphSimulator, graph_url: str, store_url: str
) -> None:
    user = "16505550008"
    before = config(sim, graph_url, store_url)
    sim.access_token = "EAAG-rotated-token"  # rotated on the platform; the config still has the old one
    async with run_gateway(before, bot=EchoBot()) as gw:
        await say(gw, sim, user, "one")
        await wait_until(lambda: paused(gw, user), timeout=10)
    restarted = config(sim, graph_url, store_url)  # the config file now holds the new token
    restarted["integrations"] = [integration(sim, graph_url, token="EAAG-rotated-token")]
    async with run_gateway(restarted, bot=EchoBot()):  # the probe is 300 s away: the start resumes it
        await wait_until(lambda: texts(sim).get(user) == ["echo: one"], timeout=10)


async def poison(gw: RunningGateway, conversation_id: str) -> None:
    """A turn whose stored input no longer validates: what a location of "nan" became once stored."""
    now = time.time()
    row = {
        "channel": "whatsapp",
        "label": "shop",
        "dedup_key": "wamid.poisoned",
        "conversation_id": conversation_id,
        "kind": "message",
        "input": {"type": "location", "latitude": None, "longitude": 2.35},
        "raw": None,
        "platform_message_id": None,
        "locale_hint": None,
        "now": now,
    }
    await gw.store.run(lambda conn: sql.INSERT_TURN.first(conn, row))


async def test_a_poisoned_turn_ends_with_an_apology_and_the_user_is_answered_after(
    sim: GraphSimulator, graph_url: str, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    user = "16505550005"
    async with run_gateway(config(sim, graph_url, store_url), bot=EchoBot()) as gw:
        await say(gw, sim, user, "first")
        await wait_until(lambda: texts(sim).get(user) == ["echo: first"], timeout=10)
        conversation = await gw.store.conversations.find("whatsapp", "shop", user)
        caplog.set_level(logging.INFO, "channelgate.pipeline")
        await poison(gw, conversation["id"])
        gw.gateway.turns.kick(conversation["id"])
        await say(gw, sim, user, "after")
        expected = ["echo: first", APOLOGY, "echo: after"]
        await wait_until(lambda: texts(sim).get(user) == expected, timeout=15)
        [bad] = [
            r for r in await gw.store.inbox.rows(conversation["id"]) if r["dedup_key"] == "wamid.poisoned"
        ]
        assert bad["status"] == "failed" and bad["attempts"] == 2  # two retries recorded, the third ended it
        assert bad["error"].startswith("turn failed 3 times: ValidationError")
    tracebacks = [r for r in caplog.records if r.name == "channelgate.pipeline" and r.exc_info]
    assert len(tracebacks) == 1  # logged once, not on every try


async def test_a_bot_that_always_fails_ends_the_turn_and_the_user_is_answered_after(
    sim: GraphSimulator, graph_url: str, store_url: str
) -> None:
    user = "16505550006"
    bot = EchoBot()
    async with run_gateway(config(sim, graph_url, store_url), bot=bot) as gw:
        for text in ("boom", "flaky", "fine"):
            await say(gw, sim, user, text)
        await wait_until(lambda: texts(sim).get(user) == [APOLOGY, APOLOGY, "echo: fine"], timeout=15)
        assert bot.calls == ["boom", "flaky", "flaky", "flaky", "fine"]  # bot_attempts: 3 for retryable
        conversation = await gw.store.conversations.find("whatsapp", "shop", user)
        turns = await gw.store.inbox.rows(conversation["id"])
        assert [t["status"] for t in turns] == ["failed", "failed", "done"]


async def test_many_stuck_conversations_do_not_stop_another_users_retry(
    sim: GraphSimulator, graph_url: str, store_url: str
) -> None:
    """300 conversations whose first turn waits an hour for a retry, each with a later turn due now: the
    poller (8 conversations a round at turn_concurrency 2) must still find the one due retry."""
    store = Store(store_url)
    await store.create_schema()
    stuck = [f"1777{n:07d}" for n in range(300)]
    messages = [
        InboundMessage(dedup_key=f"stuck.{user}.{i}", user=User(id=user), input=TextInput(text=f"s{i}"))
        for i in range(2)
        for user in stuck
    ]
    accepted = await store.inbox.accept("whatsapp", "shop", "en-US", messages)
    heads = {conversation: turn for turn, conversation in reversed(accepted.new_turns)}
    for turn in heads.values():
        await store.inbox.retry_turn(turn, 1, time.time() + 3600, "waiting an hour")
    await store.close()

    bot = EchoBot()
    bot.fail_once.add("16505550007")
    settings = {"turn_concurrency": 2, "max_backoff": 0.2}
    async with run_gateway(config(sim, graph_url, store_url, **settings), bot=bot) as gw:
        await say(gw, sim, "16505550007", "hello")
        await wait_until(lambda: texts(sim).get("16505550007") == ["echo: hello"], timeout=15)
    assert not any(call.startswith("s") for call in bot.calls)  # the stuck ones waited, in order


async def test_replaying_a_dead_letter_keeps_the_conversations_order(store_url: str) -> None:
    store = Store(store_url)
    await store.create_schema()
    try:
        conversation = await store.conversations.for_user("whatsapp", "shop", "u1", "en-US")
        ids = await store.outbox.enqueue(
            conversation,
            "whatsapp",
            "shop",
            [NewOutbound(Outbound(body={"n": n}, summary=str(n))) for n in range(4)],
            "req-1",
        )
        first = await store.deliveries.claim("w", time.time(), 10, 30)
        assert [r["id"] for r in first] == ids[:1]
        await store.deliveries.mark_sent(ids[0], "m0", 1)
        for dead in ids[1:3]:  # two sends died in an outage, one after the other
            [row] = await store.deliveries.claim("w", time.time(), 10, 30)
            assert row["id"] == dead
            await store.deliveries.mark_failed(dead, "gone", 5, dead=True)
        # replaying the later one brings back the one before it, ahead of it, and the newer one waits
        assert await store.dead_letters.replay(ids[2]) is not None
        order = []
        while rows := await store.deliveries.claim("w", time.time(), 10, 30):
            assert len(rows) == 1  # one at a time: the head of the line
            order.append(rows[0]["id"])
            await store.deliveries.mark_sent(rows[0]["id"], None, 1)
        assert order == ids[1:]
        assert await store.dead_letters.replay(ids[2]) is None  # not dead any more
    finally:
        await store.close()


async def test_waiting_conversations_do_not_starve_another_users_send(store_url: str) -> None:
    """300 conversations whose head send waits an hour, each with a message behind it: a claim of 8 still
    hands out another user's message at once, and the ones behind the waiting heads wait with them."""
    store = Store(store_url)
    await store.create_schema()
    try:
        for n in range(300):
            conversation = await store.conversations.for_user("whatsapp", "shop", f"w{n}", "en-US")
            await store.outbox.enqueue(
                conversation,
                "whatsapp",
                "shop",
                [NewOutbound(Outbound(body={"n": i}, summary=str(i))) for i in range(2)],
                f"req-{n}",
            )
        heads = await store.deliveries.claim("w", time.time(), 1000, 30)
        assert len(heads) == 300
        for row in heads:
            await store.deliveries.mark_retry(
                row["id"], row["conversation_id"], 1, time.time() + 3600, "503", None
            )
        other = await store.conversations.for_user("whatsapp", "shop", "lucky", "en-US")
        [lucky] = await store.outbox.enqueue(
            other, "whatsapp", "shop", [NewOutbound(Outbound(body={}, summary="hi"))], "req-lucky"
        )
        assert [r["id"] for r in await store.deliveries.claim("w", time.time(), 8, 30)] == [lucky]
    finally:
        await store.close()


async def test_a_store_from_before_retry_since_gets_the_column(store_url: str) -> None:
    store = Store(store_url)
    await store.create_schema()
    async with store.tx() as conn:
        await conn.exec_driver_sql("ALTER TABLE outbox DROP COLUMN retry_since")
        await conn.exec_driver_sql('ALTER TABLE outbox DROP COLUMN "before"')  # a JSON column, added too
    await store.close()
    store = Store(store_url)
    try:
        await store.create_schema()  # what `channelgate serve` does at start
        conversation = await store.conversations.for_user("whatsapp", "shop", "u1", "en-US")
        [sent] = await store.outbox.enqueue(
            conversation, "whatsapp", "shop", [NewOutbound(Outbound(body={}, summary="x"))], "r"
        )
        [row] = await store.deliveries.claim("w", time.time(), 10, 30)
        assert row["id"] == sent and row["retry_since"] is None and row["before"] is None
    finally:
        await store.close()


def test_send_attempts_is_accepted_with_a_warning_naming_it() -> None:
    config = parse_config({"pipeline": {"send_attempts": 8}}, load_registry(), "old.yaml")
    [warning] = config.warnings
    assert warning.startswith("old.yaml: pipeline.send_attempts is deprecated and ignored")
    assert "retry_budget" in warning and config.settings.pipeline.retry_budget == 86400
