"""The gateway's periodic upkeep: the poller that is the safety net under every wake-up, and the pruning
of finished history.

Both run for the life of the gateway and survive a store outage (they log it and try again at their next
round). They were loops inside gateway.py; each takes only what it uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from channelgate.config import RetentionSettings
from channelgate.metrics import Metrics
from channelgate.pipeline import TurnRunner
from channelgate.store import Store
from channelgate.store.retention import prune_once

# the name these lines had in gateway.py, so that log filters set up for them keep working
log = logging.getLogger("channelgate.gateway")


async def poll_loop(
    store: Store, turns: TurnRunner, *, interval: float, wake_delivery: Callable[[], None]
) -> None:
    """Every ``interval`` seconds, start the due turns nobody woke this replica for (a lost NOTIFY, a
    retry's backoff over), and every tenth round recover the leases and claims of a crashed replica."""
    rounds = 0
    while True:
        await asyncio.sleep(interval)
        try:
            if rounds % 10 == 0 and await store.deliveries.recover(time.time()):
                wake_delivery()
            await turns.poll()
        except Exception:
            log.exception("poller: store unavailable; trying again")
        rounds += 1


async def retention_loop(store: Store, owner: str, retention: RetentionSettings, metrics: Metrics) -> None:
    """Prune finished history (store/retention.py) every ``retention.prune_interval`` seconds, the first
    time one interval after start (a restart loop must not turn into a pruning loop)."""
    while True:
        await asyncio.sleep(retention.prune_interval)
        try:
            pruned = await prune_once(
                store,
                owner,
                history_seconds=retention.history_seconds,
                batch_size=retention.batch_size,
                lock_ttl=max(retention.prune_interval, 60.0),
            )
        except Exception:
            log.exception("retention: store unavailable; trying again at the next interval")
            continue
        if pruned is None:  # another replica is at it
            continue
        for table, n in pruned.counts.items():
            if n:
                metrics.pruned.labels(table).inc(n)
        if pruned.total:
            log.info("retention: pruned %s", ", ".join(f"{n} {t}" for t, n in pruned.counts.items() if n))


__all__ = ["poll_loop", "retention_loop"]
