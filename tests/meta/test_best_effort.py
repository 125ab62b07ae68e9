"""Typing indicators and read marks (best-effort actions) never cost a reply, through the real gateway over
loopback: with the integration's rate budget low they are skipped (and counted) while every reply goes out;
with room they still go out before the reply, in order; and an action never makes a queued reply wait.
They ride on the reply's outbox row (its ``before``: store/outbox.fold), not rows of their own: whatever
becomes of them is counted in ``channelgate_best_effort_total`` and never touches the reply's row."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from channelgate.bots.base import Bot
from channelgate.delivery import BEST_EFFORT_RESERVE, RateLimiter, SendWindow
from channelgate.lanes import Lane
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.graph import GraphSimulator, SentMessage
from channelgate.turns import Reply, TextInput, Turn


class Echo(Bot):
    async def respond(self, turn: Turn) -> Reply:
        said = turn.input.text if isinstance(turn.input, TextInput) else turn.input.type
        return Reply(messages=[f"echo: {said}"])


def messenger(sim: GraphSimulator, api: str, rate_limit: float | None = None) -> dict[str, Any]:
    integration: dict[str, Any] = {
        "channel": "messenger",
        "label": "shop",
        "verify_token": sim.verify_token,
        "app_secret": sim.app_secret,
        "api_base_url": api,
        "page_access_token": sim.access_token,
    }
    if rate_limit is not None:
        integration["rate_limit"] = rate_limit
    return {"integrations": [integration], "pipeline": {"poll_interval": 0.05}}


async def best_effort_counts(gw: RunningGateway) -> dict[str, float]:
    """``channelgate_best_effort_total`` for Messenger by outcome, scraped from ``/metrics``."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{gw.url}/metrics")).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "channelgate_best_effort_total" and sample.labels["channel"] == "messenger":
                counts[sample.labels["outcome"]] = sample.value
    return counts


async def outbox(gw: RunningGateway, user: str) -> list[Any]:
    conversation = await gw.store.conversations.find("messenger", "shop", user)
    return [] if conversation is None else list(await gw.store.outbox.rows(conversation["id"]))


async def finished(gw: RunningGateway, users: list[str]) -> dict[str, list[Any]]:
    """Each user's outbox once no row of it is queued or in flight any more."""

    async def done() -> bool:
        for user in users:
            rows = await outbox(gw, user)
            if not rows or any(r["status"] in ("held", "queued", "sending") for r in rows):
                return False
        return True

    await wait_until(done, timeout=20)
    return {user: await outbox(gw, user) for user in users}


def action(sent: SentMessage) -> str | None:
    return sent.body.get("sender_action")


def riders(row: Any) -> list[str]:
    """The sender actions riding on an outbox row."""
    return [a["body"]["sender_action"] for a in row["before"] or ()]


def test_the_budget_keeps_a_reserve_for_real_messages() -> None:
    limiter = RateLimiter(300)  # Messenger's default: 300 tokens, 150 kept for real messages
    limiter.tokens = 151
    assert limiter.try_acquire(BEST_EFFORT_RESERVE)  # 150 left after it
    assert not limiter.try_acquire(BEST_EFFORT_RESERVE)
    assert limiter.tokens < 151  # refused: nothing taken
    small = RateLimiter(1)  # no room for a reserve: an action goes only when the bucket is full (idle)
    assert small.try_acquire(BEST_EFFORT_RESERVE)
    assert not small.try_acquire(BEST_EFFORT_RESERVE)


async def test_a_best_effort_call_never_takes_a_slot_a_send_waits_for() -> None:
    window = SendWindow(maximum=4, rate=100)
    for _ in range(4):
        await window.acquire()
    assert not window.try_acquire()
    waiting = asyncio.ensure_future(window.acquire())
    await asyncio.sleep(0)
    window.release(0.001)  # the freed slot is the waiting send's
    assert not window.try_acquire()
    await waiting
    window.release(0.001)
    assert window.try_acquire() and window.in_flight == 4


async def test_a_burst_past_the_rate_budget_answers_everyone_and_skips_the_actions(
    sim: GraphSimulator, graph_url: str
) -> None:
    users = [f"PSID_{i}" for i in range(16)]
    async with run_gateway(messenger(sim, graph_url, rate_limit=4), bot=Echo()) as gw:
        url = gw.webhook_url("messenger", "shop")
        started = time.monotonic()
        answers = await asyncio.gather(*(sim.deliver(url, sim.messenger_text(u, f"hi {u}")) for u in users))
        assert {a.status_code for a in answers} == {200}
        replies = [s for s in sim.sent if action(s) is None]

        async def all_answered() -> bool:
            replies[:] = [s for s in sim.sent if action(s) is None]
            return len(replies) >= len(users)

        # 16 replies at 4 calls/s take ~3 s; had the 32 actions been sent first, ~11 s
        await wait_until(all_answered, timeout=9)
        elapsed = time.monotonic() - started
        rows = await finished(gw, users)
        counts = await best_effort_counts(gw)

    assert sorted(r.body["message"]["text"] for r in replies) == sorted(f"echo: hi {u}" for u in users)
    assert sorted(r.recipient for r in replies) == sorted(users)  # each answered once
    # one row per user: the reply, its two actions riding on it
    assert {
        user: [(r["kind"], r["status"], riders(r)) for r in user_rows] for user, user_rows in rows.items()
    } == {user: [("message", "sent", ["mark_seen", "typing_on"])] for user in users}
    assert all(user_rows[0]["attempts"] == 1 for user_rows in rows.values())
    sent = [s for s in sim.sent if action(s) is not None]
    # at most the reserve above half the bucket (4 tokens) goes to actions in the burst, then the
    # budget refills at 4/s and replies wait for every token: nearly all the actions were dropped
    assert len(sent) <= 4, (len(sent), elapsed)
    assert counts.get("sent", 0) == len(sent) and counts["skipped"] == 2 * len(users) - len(sent)
    for user in users:  # per conversation: an action that went out went out before its reply
        calls = [s for s in sim.sent if s.recipient == user]
        assert action(calls[-1]) is None


async def test_with_room_in_the_budget_the_actions_go_out_before_the_reply_in_order(
    sim: GraphSimulator, graph_url: str
) -> None:
    sim.send_delay = 0.05  # slow sends: order must not depend on the platform being quick
    async with run_gateway(messenger(sim, graph_url), bot=Echo()) as gw:  # Messenger's 300 calls/s
        url = gw.webhook_url("messenger", "shop")
        await sim.deliver(url, sim.messenger_text("PSID_1", "hello"))
        await sim.wait_for_sends(3)  # the first turn is out before the next message comes
        await sim.deliver(url, sim.messenger_text("PSID_1", "again"))
        sent = await sim.wait_for_sends(6)
        rows = (await finished(gw, ["PSID_1"]))["PSID_1"]
        counts = await best_effort_counts(gw)
    assert [action(s) for s in sent] == ["mark_seen", "typing_on", None] * 2
    assert [s.body["message"]["text"] for s in (sent[2], sent[5])] == ["echo: hello", "echo: again"]
    assert [(r["kind"], r["status"], riders(r)) for r in rows] == [
        ("message", "sent", ["mark_seen", "typing_on"])
    ] * 2
    assert counts == {"sent": 4}
    assert len(sim.sent) == 6


async def test_an_action_never_makes_a_queued_reply_wait_for_the_rate_budget(
    sim: GraphSimulator, graph_url: str
) -> None:
    """Two calls per second and two messages queued back to back: the first reply's actions take what the
    budget has above its reserve; the second's reach the head of the line just after the first reply took
    the last token, and are dropped at once. Before, each waited half a second for a token while the reply
    behind it waited too."""
    sim.send_delay = 0.1
    async with run_gateway(messenger(sim, graph_url, rate_limit=2), bot=Echo()) as gw:
        url = gw.webhook_url("messenger", "shop")
        for text in ("one", "two"):
            assert (await sim.deliver(url, sim.messenger_text("PSID_1", text))).status_code == 200
        await wait_until(lambda: len([s for s in sim.sent if action(s) is None]) >= 2, timeout=10)
        first_reply = next(i for i, s in enumerate(sim.sent) if action(s) is None) + 1
        rows = (await finished(gw, ["PSID_1"]))["PSID_1"]
        counts = await best_effort_counts(gw)
    # nothing of the second turn went out but its reply: the budget was below its reserve
    assert [(action(s), s.body.get("message")) for s in sim.sent[first_reply:]] == [
        (None, {"text": "echo: two"})
    ]
    assert [(r["kind"], r["status"], r["reason"], riders(r)) for r in rows] == [
        ("message", "sent", None, ["mark_seen", "typing_on"])
    ] * 2
    assert counts["skipped"] >= 2 and counts["skipped"] + counts.get("sent", 0) == 4


async def test_actions_held_up_behind_a_retrying_reply_are_skipped_as_stale(
    sim: GraphSimulator, graph_url: str
) -> None:
    """The platform is down for 4 s: the first reply waits for its retries, the second message's actions
    wait behind it. When the platform is back they are seconds old, announce nothing true any more, and
    are skipped: the two replies go out back to back."""
    config = messenger(sim, graph_url)
    config["pipeline"]["max_backoff"] = 1
    sim.outage(4)
    async with run_gateway(config, bot=Echo()) as gw:
        url = gw.webhook_url("messenger", "shop")
        for text in ("one", "two"):
            assert (await sim.deliver(url, sim.messenger_text("PSID_1", text))).status_code == 200
        await wait_until(lambda: len(sim.sent) >= 2, timeout=15)
        rows = (await finished(gw, ["PSID_1"]))["PSID_1"]
        counts = await best_effort_counts(gw)
    assert [s.body.get("message") for s in sim.sent] == [{"text": "echo: one"}, {"text": "echo: two"}]
    assert [(r["kind"], r["status"], riders(r)) for r in rows] == [
        ("message", "sent", ["mark_seen", "typing_on"])
    ] * 2
    first, second = rows
    assert first["attempts"] >= 2 and second["attempts"] == 1
    # the first reply's actions were tried during the outage and failed; on each retry of the reply they
    # were tried again while fresh, and skipped once stale; the second reply's were stale when it went
    assert counts["failed"] >= 2 and counts["skipped"] >= 2
    assert counts["failed"] + counts["skipped"] == 2 * (first["attempts"] + second["attempts"])
    assert "sent" not in counts


async def test_a_failed_action_never_fails_the_reply_it_rides_on(sim: GraphSimulator, graph_url: str) -> None:
    """The platform refuses both actions (a permanent error): they are counted as failed and the reply,
    sent next, goes out on its first try."""
    sim.fail_next(2, code=100, actions=True)
    async with run_gateway(messenger(sim, graph_url), bot=Echo()) as gw:
        url = gw.webhook_url("messenger", "shop")
        assert (await sim.deliver(url, sim.messenger_text("PSID_1", "hello"))).status_code == 200
        (reply,) = await sim.wait_for_sends(1)
        rows = (await finished(gw, ["PSID_1"]))["PSID_1"]
        counts = await best_effort_counts(gw)
    assert reply.body["message"] == {"text": "echo: hello"} and len(sim.sent) == 1
    assert [(r["status"], r["attempts"], r["reason"]) for r in rows] == [("sent", 1, None)]
    assert counts == {"failed": 2}


async def test_an_action_finding_no_free_send_slot_is_skipped_and_the_reply_sent(
    sim: GraphSimulator, graph_url: str
) -> None:
    """One send in flight at a time for the integration: the reply holds the slot, so its actions find
    none free and are skipped at once; the reply goes out."""
    async with run_gateway(messenger(sim, graph_url), bot=Echo()) as gw:
        delivery = gw.gateway.delivery
        channel = delivery.channel("messenger", "shop")
        assert channel is not None
        lane = delivery.lanes.of(channel)
        delivery.lanes._lanes[("messenger", "shop")] = Lane(lane.limiter, SendWindow(maximum=1, rate=300))
        url = gw.webhook_url("messenger", "shop")
        assert (await sim.deliver(url, sim.messenger_text("PSID_1", "hello"))).status_code == 200
        rows = (await finished(gw, ["PSID_1"]))["PSID_1"]
        counts = await best_effort_counts(gw)
    assert [s.body.get("message") for s in sim.sent] == [{"text": "echo: hello"}]
    assert [(r["status"], riders(r)) for r in rows] == [("sent", ["mark_seen", "typing_on"])]
    assert counts == {"skipped": 2}
