"""Retention (store/retention.py): what the pruning job deletes and keeps, in bounded batches, on both
engines; replicas pruning one PostgreSQL database at once; the job inside a running gateway; the settings."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select, update

from channelgate.channels.registry import load_registry
from channelgate.config import ConfigError, parse_config
from channelgate.store import Store
from channelgate.store.retention import PRUNE_INBOX, forget_conversation, prune, prune_batch
from channelgate.store.tables import conversations, inbox, kv, outbox
from channelgate.testing.gateway import run_gateway, wait_until

DAY = 86400.0
KEEP = 30 * DAY
NOW = time.time()
OLD = NOW - 40 * DAY
RECENT = NOW - 2 * DAY


async def add_conversation(store: Store, user: str, **values: Any) -> str:
    conversation_id = uuid.uuid4().hex
    row = {
        "id": conversation_id,
        "channel": "relay",
        "label": "main",
        "user_id": user,
        "locale": "en-US",
        "profile_fetched": False,
        "created_at": OLD,
        "updated_at": OLD,
        **values,
    }
    await store.run(lambda conn: conn.execute(insert(conversations).values(**row)))
    return conversation_id


async def add_turn(store: Store, conversation_id: str, status: str, at: float) -> int:
    row = {
        "channel": "relay",
        "label": "main",
        "dedup_key": uuid.uuid4().hex,
        "conversation_id": conversation_id,
        "kind": "message",
        "input": {"type": "text", "text": "hi"},
        "status": status,
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
        "done_at": None if status == "pending" else at,
    }
    return int(
        await store.run(lambda c: c.execute(insert(inbox).values(**row).returning(inbox.c.id)).scalar())
    )


async def add_message(store: Store, conversation_id: str, status: str, at: float, **values: Any) -> int:
    row = {
        "conversation_id": conversation_id,
        "channel": "relay",
        "label": "main",
        "kind": "message",
        "best_effort": False,
        "body": {"text": "hello"},
        "status": status,
        "attempts": 1,
        "next_attempt_at": at,
        "created_at": at,
        "updated_at": at,
        **values,
    }
    return int(
        await store.run(lambda c: c.execute(insert(outbox).values(**row).returning(outbox.c.id)).scalar())
    )


async def ids(store: Store, table: Any) -> set[Any]:
    key = table.c.key if table is kv else table.c.id
    async with store.engine.connect() as conn:
        return {r[0] for r in await conn.execute(select(key))}


async def test_old_finished_rows_go_and_everything_else_stays(store: Store) -> None:
    conv = await add_conversation(store, "ann")
    gone_turns = {await add_turn(store, conv, s, OLD) for s in ("done", "failed")}
    kept_turns = {
        await add_turn(store, conv, "done", RECENT),
        await add_turn(store, conv, "pending", OLD),  # a turn waiting for its retry, however old
    }
    kept_messages = {await add_message(store, conv, s, OLD) for s in ("held", "queued", "dead")}
    gone_messages = {await add_message(store, conv, s, OLD) for s in ("sent", "delivered", "read", "failed")}
    kept_messages |= {
        await add_message(store, conv, "sent", RECENT),
        await add_message(store, conv, "sending", OLD, lease_owner="other", lease_until=NOW + 30),
        # a sent row still under a lease (a status applied while a worker held it) is not touched
        await add_message(store, conv, "sent", OLD, lease_owner="other", lease_until=NOW + 30),
    }
    # another conversation: the last message that went out before a dead letter stays (a replay of the dead
    # letter starts after it); an earlier one goes
    other = await add_conversation(store, "bob")
    gone_messages.add(await add_message(store, other, "sent", OLD))
    before_dead = await add_message(store, other, "delivered", OLD)
    dead = await add_message(store, other, "dead", OLD)
    kept_messages |= {before_dead, dead}
    await store.kv.set("token", "old", ttl=0.01)
    await store.kv.set("media", "fresh", ttl=3600)
    await store.kv.set("forever", "value")
    await asyncio.sleep(0.05)

    pruned = await prune(store, history_seconds=KEEP, batch_size=2, now=time.time())

    assert pruned.counts == {"kv": 1, "locks": 0, "inbox": len(gone_turns), "outbox": len(gone_messages)}
    assert await ids(store, inbox) == kept_turns
    assert await ids(store, outbox) == kept_messages
    assert await ids(store, kv) == {"media", "forever"}
    assert await store.conversations.get(conv) is not None  # the user's row (locale, bot state) stays
    assert await store.dead_letters.replay(dead) is not None  # and the replay still finds where to start
    assert {r["id"] for r in await store.outbox.rows(other) if r["status"] == "queued"} == {dead}


async def test_keeping_forever_prunes_only_expired_values(store: Store) -> None:
    conv = await add_conversation(store, "ann")
    turn = await add_turn(store, conv, "done", OLD - 1000 * DAY)
    message = await add_message(store, conv, "sent", OLD - 1000 * DAY)
    pruned = await prune(store, history_seconds=None, now=NOW)
    assert pruned.total == 0
    assert await ids(store, inbox) == {turn} and await ids(store, outbox) == {message}


async def test_each_delete_is_bounded_by_the_batch_size(store: Store) -> None:
    conv = await add_conversation(store, "ann")
    for _ in range(7):
        await add_turn(store, conv, "done", OLD)
    params = {"cutoff": NOW - KEEP, "limit": 3}
    assert [await prune_batch(store, PRUNE_INBOX, params) for _ in range(4)] == [3, 3, 1, 0]


async def add_many_old_rows(store: Store, n: int) -> None:
    conv = await add_conversation(store, "many")
    turns = [
        {
            "channel": "relay",
            "label": "main",
            "dedup_key": f"k{i}",
            "conversation_id": conv,
            "kind": "message",
            "status": "done",
            "attempts": 0,
            "next_attempt_at": OLD,
            "created_at": OLD,
            "done_at": OLD,
        }
        for i in range(n)
    ]
    messages = [
        {
            "conversation_id": conv,
            "channel": "relay",
            "label": "main",
            "kind": "message",
            "best_effort": False,
            "body": {"text": str(i)},
            "status": "sent",
            "attempts": 1,
            "next_attempt_at": OLD,
            "created_at": OLD,
            "updated_at": OLD,
        }
        for i in range(n)
    ]

    def job(conn: Connection) -> None:
        conn.execute(insert(inbox), turns)
        conn.execute(insert(outbox), messages)

    await store.run(job)


async def count(store: Store, table: Any) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_replicas_pruning_one_postgres_database_at_once(pg_url: str) -> None:
    """Without the store lock (as if it expired mid-run), two replicas' batches overlap: SKIP LOCKED makes
    them share the rows instead of waiting on or deadlocking over them."""
    first, second = Store(pg_url), Store(pg_url)
    try:
        await first.create_schema()
        await second.create_schema()
        await add_many_old_rows(first, 3000)
        results = await asyncio.gather(
            *(prune(s, history_seconds=KEEP, batch_size=100, now=NOW, pause=0) for s in (first, second))
        )
        assert sum(r.counts["inbox"] for r in results) == 3000
        assert sum(r.counts["outbox"] for r in results) == 3000
        assert await count(first, inbox) == 0 and await count(first, outbox) == 0
    finally:
        await first.close()
        await second.close()


async def test_the_gateway_prunes_in_the_background_and_counts_it(store_url: str) -> None:
    config = {
        "store": store_url,
        "integrations": [],
        "retention": {"history_days": 30, "prune_interval": 0.1, "batch_size": 50},
    }
    async with run_gateway(config) as gw:
        await add_many_old_rows(gw.store, 120)
        recent = await add_turn(gw.store, await add_conversation(gw.store, "new"), "done", RECENT)

        metrics = gw.gateway.metrics.registry

        def counted() -> bool:  # counted once the run that deleted them ended
            return metrics.get_sample_value("channelgate_pruned_rows_total", {"table": "outbox"}) == 120

        await wait_until(counted, timeout=30)
        assert metrics.get_sample_value("channelgate_pruned_rows_total", {"table": "inbox"}) == 120
        assert await count(gw.store, outbox) == 0 and await ids(gw.store, inbox) == {recent}


async def test_forget_conversation_deletes_its_rows_and_nothing_else(store: Store) -> None:
    ann = await add_conversation(store, "ann")
    bob = await add_conversation(store, "bob")
    for status in ("done", "pending"):
        await add_turn(store, ann, status, RECENT)
    for status in ("sent", "queued", "held", "dead"):
        await add_message(store, ann, status, RECENT)
    bobs = ({await add_turn(store, bob, "done", RECENT)}, {await add_message(store, bob, "queued", RECENT)})

    assert await forget_conversation(store, ann) == {
        "conversations": 1,
        "inbox": 2,
        "outbox": 4,
        "broadcast_recipients": 0,
    }
    assert await store.conversations.get(ann) is None
    assert (await ids(store, inbox), await ids(store, outbox)) == bobs
    assert await store.conversations.get(bob) is not None
    assert await forget_conversation(store, ann) is None  # nothing left to delete


async def test_forget_conversation_waits_for_a_running_turn(store: Store) -> None:
    from channelgate.store.retention import ConversationBusy

    ann = await add_conversation(store, "ann", lease_owner="worker", lease_until=time.time() + 30)
    with pytest.raises(ConversationBusy):
        await forget_conversation(store, ann)
    await store.run(lambda c: c.execute(update(conversations).values(lease_until=time.time() - 1)))
    assert (await forget_conversation(store, ann) or {}).get("conversations") == 1


@pytest.mark.parametrize(
    ("retention", "field"),
    [
        ({"history_days": 3}, "retention.history_days"),
        ({"prune_interval": 0}, "retention.prune_interval"),
        ({"batch_size": 0}, "retention.batch_size"),
        ({"keep": 1}, "retention.keep"),
    ],
)
def test_retention_settings_name_the_field(retention: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config({"integrations": [], "retention": retention}, load_registry())


def test_retention_defaults_and_keeping_forever() -> None:
    registry = load_registry()
    default = parse_config({"integrations": []}, registry).settings.retention
    assert (default.history_seconds, default.prune_interval, default.batch_size) == (30 * DAY, 600, 1000)
    for forever in (0, None):
        config = parse_config({"integrations": [], "retention": {"history_days": forever}}, registry)
        assert config.settings.retention.history_seconds is None
