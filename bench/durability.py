"""``python -m bench.durability``: what ``sqlite_synchronous: full`` costs on the accept path.

A webhook is acknowledged once its events are committed (``Inbox.accept``). With ``normal`` (WAL) a commit
writes the WAL without syncing it; with ``full`` every commit also waits for fsync of the WAL, which is
what makes it survive an OS crash or a power loss. This measures both on the same disk:

* latency: one accept at a time (a quiet gateway: each webhook waits for its own fsync);
* throughput: ``--concurrency`` accepts in flight (a busy one: the group commit shares one fsync among the
  accepts that queued up meanwhile).

The figures depend on the disk (an SSD with a volatile cache, a cloud volume, a RAID controller with a
battery): measure on yours. docs/configuration.md quotes a run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal

from channelgate.channels.base import InboundMessage
from channelgate.store import Store
from channelgate.turns import TextInput, User


def _event(i: int) -> InboundMessage:
    return InboundMessage(
        dedup_key=f"m-{i}",
        user=User(id=f"u-{i % 500}"),
        input=TextInput(text=f"message {i}"),
        platform_message_id=f"m-{i}",
    )


async def _measure(
    directory: Path,
    synchronous: Literal["normal", "full"],
    sequential: int,
    concurrent: int,
    concurrency: int,
) -> dict[str, float]:
    store = Store(f"sqlite:///{directory}/{synchronous}.db", synchronous=synchronous)
    await store.create_schema()
    try:
        for i in range(50):  # warm up: conversations exist, pages are cached
            await store.inbox.accept("relay", "bench", "en-US", [_event(-1 - i)])
        latencies = []
        for i in range(sequential):
            started = time.perf_counter()
            await store.inbox.accept("relay", "bench", "en-US", [_event(i)])
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        queue = iter(range(sequential, sequential + concurrent))

        async def worker() -> None:
            for i in queue:
                await store.inbox.accept("relay", "bench", "en-US", [_event(i)])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "mean_ms": statistics.fmean(latencies),
        "accepts_per_s": concurrent / elapsed,
    }


async def _main(args: argparse.Namespace) -> None:
    base = Path(args.dir) if args.dir else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        print(f"{'synchronous':<12} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'accepts/s':>10}")
        for mode in ("normal", "full"):
            result = await _measure(Path(tmp), mode, args.sequential, args.concurrent, args.concurrency)
            print(
                f"{mode:<12} {result['p50_ms']:>8.2f} {result['p99_ms']:>8.2f} {result['mean_ms']:>8.2f} "
                f"{result['accepts_per_s']:>10.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sequential", type=int, default=1000, help="accepts measured one at a time")
    parser.add_argument("--concurrent", type=int, default=5000, help="accepts measured in flight together")
    parser.add_argument("--concurrency", type=int, default=64, help="accepts in flight at once")
    parser.add_argument("--dir", help="where the databases go (default: the system's temporary directory)")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
