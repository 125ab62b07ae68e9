"""The delivery claim's cost with a backlog, on SQLite and PostgreSQL (``python -m bench.claim_cost``).

Why: with 150 ms platform sends the delivery worker claims while thousands of replies wait behind the
heads already in flight, and a claim that walks every one of them before it finds a head that can go
costs more the longer the queue (docs/benchmarks.md, "The delivery claim with a backlog").

Each point builds, through the store's own paths (``outbox.insert``, ``Deliveries.claim``): a sent
history, ``--in-flight`` conversations whose head is claimed (``sending``) with ``N`` queued followers
spread over them, then ``--heads`` conversations whose single message could go, queued after the
followers (so the followers are due first). It then times ``--rounds`` claims of ``--limit`` rows, giving
each back (``unclaim``) so every round sees the same queue, and checks every answer: the claim must return
exactly the ``--limit`` oldest heads that could go, never a follower. ``--analyze`` runs ``ANALYZE``
first (what an operator may do; SQLite 3.40 was seen answering wrongly after it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.soak import store_url
from channelgate.channels.base import Outbound
from channelgate.store import Store
from channelgate.store import outbox as outbox_rows
from channelgate.store.deliveries import CLAIM_DELIVERIES
from channelgate.store.outbox import NewOutbound
from channelgate.store.rows import NewDelivery


def _row(conversation: str, now: float, status: str = "queued") -> NewDelivery:
    item = NewOutbound(Outbound(body={"text": "hi"}, summary="hi"), status=status)
    return outbox_rows.new_row(conversation, "whatsapp", "bench", item, now, None, None)


async def _insert(store: Store, rows: list[NewDelivery]) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        ids += await store.run(partial(outbox_rows.insert, rows=chunk))
    return ids


async def _plan(store: Store, now: float, limit: int) -> list[str]:
    """The claim's plan, as the engine chose it for this queue."""
    params = {"owner": "x", "until": 0.0, "now": now, "limit": limit}
    async with store.engine.connect() as conn:
        if store.is_sqlite:
            found = await conn.execute(text("EXPLAIN QUERY PLAN " + CLAIM_DELIVERIES.sql), params)
            return [str(r[-1]) for r in found]
        trans = await conn.begin()
        found = await conn.execute(
            text("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + CLAIM_DELIVERIES.sql), params
        )
        lines = [str(r[0]) for r in found]
        await trans.rollback()  # EXPLAIN ANALYZE ran the UPDATE: undo it
        return lines


async def measure(url: str, *, backlog: int, args: argparse.Namespace) -> dict[str, Any]:
    store = Store(url)
    await store.create_schema()
    try:
        base = time.time() - 3600
        history = [_row(f"h{i % 5000}", base) for i in range(args.history)]
        for row in history:
            row["status"] = "sent"
        await _insert(store, history)
        lines: list[NewDelivery] = []
        per_line = backlog // args.in_flight
        extra = backlog % args.in_flight
        for c in range(args.in_flight):
            followers = per_line + (1 if c < extra else 0)
            lines += [_row(f"f{c}", base + 1) for _ in range(1 + followers)]
        await _insert(store, lines)
        claimed = 0
        while claimed < args.in_flight:
            got = await store.deliveries.claim("in-flight", base + 2, 256, 7200)
            assert got, "the in-flight heads could not all be claimed"
            claimed += len(got)
        assert claimed == args.in_flight, claimed
        heads = await _insert(store, [_row(f"g{c}", base + 3) for c in range(args.heads)])
        expected = heads[: args.limit]
        if args.analyze:
            async with store.engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE")
        now = time.time()
        times: list[float] = []
        wrong = 0
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            got = await store.deliveries.claim("bench", now, args.limit, 30)
            times.append(time.perf_counter() - t0)
            ids = [int(r["id"]) for r in got]
            if ids != expected:
                wrong += 1
            if ids:
                await store.deliveries.unclaim(ids)
        plan = await _plan(store, now, args.limit)
        times.sort()
        return {
            "backlog": backlog,
            "median_ms": statistics.median(times) * 1000,
            "p90_ms": times[int(len(times) * 0.9) - 1] * 1000,
            "wrong_answers": wrong,
            "plan": plan,
        }
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.claim_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog", type=int, nargs="+", default=[0, 1000, 10000])
    parser.add_argument("--history", type=int, default=20000, help="sent rows already in the outbox")
    parser.add_argument("--in-flight", type=int, default=2000, help="conversations whose head is sending")
    parser.add_argument("--heads", type=int, default=200, help="conversations whose message could go")
    parser.add_argument("--limit", type=int, default=16, help="rows per claim")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE before timing")
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"], choices=("sqlite", "postgres"))
    parser.add_argument("--plans", action="store_true", help="print each point's query plan")
    args = parser.parse_args()
    # a PostgreSQL store needs a key for the secrets it encrypts; nothing secret is stored here
    os.environ.setdefault("CHANNELGATE_SECRET_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    print(
        f"load average {os.getloadavg()[0]:.1f}; {args.history} sent, {args.in_flight} heads in flight, "
        f"{args.heads} heads that can go, claims of {args.limit}, {args.rounds} rounds"
        + (", after ANALYZE" if args.analyze else "")
    )
    print(f"{'store':10} {'queued followers':>16} {'median ms':>10} {'p90 ms':>8} {'wrong':>6}")
    for kind in args.stores:
        for backlog in args.backlog:
            with tempfile.TemporaryDirectory() as tmp, store_url(kind, Path(tmp)) as url:
                result = asyncio.run(measure(url, backlog=backlog, args=args))
            print(
                f"{kind:10} {backlog:>16,} {result['median_ms']:>10.2f} {result['p90_ms']:>8.2f} "
                f"{result['wrong_answers']:>6}"
            )
            if args.plans:
                print("    " + "\n    ".join(result["plan"]))
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
