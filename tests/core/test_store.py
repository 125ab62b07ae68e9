"""The store on both engines: atomic dedup, ordered claims, leases, recovery, shared state."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import select

from channelgate.channels.base import InboundMessage, Outbound, StatusUpdate
from channelgate.store import NewOutbound, Store, StoreKeyValue
from channelgate.store.tables import inbox
from channelgate.turns import TextInput, User


def message(key: str, user: str = "u1", text: str = "hi") -> InboundMessage:
    return InboundMessage(
        dedup_key=key, user=User(id=user), input=TextInput(text=text), platform_message_id=key
    )


async def test_the_same_event_accepted_concurrently_is_stored_once(store: Store) -> None:
    results = await asyncio.gather(
        *[store.inbox.accept("relay", "main", "en-US", [message("e1")]) for _ in range(20)]
    )
    assert sum(len(r.new_turns) for r in results) == 1
    assert sum(r.duplicates for r in results) == 19


async def test_a_batch_keeps_new_events_and_skips_seen_ones(store: Store) -> None:
    await store.inbox.accept("relay", "main", "en-US", [message("a")])
    result = await store.inbox.accept(
        "relay", "main", "en-US", [message("a"), message("b"), message("c", user="u2")]
    )
    assert len(result.new_turns) == 2 and result.duplicates == 1
    conversations = {c for _, c in result.new_turns}
    assert len(conversations) == 2


async def test_dedup_is_per_integration(store: Store) -> None:
    first = await store.inbox.accept("relay", "main", "en-US", [message("same")])
    second = await store.inbox.accept("relay", "other", "en-US", [message("same")])
    assert len(first.new_turns) == len(second.new_turns) == 1


async def test_a_conversation_is_claimed_by_one_worker_at_a_time(store: Store) -> None:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("x")])
    conversation = accepted.new_turns[0][1]
    claims = await asyncio.gather(
        *[store.inbox.claim_conversation(conversation, f"w{i}", 30) for i in range(10)]
    )
    winners = [i for i, row in enumerate(claims) if row is not None]
    assert len(winners) == 1
    await store.conversations.release(conversation, f"w{winners[0]}")
    assert await store.inbox.claim_conversation(conversation, "late", 30) is not None


async def test_turns_come_in_order_and_claimable_skips_leased(store: Store) -> None:
    accepted = await store.inbox.accept(
        "relay", "main", "en-US", [message(f"m{i}", text=str(i)) for i in range(3)]
    )
    conversation = accepted.new_turns[0][1]
    assert await store.inbox.claimable_conversations(time.time(), 10) == [conversation]
    row = await store.inbox.claim_conversation(conversation, "me", 30)
    assert await store.inbox.claimable_conversations(time.time(), 10) == []
    assert row is not None and row["input"] == {"type": "text", "text": "0"}
    _, row = await store.inbox.complete_turn(row["id"], conversation, "relay", "main", [], owner="me")
    assert row is not None and row["input"]["text"] == "1"
    _, row = await store.inbox.complete_turn(row["id"], conversation, "relay", "main", [], owner="me")
    _, row = await store.inbox.complete_turn(row["id"], conversation, "relay", "main", [], owner="me")
    assert row is None  # nothing left: the lease went with the last turn
    assert await store.inbox.claim_conversation(conversation, "other", 30) is None  # nothing pending


async def test_deliveries_are_handed_out_head_of_line_per_conversation(store: Store) -> None:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("k"), message("l", user="u2")])
    (t1, c1), (t2, c2) = accepted.new_turns
    await store.inbox.complete_turn(
        t1, c1, "relay", "main", [NewOutbound(Outbound({"n": 1})), NewOutbound(Outbound({"n": 2}))]
    )
    await store.inbox.complete_turn(t2, c2, "relay", "main", [NewOutbound(Outbound({"n": 3}))])
    first = await store.deliveries.claim("w", time.time(), 10, 30)
    assert sorted(r["body"]["n"] for r in first) == [1, 3]
    assert await store.deliveries.claim("w", time.time(), 10, 30) == []
    head = next(r for r in first if r["body"]["n"] == 1)
    await store.deliveries.mark_sent(head["id"], "pm-1", 1)
    second = await store.deliveries.claim("w", time.time(), 10, 30)
    assert [r["body"]["n"] for r in second] == [2]


async def test_a_crashed_sender_s_rows_come_back_after_the_lease(store: Store) -> None:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("z")])
    turn, conversation = accepted.new_turns[0]
    await store.inbox.complete_turn(turn, conversation, "relay", "main", [NewOutbound(Outbound({"n": 1}))])
    claimed = await store.deliveries.claim("dead-worker", time.time(), 10, lease=0.05)
    assert len(claimed) == 1
    await asyncio.sleep(0.1)
    assert await store.deliveries.recover(time.time()) == 1
    again = await store.deliveries.claim("new-worker", time.time(), 10, 30)
    assert [r["id"] for r in again] == [claimed[0]["id"]]


async def test_status_updates_apply_once_and_only_forward(store: Store) -> None:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("s")])
    turn, conversation = accepted.new_turns[0]
    [out_id], _ = await store.inbox.complete_turn(
        turn, conversation, "relay", "main", [NewOutbound(Outbound({"n": 1}))]
    )
    await store.deliveries.claim("w", time.time(), 10, 30)
    await store.deliveries.mark_sent(out_id, "pm-9", 1)
    read = StatusUpdate(dedup_key="r", user_id="u1", status="read", platform_message_id="pm-9")
    delivered = StatusUpdate(dedup_key="d", user_id="u1", status="delivered", platform_message_id="pm-9")
    assert (await store.inbox.accept("relay", "main", "en-US", [], [read])).statuses == 1
    assert (await store.inbox.accept("relay", "main", "en-US", [], [read])).statuses == 0
    await store.inbox.accept("relay", "main", "en-US", [], [delivered])
    rows = await store.outbox.rows(conversation)
    assert rows[0]["status"] == "read"


async def test_watermark_receipts_cover_earlier_messages(store: Store) -> None:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("w1")])
    turn, conversation = accepted.new_turns[0]
    ids, _ = await store.inbox.complete_turn(
        turn, conversation, "relay", "main", [NewOutbound(Outbound({"n": i})) for i in range(2)]
    )
    for out_id in ids:
        await store.deliveries.claim("w", time.time(), 10, 30)
        await store.deliveries.mark_sent(out_id, None, 1)
    mark = time.time() + 1
    await store.inbox.accept(
        "relay", "main", "en-US", [], [StatusUpdate("wm", "u1", "delivered", watermark=mark)]
    )
    assert [r["status"] for r in await store.outbox.rows(conversation)] == ["delivered", "delivered"]


async def test_key_values_expire_and_locks_exclude(store: Store) -> None:
    kv = StoreKeyValue(store, "owner-a", "wechat:main:")
    await kv.set("token", "abc", ttl=1.0)  # long enough for a loaded machine's writer queue
    assert await kv.get("token") == "abc"
    await asyncio.sleep(1.05)
    assert await kv.get("token") is None
    other = StoreKeyValue(store, "owner-b", "wechat:main:")
    order: list[str] = []

    async def hold(kv_: StoreKeyValue, name: str) -> None:
        async with kv_.lock("refresh"):
            order.append(f"{name}-in")
            await asyncio.sleep(0.05)
            order.append(f"{name}-out")

    await asyncio.gather(hold(kv, "a"), hold(other, "b"))
    assert order in (["a-in", "a-out", "b-in", "b-out"], ["b-in", "b-out", "a-in", "a-out"])


async def test_accept_holds_every_caller_to_the_id_and_text_rules(store: Store) -> None:
    """Whoever calls (webhooks, web chat, the API), what PostgreSQL would refuse is never written, on either
    engine, and one bad event does not cost the others."""
    result = await store.inbox.accept(
        "relay",
        "main",
        "en-US",
        [
            message("nul-user", user="a\x00b"),
            message("long-user", user="u" * 256),
            message("k" * 513),
            message("empty", text=" "),
            message("nul-text", text="a\x00b"),
            message("fine"),
        ],
        [StatusUpdate(dedup_key="s\x00", user_id="u1", status="read", platform_message_id="m")],
    )
    assert len(result.new_turns) == 2 and result.statuses == 0
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(inbox.c.dedup_key, inbox.c.input).order_by(inbox.c.id))).all()
    assert [(key, value["text"]) for key, value in rows] == [("nul-text", "ab"), ("fine", "hi")]


async def test_statuses_beyond_a_batch_are_all_applied(store: Store) -> None:
    statuses = [
        StatusUpdate(dedup_key=f"s{i}", user_id="u1", status="delivered", platform_message_id=f"m{i}")
        for i in range(250)
    ]
    result = await store.inbox.accept("relay", "main", "en-US", [message("with-statuses")], statuses)
    assert len(result.new_turns) == 1 and result.statuses == 250
    again = await store.inbox.accept("relay", "main", "en-US", [], statuses)
    assert again.statuses == 0


async def test_a_line_is_claimed_head_first_due_or_not_and_by_one_claimer(store: Store) -> None:
    """claim_line (connection_routes.py): the replica holding a socket takes a line a peer put back."""
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("line")])
    turn, conversation = accepted.new_turns[0]
    items = [NewOutbound(Outbound({"n": 1})), NewOutbound(Outbound({"n": 2}))]
    await store.inbox.complete_turn(turn, conversation, "relay", "main", items)
    (head,) = await store.deliveries.claim("a", time.time(), 10, 30)
    assert await store.deliveries.claim_line(conversation, "b", time.time(), 30) is None  # in flight on a
    later = time.time() + 300
    await store.deliveries.mark_retry(
        head["id"], conversation, 0, later, "the user is away", None
    )  # not due for 5 min
    now = time.time()
    claims = await asyncio.gather(
        *(store.deliveries.claim_line(conversation, f"b{i}", now, 30) for i in range(4))
    )
    taken = [c for c in claims if c is not None]
    assert [(c["id"], c["status"]) for c in taken] == [(head["id"], "sending")]  # fenced: one claimer
    assert (
        await store.deliveries.claim_line(conversation, "b", time.time(), 30) is None
    )  # the head is in flight
    await store.deliveries.mark_retry(head["id"], conversation, 0, later, "away again", None)
    assert (
        await store.deliveries.claim_line(conversation, "b", time.time(), 30, after=head["id"]) is None
    )  # no retake
    await store.deliveries.mark_sent(head["id"], "pm-1", 1)
    follower = await store.deliveries.claim_line(conversation, "b", time.time(), 30, after=head["id"])
    assert follower is not None and follower["body"] == {"n": 2}


async def test_held_rows_are_read_back_in_order_and_only_while_held(store: Store) -> None:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("held")])
    turn, conversation = accepted.new_turns[0]
    items = [NewOutbound(Outbound({"n": n}), "held") for n in (1, 2)]
    ids, _ = await store.inbox.complete_turn(turn, conversation, "relay", "main", items)
    assert [r["body"] for r in await store.deliveries.held(list(reversed(ids)))] == [{"n": 1}, {"n": 2}]
    await store.outbox.release_held(ids, 1)
    assert await store.deliveries.held(ids) == []


async def test_claimable_among_named_conversations_looks_only_at_those(store: Store) -> None:
    """A peer's news names the conversations of its accepts: the poll it triggers looks those up by id
    (fleet.py, ``_peer_turns``) and must find them, and only them, as a full poll would."""
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("n1"), message("n2", user="u2")])
    (_, first), (_, second) = accepted.new_turns
    now = time.time()
    assert sorted(await store.inbox.claimable_conversations(now, 10)) == sorted([first, second])
    assert await store.inbox.claimable_conversations(now, 10, among=[second]) == [second]
    assert await store.inbox.claimable_conversations(now, 10, among=["unknown"]) == []
    await store.inbox.claim_conversation(second, "elsewhere", 30)
    assert await store.inbox.claimable_conversations(now, 10, among=[first, second]) == [first]


async def test_sqlite_keeps_statement_journals_in_memory(tmp_path: Path) -> None:
    """Multi-row statements journal the pages they change; in temporary files that was a third of the writer
    thread's pwrite calls under load (strace), so the writer's connection keeps them in memory."""
    store = Store(f"sqlite:///{tmp_path}/gw.db")
    await store.create_schema()
    try:
        writer = await store.run(lambda conn: conn.exec_driver_sql("PRAGMA temp_store").scalar())
        assert writer == 2  # MEMORY
    finally:
        await store.close()
