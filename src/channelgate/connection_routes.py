"""Work that must reach the replica holding a connection: a web chat user's socket, a WeChat request that
waits for its passive reply.

Any replica's delivery worker may claim a message, and a turn runs on whichever replica holds its
conversation; but a socket, or an HTTP request held open, lives in one process. The replicas tell each other
through coordination.py's ``route`` notices (PostgreSQL NOTIFY, sent after the change they announce
committed), and the store keeps each step fenced:

* **web chat**: a worker whose send found the user away has put the row back for its next try (as on one
  process) and names the conversation and user (``webchat``). The replica whose channel holds the user's
  socket claims that conversation's line at once (``Deliverer.take_line``: a claim like any other, so a row
  is never sent twice) and sends; the others ignore the notice. Nobody holds it: the retry, or the user's
  next ``hello``, sends it as before.
* **WeChat passive replies**: the replica holding the request announces its wait (``passive-wait``, before
  the turn's news, so that a peer running the turn knows it first). A peer that commits that turn holds the
  reply (status ``held``, as for its own request: passive.py) and names the held rows to the waiting
  replica (``passive``), which answers its request with them. A request that has already gone releases them
  to the send API; a replica that died with them is covered by the store's recovery of held rows.

On SQLite there is one process and no notice: everything is local already.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channelgate.coordination import Coordination
from channelgate.delivery import outbound_of
from channelgate.lookup import ChannelLookup
from channelgate.metrics import Metrics
from channelgate.passive import HeldReply, PassiveReplies
from channelgate.store import Store
from channelgate.store.rows import DeliveryRow
from channelgate.tasks import TaskSet

log = logging.getLogger("channelgate.connection_routes")


class ConnectionRoutes:
    """Sends and hears the ``route`` notices, and acts on those for a connection this replica holds.

    It is given what it uses: the coordination (to tell the peers), the store (held rows), this replica's
    id, a lookup of the live channels (who holds which socket), the passive replies, the delivery worker's
    ``take_line``, what wakes delivery, and the metrics."""

    def __init__(
        self,
        coordination: Coordination,
        store: Store,
        *,
        owner: str,
        channel: ChannelLookup,
        passive: PassiveReplies,
        take_line: Callable[[str], Awaitable[int]],
        wake_delivery: Callable[[], None],
        metrics: Metrics,
    ) -> None:
        self.coordination = coordination
        self.store = store
        self.owner = owner
        self.channel = channel
        self.passive = passive
        self.take_line = take_line
        self.wake_delivery = wake_delivery
        self.metrics = metrics
        self._jobs = TaskSet(log, "a routed hand-over failed; the message keeps its retry")

    # --- telling the peers ---

    def offline(self, row: DeliveryRow) -> None:
        """A send found its user away here (and was put back for its next try): the replica holding the
        user's socket, if any, takes the line."""
        user_id = row["body"].get("user_id") if isinstance(row["body"], dict) else None
        if not isinstance(user_id, str):
            return
        self.coordination.route(
            {
                "r": "webchat",
                "c": row["channel"],
                "l": row["label"],
                "u": user_id,
                "conv": row["conversation_id"],
            }
        )

    def passive_waiting(self, turn_id: int, budget: float) -> None:
        """The request of ``turn_id`` waits here up to ``budget`` seconds for the reply, wherever the turn
        runs."""
        self.coordination.route({"r": "passive-wait", "turn": turn_id, "budget": budget})

    # --- hearing them ---

    def heard(self, notice: dict[str, Any]) -> None:
        """A peer's ``route`` notice (coordination.py calls this; it logs what raises)."""
        route = notice.get("r")
        if route == "webchat":
            channel = self.channel(str(notice["c"]), str(notice["l"]))
            if channel is not None and channel.holds_connection(str(notice["u"])):
                self._jobs.spawn(self._take(str(notice["conv"])))
        elif route == "passive-wait":
            turn_id, peer = int(notice["turn"]), str(notice["o"])
            self.passive.expect(
                turn_id, float(notice["budget"]), lambda reply: self._held(peer, turn_id, reply)
            )
        elif route == "passive" and notice.get("to") == self.owner:
            self._jobs.spawn(self._answer(int(notice["turn"]), [int(i) for i in notice["ids"]]))

    def _held(self, peer: str, turn_id: int, reply: HeldReply) -> None:
        """A turn committed here held its reply for ``peer``'s request: name the held rows to it."""
        self.coordination.route({"r": "passive", "to": peer, "turn": turn_id, "ids": reply.ids})

    async def _take(self, conversation_id: str) -> None:
        taken = await self.take_line(conversation_id)
        if taken:
            self.metrics.routed.labels("webchat").inc(taken)
            log.debug(
                "conversation %s: %d message(s) handed here, where the user is connected",
                conversation_id,
                taken,
            )

    async def _answer(self, turn_id: int, ids: list[int]) -> None:
        """A peer held ``turn_id``'s reply for the request waiting here: answer with it, or, when the request
        has gone, release it to the send API."""
        rows = await self.store.deliveries.held(ids)
        waiter = self.passive.claim(turn_id)
        reply = HeldReply([int(r["id"]) for r in rows], [outbound_of(r) for r in rows])
        if waiter is not None and self.passive.resolve(waiter, reply):
            self.metrics.routed.labels("passive").inc()
            return
        if reply.ids:
            await self.store.outbox.release_held(reply.ids, 0)
            self.wake_delivery()

    async def stop(self) -> None:
        """Let the hand-overs under way finish (their claims are the delivery worker's by then)."""
        await self._jobs.wait(2.0)


__all__ = ["ConnectionRoutes"]
