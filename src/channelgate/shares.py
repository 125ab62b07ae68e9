"""Each replica's share of the fleet's limits: a platform's rate limit and the web chat's limits hold for
the whole fleet, not per process.

Why leased shares, and not one token bucket in the store: a shared bucket costs a database round trip (a
row lock every replica contends on) for every send and every web chat input, on the hot path; at the
platforms' rates (80 sends/s and more per integration) that lock is the bottleneck, and a store hiccup
would stop all sending. Instead each replica takes ``1/N`` of every limit, N being the replicas alive,
and spends it locally; the store is touched once a second per replica (a heartbeat), whatever the load.
The price: a replica's unused share is not lent to the others (an integration whose traffic all lands on
one replica gets ``1/N`` of its limit there), and a replica's bucket starts empty when it (re)joins.

The scheme (``replicas`` table, store/replicas.py; times by the database's clock):

* Every replica upserts its row every second (:data:`HEARTBEAT`) with ``share_of``, the divisor it
  publishes, and then reads the live rows (heartbeat under :data:`EXPIRY` old): N is their count.
* **Lowering is immediate.** A replica that sees more rows than its divisor divides by the new N at once,
  then publishes it.
* **Raising waits for the publication.** The divisor in use is ``max(published, N)``, with N read *after*
  the published value committed; so a replica that lost a peer publishes the smaller divisor first and
  raises only after a read that came later (a joiner that read the old value is then seen by that read).
* **A joiner sends nothing until admitted**: its own divisor published and every other live row's
  published divisor at least its N; only then does it take its share, and its rate buckets start empty
  (the fleet's tokens may have been spent by the others).
* **A replica that could not heartbeat** for :data:`STALE_AFTER` seconds stops sending and must be
  admitted again; the others count it dead only after :data:`EXPIRY` seconds, so its share is handed over
  only once it has stopped using it. A SIGKILLed replica's share is taken over after at most
  :data:`EXPIRY` seconds; a drained one deletes its row after its last send, so at once.

Joins and leaves are announced with a ``members`` notice (coordination.py), so the others run a round at
once instead of at their next heartbeat. On SQLite there is one process: :class:`Shares` is the whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import TYPE_CHECKING

from channelgate.tasks import wait_set

if TYPE_CHECKING:  # channels/base.py imports this module: it stays free of the store's imports
    from channelgate.coordination import Coordination
    from channelgate.store.replicas import Replicas

log = logging.getLogger("channelgate.shares")

#: seconds between heartbeats
HEARTBEAT = 1.0
#: a replica whose heartbeat has not committed for this long stops sending (its share may be handed over)
STALE_AFTER = 3.0
#: a row whose heartbeat is this old belongs to a dead replica (twice STALE_AFTER: a margin for stalls)
EXPIRY = 6.0
#: how long ``start`` waits to be admitted before serving anyway (sending then waits for admission)
JOIN_TIMEOUT = 5.0


class Shares:
    """One process (SQLite, or a single replica by design): the whole of every limit, always."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def heard(self) -> None:
        """A peer joined, left or changed its divisor (a ``members`` notice)."""

    def fraction(self) -> float:
        """The part of each limit this replica may use now; 0: send nothing (not admitted, or cut off)."""
        return 1.0

    @property
    def epoch(self) -> int:
        """Changes at each (re)admission: a bucket made or kept from before starts empty again. 0: the
        share never changes, buckets may start full."""
        return 0

    @property
    def alive(self) -> int:
        """Processes sharing the limits, this one included, as last read (0: not read yet)."""
        return 1

    def scaled(self, limit: int) -> int:
        """This replica's part of a count limit (open sockets): at least 1 while it may serve, else 0."""
        fraction = self.fraction()
        return max(1, math.floor(limit * fraction)) if fraction > 0 else 0


#: the share of a process alone
WHOLE = Shares()


class FleetShares(Shares):
    """This replica's share among the live rows of the ``replicas`` table (see the module's docstring)."""

    def __init__(
        self,
        replicas: Replicas,
        coordination: Coordination,
        owner: str,
        *,
        heartbeat: float = HEARTBEAT,
        stale_after: float = STALE_AFTER,
        expiry: float = EXPIRY,
    ) -> None:
        self.replicas = replicas
        self.coordination = coordination
        self.owner = owner
        self.heartbeat = heartbeat
        self.stale_after = stale_after
        self.expiry = expiry
        #: the divisor committed in our row (0: no row yet)
        self.published = 0
        #: replicas alive at the last read
        self.members = 0
        self._target = 1
        self._in_use: int | None = None  # None: not admitted, sends nothing
        self._last_ok = -math.inf  # monotonic time the last committed heartbeat was issued
        self._epoch = 0
        self._nudge = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # --- what the limits read ---

    def fraction(self) -> float:
        self._cut_off_if_stale(time.monotonic())
        return 0.0 if self._in_use is None else 1.0 / self._in_use

    def _cut_off_if_stale(self, now: float) -> None:
        """No heartbeat committed for ``stale_after``: the others may count us dead soon and take our
        share, so stop, and be admitted again (with empty buckets) once the heartbeat is back."""
        if self._in_use is not None and now - self._last_ok > self.stale_after:
            log.warning("no heartbeat for %.0f s: sending stops until admitted again", self.stale_after)
            self._in_use = None

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def alive(self) -> int:
        return self.members

    # --- lifecycle ---

    async def start(self) -> None:
        """Join: publish our row, announce it, and wait (up to :data:`JOIN_TIMEOUT`) to be admitted."""
        deadline = time.monotonic() + JOIN_TIMEOUT
        with contextlib.suppress(Exception):  # the heartbeat loop keeps trying
            await self._round()
        while self._in_use is None and time.monotonic() < deadline:
            await wait_set(self._nudge, 0.2)
            self._nudge.clear()
            try:
                await self._round()
            except Exception as exc:
                log.warning("replica heartbeat failed (%s)", type(exc).__name__)
        if self._in_use is None:
            log.warning("not admitted to the fleet's limits after %.0f s; sending waits for it", JOIN_TIMEOUT)
        self._task = asyncio.create_task(self._run(), name="shares")

    async def stop(self) -> None:
        """Leave, after this replica's last send: its share is the others' at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._in_use = None
        try:
            await self.replicas.leave(self.owner)
        except Exception as exc:  # our row expires instead
            log.warning("could not remove this replica's row (%s); it expires", type(exc).__name__)
            return
        finally:
            await self.replicas.close()
        self.coordination.members_changed()

    def heard(self) -> None:
        self._nudge.set()

    # --- the rounds ---

    async def _run(self) -> None:
        while True:
            await wait_set(self._nudge, self.heartbeat)
            self._nudge.clear()
            try:
                await self._round()
            except Exception as exc:  # fraction() stops sending when this lasts
                log.warning("replica heartbeat failed (%s)", type(exc).__name__)

    async def _round(self) -> None:
        """Publish our divisor, then read who is alive; lower, raise or admit accordingly."""
        async with self._lock:
            issued = time.monotonic()
            self._cut_off_if_stale(issued)
            target = self._target
            await self.replicas.beat(self.owner, target)
            self._last_ok = issued
            changed = target != self.published
            self.published = target
            live = await self.replicas.live(self.expiry)
            live[self.owner] = target
            n = self.members = len(live)
            if self._in_use is not None:
                self._in_use = max(target, n)  # lower at once; raise only to what is published
            elif target >= n and all(d >= n for owner, d in live.items() if owner != self.owner):
                self._in_use = max(target, n)
                self._epoch += 1
                log.info("admitted: this replica uses 1/%d of each limit", self._in_use)
            self._target = n
        if n != target:
            self._nudge.set()  # publish the new divisor now, not in a second
        if changed:
            self.coordination.members_changed()


def shares_for(replicas: Replicas, coordination: Coordination, owner: str, *, alone: bool) -> Shares:
    """Leased shares among replicas; the whole for a process alone (SQLite)."""
    return WHOLE if alone else FleetShares(replicas, coordination, owner)


__all__ = ["EXPIRY", "HEARTBEAT", "STALE_AFTER", "WHOLE", "FleetShares", "Shares", "shares_for"]
