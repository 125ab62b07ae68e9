"""The delivery claim with a backlog, on both engines: what waits behind a head in flight is not due (so the
claim's cost stays flat), comes due the moment the head finishes, and the claim answers right after ANALYZE
(SQLite 3.40 answered nothing to the earlier form of the query once statistics existed)."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from channelgate.channels.base import Outbound
from channelgate.store import Store
from channelgate.store import outbox as outbox_rows
from channelgate.store.outbox import NewOutbound
from channelgate.store.tables import outbox


async def queue(store: Store, conversation: str, n: int = 1) -> list[int]:
    """``n`` messages queued in a conversation's line, as a turn's replies are."""
    now = time.time()
    rows = [
        outbox_rows.new_row(conversation, "relay", "main", NewOutbound(Outbound({"n": i})), now, None, None)
        for i in range(n)
    ]
    return await store.run(lambda conn: outbox_rows.insert(conn, rows))


async def due_at(store: Store, outbox_id: int) -> float:
    async with store.engine.connect() as conn:
        found = await conn.execute(select(outbox.c.next_attempt_at).where(outbox.c.id == outbox_id))
        return float(found.scalar_one())


async def test_a_backlog_behind_heads_in_flight_gives_exactly_the_heads_that_can_go_after_analyze(
    store: Store,
) -> None:
    lines = [await queue(store, f"busy{c}", 40) for c in range(20)]
    in_flight = await store.deliveries.claim("w", time.time(), 100, 30)
    assert sorted(r["id"] for r in in_flight) == [line[0] for line in lines]
    held = [await due_at(store, line[-1]) for line in lines]
    assert min(held) > time.time() + 20  # not due, so not scanned by every claim
    can_go = [(await queue(store, f"free{c}"))[0] for c in range(10)]
    async with store.engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")
    got = await store.deliveries.claim("w", time.time(), 4, 30)
    assert [r["id"] for r in got] == can_go[:4]
    rest = await store.deliveries.claim("w", time.time(), 100, 30)
    assert [r["id"] for r in rest] == can_go[4:]


async def test_what_waits_behind_a_head_is_due_the_moment_it_finishes(store: Store) -> None:
    first, second = await queue(store, "c", 2)
    (head,) = await store.deliveries.claim("w", time.time(), 10, 30)
    assert head["id"] == first
    later = (await queue(store, "c"))[0]  # queued while the head is in flight: due, but not claimable
    assert await store.deliveries.claim("w", time.time(), 10, 30) == []
    await store.deliveries.mark_failed(first, "skipped: no budget", 1)  # a best-effort head that did not go
    (next_head,) = await store.deliveries.claim("w", time.time(), 10, 30)
    assert next_head["id"] == second
    await store.deliveries.mark_sent(second, "pm-2", 1)
    assert [r["id"] for r in await store.deliveries.claim("w", time.time(), 10, 30)] == [later]


async def test_a_follower_of_a_crashed_claim_is_due_when_the_claim_runs_out(store: Store) -> None:
    first, second = await queue(store, "c", 2)
    await store.deliveries.claim("dead-worker", time.time(), 10, lease=0.05)
    await asyncio.sleep(0.1)
    assert await due_at(store, second) <= time.time()  # held only as long as the claim
    assert await store.deliveries.recover(time.time()) == 1
    (again,) = await store.deliveries.claim("w", time.time(), 10, 30)
    assert again["id"] == first  # the order is kept whatever the follower's due time says


async def test_a_row_queued_behind_a_send_in_flight_waits_for_it_and_goes_when_it_ends(store: Store) -> None:
    (first,) = await queue(store, "c")
    (head,) = await store.deliveries.claim("w", time.time(), 10, 30)
    later = (await queue(store, "c"))[0]
    # held until the claim on the head ends: the claim's scan does not meet it while the head is in flight
    assert await due_at(store, later) == float(head["lease_until"] or 0)
    await store.deliveries.mark_sent(first, "pm-1", 1)
    assert await due_at(store, later) <= time.time()
    assert [r["id"] for r in await store.deliveries.claim("w", time.time(), 10, 30)] == [later]


async def test_a_finished_head_makes_only_the_next_row_of_its_line_due(store: Store) -> None:
    first, second, third = await queue(store, "c", 3)
    await store.deliveries.claim("w", time.time(), 10, 30)
    await store.deliveries.mark_sent(first, "pm-1", 1)
    assert await due_at(store, second) <= time.time()
    assert await due_at(store, third) > time.time() + 20  # still waits: the claim does not scan it
    (head,) = await store.deliveries.claim("w", time.time(), 10, 30)
    assert head["id"] == second
    await store.deliveries.mark_failed(second, "refused", 1)
    assert [r["id"] for r in await store.deliveries.claim("w", time.time(), 10, 30)] == [third]


async def test_a_finish_racing_an_insert_behind_it_never_strands_the_new_row(store: Store) -> None:
    """On PostgreSQL the insert locks the line's send in flight (FOR SHARE), so a finish that comes while the
    insert's transaction is open waits for it and then makes the new row due; on SQLite writes are serial."""
    (first,) = await queue(store, "c")
    await store.deliveries.claim("w", time.time(), 10, 30)
    now = time.time()
    row = outbox_rows.new_row("c", "relay", "main", NewOutbound(Outbound({"n": 1})), now, None, None)
    async with store.engine.begin() as conn:
        (later,) = await conn.run_sync(lambda c: outbox_rows.insert(c, [row]))
        finishing = asyncio.create_task(store.deliveries.mark_sent(first, "pm-1", 1))
        await asyncio.sleep(0.3)  # the finish starts while the insert is not committed yet
    await asyncio.wait_for(finishing, 10)
    assert await due_at(store, later) <= time.time()
    assert [r["id"] for r in await store.deliveries.claim("w", time.time(), 10, 30)] == [later]


async def test_the_claim_updates_the_rows_it_found_by_primary_key_not_by_scanning(store: Store) -> None:
    """The claim's outer ``UPDATE`` once read every queued row of ``ix_outbox_due`` to match the few ids it
    claims: a cost that grew with the whole backlog, on every claim (docs/benchmarks.md)."""
    from channelgate.store.deliveries import CLAIM_DELIVERIES

    if store.engine.dialect.name != "sqlite":
        return  # PostgreSQL's planner probes the primary key for ``id IN (...)`` as it is
    params = {"owner": "w", "now": time.time(), "until": time.time() + 30, "limit": 10}
    async with store.engine.connect() as conn:
        plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {CLAIM_DELIVERIES.sql}", params)
        details = [str(r[-1]) for r in plan]
    assert any("PRIMARY KEY" in d for d in details), details
    assert not any("ix_outbox_due (status=?)" in d for d in details), details
