"""The hand-off repository on SQLite and PostgreSQL: who holds a conversation, the desk's own line in the
outbox, hand-backs with the bot's event turn, idempotent forwarding and agent replies."""

from __future__ import annotations

import time

from channelgate.channels.base import Outbound
from channelgate.store import NewOutbound, Store
from channelgate.store import handoffs as handoff_rows
from channelgate.store import outbox as outbox_rows


async def a_conversation(store: Store, user: str = "u1") -> str:
    return await store.conversations.for_user("relay", "main", user, "en-US")


async def test_take_forward_reply_and_hand_back(store: Store) -> None:
    cid = await a_conversation(store)
    assert await store.handoffs.holder(cid) == "bot"
    opening = [({"op": "open", "conversation_id": cid}, "desk: open")]
    held = await store.handoffs.take(cid, "relay", "main", reason="operator", note="vip", desk=opening)
    assert held is not None and held["holder"] == "agent" and held["note"] == "vip"
    assert await store.handoffs.take(cid, "relay", "main", reason="user", note=None) is None  # already held
    assert await store.handoffs.holder(cid) == "agent"
    assert await store.handoffs.holders([cid, "x" * 32]) == {cid: "agent", "x" * 32: "bot"}
    assert await store.handoffs.held_counts() == {("relay", "main"): 1}

    # the desk's rows stand in their own line, not the conversation's
    desk = await store.outbox.rows(held["desk_line"])
    assert [(r["kind"], r["body"]["op"], r["body"]["handoff_id"]) for r in desk] == [
        ("desk", "open", held["handoff_id"])
    ]
    assert await store.outbox.rows(cid) == []

    async def forward(key: str) -> None:
        body = {"op": "message", "conversation_id": cid, "input": {"type": "text", "text": "hi"}}
        await store.run(lambda conn: handoff_rows.forward(conn, cid, body, "desk: message", key, time.time()))

    await forward("turn:1")
    await forward("turn:1")  # a turn run again after a crash forwards once
    assert len(await store.outbox.rows(held["desk_line"])) == 2

    now = time.time()
    item = NewOutbound(Outbound(body={"text": "hello"}, summary="hello"))
    rows = [outbox_rows.new_row(cid, "relay", "main", item, now, None, None)]
    first = await store.handoffs.agent_replied(cid, rows, request_id="agent:1", now=now + 5)
    assert first is not None and first[1] is not None and 5.0 <= first[1] < 10.0  # seconds to the first reply
    assert await store.handoffs.agent_replied(cid, rows, request_id="agent:1") is None  # a repeat
    assert await store.handoffs.request_rows("agent:1") == first[0]
    second = await store.handoffs.agent_replied(cid, rows, request_id="agent:2")
    assert second is not None and second[1] is None  # only the first reply is timed

    event = {"input": {"type": "event", "name": "handoff_ended", "data": {"reason": "released"}}}
    back = await store.handoffs.release(
        cid, reason="released", event_turn={**event, "dedup_key": "handoff_ended:x"}
    )
    assert back is not None and await store.handoffs.holder(cid) == "bot"
    assert await store.handoffs.release(cid, reason="released") is None  # nothing to give back
    turns = await store.inbox.rows(cid)
    assert [t["input"] for t in turns] == [event["input"]]
    assert await store.handoffs.held_counts() == {}


async def test_idle_sweep_only_takes_what_stayed_idle(store: Store) -> None:
    quiet, busy = await a_conversation(store, "quiet"), await a_conversation(store, "busy")
    long_ago = time.time() - 1000
    await store.handoffs.take(quiet, "relay", "main", reason="bot", note=None, now=long_ago)
    await store.handoffs.take(busy, "relay", "main", reason="bot", note=None, now=long_ago)
    cutoff = time.time() - 500
    assert {h["conversation_id"] for h in await store.handoffs.idle(cutoff)} == {quiet, busy}
    await store.handoffs.agent_replied(busy, [], request_id="agent:busy")  # activity since the look
    assert await store.handoffs.release(busy, reason="idle", idle_before=cutoff) is None
    assert await store.handoffs.release(quiet, reason="idle", idle_before=cutoff) is not None
    assert await store.handoffs.holders([quiet, busy]) == {quiet: "bot", busy: "agent"}


async def test_a_message_racing_a_hand_back_becomes_the_bots_next_turn(store: Store) -> None:
    # the turn read "agent", then the conversation was given back before the turn committed: its input is
    # queued for the bot (after handoff_ended) rather than reaching neither the desk nor the bot
    cid = await a_conversation(store)
    held = await store.handoffs.take(cid, "relay", "main", reason="operator", note=None)
    assert held is not None
    event = {"input": {"type": "event", "name": "handoff_ended", "data": {"reason": "resolved"}}}
    await store.handoffs.release(cid, reason="resolved", event_turn={**event, "dedup_key": "handoff_ended:y"})
    conversation = {"id": cid, "channel": "relay", "label": "main"}
    text = {"type": "text", "text": "are you there?"}
    moved = await store.run(
        lambda conn: handoff_rows.to_bot_if_released(conn, conversation, text, "turn:9", 1.0)
    )
    assert moved is True
    assert [t["input"] for t in await store.inbox.rows(cid)] == [event["input"], text]
    await store.handoffs.take(cid, "relay", "main", reason="operator", note=None)
    held_now = await store.run(
        lambda conn: handoff_rows.to_bot_if_released(conn, conversation, text, "turn:10", 1.0)
    )
    assert held_now is False  # an agent holds it: the desk gets it as before
