"""The hot path's cheaper forms (issue 15) keep their meaning: a finished or fallback row is the same row
when written as plain SQL on the writer, events screened by the webhook route are not screened again, and a
metric's labelled child is kept rather than looked up."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from prometheus_client import generate_latest

from channelgate.channels.base import InboundMessage, Outbound
from channelgate.metrics import Metrics
from channelgate.store import NewOutbound, Store
from channelgate.store import inbox as inbox_module
from channelgate.store.inbox import LeaseLost
from channelgate.turns import TextInput, User


def message(key: str, user: str = "u1", text: str = "hi") -> InboundMessage:
    return InboundMessage(
        dedup_key=key, user=User(id=user), input=TextInput(text=text), platform_message_id=key
    )


async def _queued(store: Store, key: str, bodies: list[dict[str, Any]]) -> str:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message(key)])
    turn, conversation = accepted.new_turns[0]
    outbounds = [NewOutbound(Outbound(body)) for body in bodies]
    await store.inbox.complete_turn(turn, conversation, "relay", "main", outbounds)
    return conversation


def _no_second_connection(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a file SQLite store, the aiosqlite connection's transactions fail: what runs must be on the
    writer thread."""
    if not store._threaded:
        return

    @asynccontextmanager
    async def refused() -> AsyncIterator[Any]:
        raise AssertionError("a hot-path statement took a transaction on the aiosqlite connection")
        yield  # pragma: no cover

    monkeypatch.setattr(store, "tx", refused)


async def test_a_finished_row_frees_its_line_without_a_transaction_of_its_own(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = await _queued(store, "f1", [{"n": 1}, {"n": 2}, {"n": 3}])
    _no_second_connection(store, monkeypatch)
    (head,) = await store.deliveries.claim("w", time.time(), 10, 30)
    await store.deliveries.mark_failed(head["id"], "skipped: rate budget", 0)
    (second,) = await store.deliveries.claim("w", time.time(), 10, 30)
    assert second["body"] == {"n": 2}
    await store.deliveries.mark_failed(second["id"], "refused", 3, dead=True)
    monkeypatch.undo()
    rows = {r["id"]: r for r in await store.outbox.rows(conversation)}
    assert rows[head["id"]]["status"] == "failed"
    assert rows[head["id"]]["reason"] == "skipped: rate budget"
    assert rows[head["id"]]["attempts"] == 0
    assert rows[head["id"]]["lease_owner"] is None and rows[head["id"]]["lease_until"] is None
    assert rows[second["id"]]["status"] == "dead" and rows[second["id"]]["attempts"] == 3


async def test_a_fallback_replaces_the_body_and_is_queued_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = await _queued(store, "fb", [{"text": "late"}])
    _no_second_connection(store, monkeypatch)
    (row,) = await store.deliveries.claim("w", time.time(), 10, 30)
    template = {"template": {"name": "follow_up", "params": ["ü", 1]}}
    await store.deliveries.use_fallback(row["id"], template, "window closed, fallback sent: 24 h")
    (again,) = await store.deliveries.claim("w", time.time(), 10, 30)
    monkeypatch.undo()
    assert again["id"] == row["id"]
    assert again["body"] == template and again["fallback"] is None
    (stored,) = await store.outbox.rows(conversation)
    assert stored["reason"] == "window closed, fallback sent: 24 h"


async def test_events_the_caller_screened_are_not_screened_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def screened_twice(events: Any) -> Any:
        raise AssertionError("screened again")

    monkeypatch.setattr(inbox_module, "screen_all", screened_twice)
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("s1")], screened=True)
    assert len(accepted.new_turns) == 1
    with pytest.raises(AssertionError, match="screened again"):  # any other caller is screened
        await store.inbox.accept("relay", "main", "en-US", [message("s2")])


def test_a_labelled_child_is_kept_and_counts_as_before() -> None:
    metrics = Metrics()
    child = metrics.webhooks.labels("whatsapp", "accepted")
    child.inc()
    assert metrics.webhooks.labels("whatsapp", "accepted") is child
    metrics.webhooks.labels(channel="whatsapp", outcome="accepted").inc()  # keywords still work
    metrics.bot_latency.labels("whatsapp").observe(0.01)
    metrics.queue_depth.labels("inbox_pending").set(3)
    text = generate_latest(metrics.registry).decode()
    assert 'channelgate_webhooks_total{channel="whatsapp",outcome="accepted"} 2.0' in text
    assert 'channelgate_bot_latency_seconds_count{channel="whatsapp"} 1.0' in text
    assert 'channelgate_queue_depth{queue="inbox_pending"} 3.0' in text
    metrics.webhooks.remove("whatsapp", "accepted")
    fresh = metrics.webhooks.labels("whatsapp", "accepted")
    assert fresh is not child
    fresh.inc()
    assert 'outcome="accepted"} 1.0' in generate_latest(metrics.registry).decode()


async def test_the_last_turn_releases_its_conversation_and_an_earlier_one_keeps_it(store: Store) -> None:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("t1"), message("t2")])
    conversation = accepted.new_turns[0][1]
    first = await store.inbox.claim_conversation(conversation, "w", 30)
    assert first is not None
    _, following = await store.inbox.complete_turn(first["id"], conversation, "relay", "main", [], owner="w")
    assert following is not None and following["dedup_key"] == "t2"
    assert await store.inbox.claim_conversation(conversation, "other", 30) is None  # still held by "w"
    _, following = await store.inbox.complete_turn(
        following["id"], conversation, "relay", "main", [], owner="w"
    )
    assert following is None
    conv = await store.conversations.get(conversation)
    assert conv is not None and conv["lease_owner"] is None and conv["lease_until"] is None
    # another worker's completion is refused: it neither ends the turn nor releases a lease it does not hold
    await store.inbox.accept("relay", "main", "en-US", [message("t3")])
    third = await store.inbox.claim_conversation(conversation, "w", 30)
    assert third is not None
    await store.inbox.accept("relay", "main", "en-US", [message("t4")])
    with pytest.raises(LeaseLost):
        await store.inbox.complete_turn(third["id"], conversation, "relay", "main", [], owner="stale")
    assert [r["status"] for r in await store.inbox.rows(conversation)][-2:] == ["pending", "pending"]
    conv = await store.conversations.get(conversation)
    assert conv is not None and conv["lease_owner"] == "w"
