"""This replica's part in the fleet: hearing the other replicas' news and acting on it.

The parts that talk between replicas are built by the gateway (its composition root) and joined here:
coordination.py carries the news (LISTEN/NOTIFY on PostgreSQL, nothing on SQLite), shares.py keeps this
replica's share of every limit, connection_routes.py brings work to the replica holding a connection, and
integration_sync.py reloads integrations changed elsewhere. :class:`Fleet` hands each kind of news to the
part it is for, turns a peer's accepted turns into a poll of just those conversations, and leaves the
fleet in order when the gateway drains. It was part of gateway.py; it is its own idea, and gateway.py was
too long to read as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from channelgate.connection_routes import ConnectionRoutes
from channelgate.coordination import Coordination, Handlers
from channelgate.delivery import Deliverer
from channelgate.integration_sync import IntegrationSync
from channelgate.pipeline import TurnRunner
from channelgate.shares import Shares
from channelgate.tasks import TaskSet

# the name these lines had in gateway.py, so that log filters set up for them keep working
log = logging.getLogger("channelgate.gateway")

#: seconds after a peer's accepted turns before this replica polls for any the peer could not start
PEER_POLL_DELAY = 0.2
#: conversations named by peers' news that one poll looks up by id; more, and it polls everything
PEER_NEWS_MAX = 500


class Fleet:
    """Joins this replica to the others: the news it hears goes to the part it is for.

    It is given what it uses: the coordination, the shares, the connection routes, the integration sync,
    the turn runner (to run or poll the turns a peer accepted) and the delivery worker (to wake it)."""

    def __init__(
        self,
        coordination: Coordination,
        *,
        shares: Shares,
        routes: ConnectionRoutes,
        integration_sync: IntegrationSync,
        turns: TurnRunner,
        delivery: Deliverer,
    ) -> None:
        self.coordination = coordination
        self.shares = shares
        self.routes = routes
        self.integration_sync = integration_sync
        self.turns = turns
        self.delivery = delivery
        self._stopping = False  # draining: peers' news no longer starts work here
        self._polls = TaskSet(log, "poller: store unavailable; trying again")
        self._poll_due: asyncio.TimerHandle | None = None
        #: conversations of turns peers accepted since the last look (``_peer_turns``)
        self._news: set[str] = set()
        self._sync: asyncio.Task[None] | None = None

    async def start(self, sync_interval: float | None) -> None:
        """Hear the peers' news, join the fleet's limits (waits a moment to be admitted), and, given a
        ``sync_interval``, reload every integration that often (the safety net for lost news)."""
        await self.coordination.start(
            Handlers(
                integration=self.integration_sync.reload,
                turns=self._peer_turns,
                outbox=self.delivery.wake,
                poll=self._peer_poll,
                resync=self.integration_sync.sync,
                members=self.shares.heard,
                route=self.routes.heard,
            )
        )
        await self.shares.start()
        if sync_interval is not None:
            sync = self.integration_sync.run(sync_interval)
            self._sync = asyncio.create_task(sync, name="integration-sync")

    def halt(self) -> None:
        """The gateway drains: peers' news starts no more work here, and the polls it started stop."""
        self._stopping = True
        if self._sync is not None:
            self._sync.cancel()
        self._polls.cancel()
        if self._poll_due is not None:
            self._poll_due.cancel()

    async def leave(self) -> None:
        """After the last turn and send: give up this replica's share (the others take it at once), let
        the routed hand-overs finish, tell the others to look for the work this replica gave back, and
        stop hearing news."""
        await self.shares.stop()
        await self.routes.stop()
        # the leases this replica gave back are the others' now: tell them to look at once
        self.coordination.poll_now()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await self.coordination.flush()
        await self.coordination.stop()
        if self._sync is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sync

    # --- news from the other replicas (coordination.py) ---

    def _peer_turns(self, conversation_ids: list[str]) -> None:
        """Turns accepted on another replica. That replica runs them (it kicked them at once, and a WeChat
        webhook there waits for the reply); here, a conversation this runner holds runs them next instead
        of releasing its lease (the acceptor's claim may have met that lease), and a poll shortly after
        picks up any the acceptor could not start (no turn slot free, or it is draining).

        That poll looks only at the conversations the news named: a poll of everything on every peer
        accept scanned the whole backlog several times a second on each replica and claimed conversations
        the acceptor was about to run, and CPU per message grew with the number of workers
        (docs/benchmarks.md, "PostgreSQL, --workers 1 and 2")."""
        for conversation_id in conversation_ids:
            if self.turns.running(conversation_id):
                self.turns.kick(conversation_id)
            else:
                self._news.add(conversation_id)
        if self._poll_due is None and not self._stopping:
            self._poll_due = asyncio.get_running_loop().call_later(PEER_POLL_DELAY, self._peer_news_poll)

    def _peer_news_poll(self) -> None:
        """Turns a peer accepted a moment ago: run those of them nobody has started."""
        self._poll_due = None
        news, self._news = self._news, set()
        if news and len(news) <= PEER_NEWS_MAX:
            self._start_poll(news)
        elif news:  # more than one lookup is worth: one poll of everything
            self._peer_poll()

    def _peer_poll(self) -> None:
        """A peer drained (or we missed news): look for due turns and sends now."""
        self.delivery.wake()
        self._start_poll(None)

    def _start_poll(self, among: set[str] | None) -> None:
        if not self._stopping:
            self._polls.spawn(self.turns.poll(among))


__all__ = ["PEER_NEWS_MAX", "PEER_POLL_DELAY", "Fleet"]
