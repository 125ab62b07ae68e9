"""Passive replies: a webhook request that waits for its own turn's reply, to answer with it (WeChat).

The webhook route registers the turn before it starts; the turn runner, when it commits the turn, takes the
waiter and holds the reply's payloads (status ``held``) instead of queueing them, then hands their ids to
the waiting request. Whoever gives up first wins: a request whose budget ran out cancels its waiter and the
runner then queues the reply for the send API; a turn that ends after that finds no waiter, and one that
was committing as the budget ran out learns it from ``resolve`` and queues what it held.

Both sides share one :class:`PassiveReplies`; neither reads the other's state. With several replicas the
turn may run on another replica than the request (that one held the conversation): the request's replica
announces its wait, the peer registers it with :meth:`PassiveReplies.expect`, holds the reply the same way
and hands the held ids back (connection_routes.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from channelgate.channels.base import Outbound


class HeldReply(NamedTuple):
    """The payloads a turn held for its waiting request: outbox ids and what each one sends."""

    ids: list[int]
    outbounds: list[Outbound]


@dataclass
class PassiveWaiter:
    """A request waiting for its turn's reply. ``expired``: the request stopped waiting."""

    future: asyncio.Future[HeldReply]
    expired: bool = False

    @property
    def waiting(self) -> bool:
        return not self.expired and not self.future.done()


class PassiveReplies:
    """The turns whose webhook request waits for the reply, by turn id."""

    def __init__(self) -> None:
        self._waiters: dict[int, PassiveWaiter] = {}

    def __len__(self) -> int:
        return len(self._waiters)

    def register(self, turn_id: int) -> PassiveWaiter:
        """The request of ``turn_id`` will wait for its reply (call before the turn can start)."""
        waiter = PassiveWaiter(asyncio.get_running_loop().create_future())
        self._waiters[turn_id] = waiter
        return waiter

    def expect(self, turn_id: int, budget: float, answer: Callable[[HeldReply], None]) -> None:
        """A peer replica's request waits ``budget`` seconds for ``turn_id``'s reply. Should the turn be
        committed here meanwhile, its reply is held as for a request of this replica and ``answer`` gets
        it (and tells the peer). After the budget the request has given up: the wait is forgotten, and a
        commit in that instant learns it from ``resolve`` and queues what it held."""
        waiter = self.register(turn_id)

        def expire() -> None:
            if self._waiters.get(turn_id) is waiter:
                del self._waiters[turn_id]
            waiter.expired = True

        def resolved(future: asyncio.Future[HeldReply]) -> None:
            if not future.cancelled():
                answer(future.result())

        asyncio.get_running_loop().call_later(budget, expire)
        waiter.future.add_done_callback(resolved)

    def cancel(self, turn_id: int) -> None:
        """The request stopped waiting: the turn's reply goes out through the send API."""
        waiter = self._waiters.pop(turn_id, None)
        if waiter is not None:
            waiter.expired = True

    def claim(self, turn_id: int) -> PassiveWaiter | None:
        """For the runner committing ``turn_id``: its waiter if a request still waits (hold the reply for
        it, then :meth:`resolve`), else None (queue the reply). The waiter is forgotten either way."""
        waiter = self._waiters.pop(turn_id, None)
        return waiter if waiter is not None and waiter.waiting else None

    @staticmethod
    def resolve(waiter: PassiveWaiter, reply: HeldReply) -> bool:
        """Hand the held payloads to the waiting request; False when it gave up (or shutdown cancelled it)
        while the turn committed: the caller then queues them for the send API, at once rather than when
        the store's recovery finds them held."""
        if not waiter.waiting:
            return False
        waiter.future.set_result(reply)
        return True

    async def wait(self, turn_id: int, budget: float) -> HeldReply | None:
        """The turn's held reply within ``budget`` seconds; None when there is no waiter, or the budget ran
        out (the waiter is then cancelled, so a later reply goes through the API instead)."""
        waiter = self._waiters.get(turn_id)
        if waiter is None:
            return None
        try:
            async with asyncio.timeout(budget):
                return await asyncio.shield(waiter.future)
        except (TimeoutError, asyncio.CancelledError):
            self.cancel(turn_id)
            waiter.expired = True  # also when the runner claimed it already: its resolve must know
            if not waiter.future.done() or waiter.future.cancelled():
                return None
            return waiter.future.result()  # committed in the same instant the budget ran out

    def cancel_all(self) -> None:
        """Shutdown: every waiting request answers without its reply."""
        for waiter in self._waiters.values():
            if not waiter.future.done():
                waiter.future.cancel()


__all__ = ["HeldReply", "PassiveReplies", "PassiveWaiter"]
