"""Live coordination between the replicas of one gateway, through PostgreSQL itself (LISTEN/NOTIFY).

Every replica already shares its work through the store (leases, claims); what it did not share is *news*:
an integration created through the admin API on one replica reached the others only at their restart,
and work committed by one replica waited for the others' poll. Here each replica holds one extra asyncpg
connection that LISTENs on the ``channelgate`` channel and sends the NOTIFYs, so that

* an integration created, changed or deleted on one replica is reloaded by the others within a second
  (:class:`Handlers.integration`; a slow full sync stays as the safety net, integration_sync.py);
* turns accepted on one replica wake the others' runner for those conversations, and queued outbox rows
  wake their delivery worker (the poll stays as the safety net: a NOTIFY is lost with a dropped connection);
* a draining replica asks the others to look for work at once (``poll``): its released leases are theirs;
* a replica that joins, leaves or changes its share of the limits says so (``members``), so the others
  adjust their shares at once rather than at their next heartbeat (shares.py).
* ``route`` notices carry what must reach the replica holding a connection (a web chat socket, a WeChat
  request waiting for its passive reply): connection_routes.py says what they hold and who acts on them.

A NOTIFY is delivered only after its transaction commits, and here it is sent after the change committed,
so a replica that hears it reads the change. Notifications from this replica itself are ignored.

On SQLite there is one process (one writer): :class:`LocalCoordination` does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.engine import URL

from channelgate.tasks import TaskSet, stop_task, wait_set

log = logging.getLogger("channelgate.coordination")

#: the LISTEN/NOTIFY channel every replica of one database shares
CHANNEL = "channelgate"
#: conversation ids per NOTIFY: a payload must stay under PostgreSQL's 8000 bytes
IDS_PER_NOTIFY = 100
#: conversation ids waiting to be announced, beyond which a ``poll`` is announced instead
MAX_QUEUED_IDS = 10 * IDS_PER_NOTIFY
#: seconds ``flush`` waits at the most for the news to be sent
FLUSH_TIMEOUT = 5.0
#: seconds between reconnection attempts when the LISTEN connection is lost
RECONNECT_DELAY = 1.0


@dataclass
class Handlers:
    """What a replica does with its peers' news (the gateway's methods)."""

    #: an integration was created, changed or deleted: reload it from the store
    integration: Callable[[str, str], Awaitable[None]]
    #: turns of these conversations were accepted elsewhere
    turns: Callable[[list[str]], None]
    #: outbox rows were queued elsewhere
    outbox: Callable[[], None]
    #: look for all due work now (a peer drained, or we reconnected and may have missed news)
    poll: Callable[[], None]
    #: reload every integration (after a reconnect: changes may have been missed)
    resync: Callable[[], Awaitable[None]]
    #: a replica joined, left or changed its share of the limits (shares.py): look at the members now
    members: Callable[[], None] = lambda: None
    #: a ``route`` notice for the holder of a connection (connection_routes.py); None: not routed here
    route: Callable[[dict[str, Any]], None] | None = None


class Coordination:
    """One process, nothing to tell anybody (SQLite). The PostgreSQL subclass overrides each method."""

    async def start(self, handlers: Handlers) -> None:
        return None

    async def stop(self) -> None:
        return None

    def integration_changed(self, channel: str, label: str) -> None:
        """Tell the other replicas to reload this integration (after the change committed)."""

    def turns_accepted(self, conversation_ids: Iterable[str]) -> None:
        """Tell the other replicas that turns of these conversations were committed."""

    def outbox_queued(self) -> None:
        """Tell the other replicas' delivery workers that rows are due."""

    def poll_now(self) -> None:
        """Ask the other replicas to look for due work at once (this one is draining)."""

    def members_changed(self) -> None:
        """Tell the other replicas that this one joined, left or changed its share (shares.py)."""

    def route(self, notice: dict[str, Any]) -> None:
        """Tell the other replicas something only the holder of a connection acts on (a small JSON object,
        connection_routes.py). Alone there is nobody to tell."""

    async def flush(self) -> None:
        """Wait until what was published so far is sent (tests, shutdown), FLUSH_TIMEOUT seconds at most."""

    @property
    def connected(self) -> bool:
        """Whether news from the other replicas reaches this one (always, alone)."""
        return True


LocalCoordination = Coordination


def asyncpg_dsn(url: URL) -> str:
    """The store's SQLAlchemy URL as a DSN asyncpg takes (``postgresql+asyncpg://`` → ``postgresql://``)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgCoordination(Coordination):
    """LISTEN/NOTIFY on a dedicated asyncpg connection, which also sends this replica's news.

    Publishing never blocks and never fails the caller: the news is queued and a sender task sends it,
    coalesced (one ``outbox`` per round, conversation ids batched). A lost connection is retried every
    second; after a reconnect the replica resyncs its integrations and polls, since news may be lost."""

    def __init__(self, dsn: str, owner: str) -> None:
        self.dsn = dsn
        self.owner = owner
        self._handlers: Handlers | None = None
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._integrations: list[tuple[str, str]] = []
        self._turn_ids: list[str] = []
        self._outbox = False
        self._poll = False
        self._members = False
        self._routes: list[dict[str, Any]] = []
        self._pending = asyncio.Event()
        self._sent = asyncio.Event()
        self._lost = asyncio.Event()
        self._stopping = False
        self._jobs = TaskSet(log, "reloading from the store failed; the periodic sync will retry")

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self, handlers: Handlers) -> None:
        self._handlers = handlers
        try:
            await self._connect()
        except Exception as exc:  # the store answered a moment ago; the loop keeps trying
            log.warning("cannot LISTEN yet (%s); retrying", type(exc).__name__)
        self._task = asyncio.create_task(self._run(), name="coordination")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._pending.set()
            await stop_task(self._task, 2.0)  # before its connection closes
        self._jobs.cancel()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self._conn.close()
            self._conn = None

    # --- publishing ---

    def integration_changed(self, channel: str, label: str) -> None:
        self._integrations.append((channel, label))
        self._pending.set()

    def turns_accepted(self, conversation_ids: Iterable[str]) -> None:
        if not self.connected:  # the peers' polls find them; news of work is never worth a backlog
            return
        if len(self._turn_ids) >= MAX_QUEUED_IDS:  # the sender is behind: one poll says as much
            self._poll = True
        else:
            self._turn_ids.extend(conversation_ids)
        self._pending.set()

    def outbox_queued(self) -> None:
        if not self.connected:
            return
        self._outbox = True
        self._pending.set()

    def poll_now(self) -> None:
        self._poll = True
        self._pending.set()

    def members_changed(self) -> None:
        self._members = True
        self._pending.set()

    def route(self, notice: dict[str, Any]) -> None:
        if not self.connected:  # the holder's fallback covers it (a retry, the send API)
            return
        self._routes.append(notice)
        self._pending.set()

    async def flush(self) -> None:
        """Wait until the news so far is sent, for FLUSH_TIMEOUT seconds at the most: a sender stuck on a
        connection that stopped answering must not hang a shutdown (the news is lost then, which the
        peers' slow poll and sync cover)."""
        deadline = asyncio.get_running_loop().time() + FLUSH_TIMEOUT
        while self._has_news() and self.connected and self._task is not None and not self._task.done():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                log.warning("news not sent within %.0f s; the peers' poll will find it", FLUSH_TIMEOUT)
                return
            self._sent.clear()
            await wait_set(self._sent, min(1.0, left))

    def _has_news(self) -> bool:
        return bool(
            self._integrations
            or self._turn_ids
            or self._outbox
            or self._poll
            or self._members
            or self._routes
        )

    def _take_news(self) -> list[bytes]:
        # routes first: a WeChat request's wait must be known before the turns news can start its turn
        payloads = [orjson.dumps({**notice, "o": self.owner, "k": "route"}) for notice in self._routes]
        self._routes = []
        payloads += [
            orjson.dumps({"o": self.owner, "k": "integration", "c": c, "l": label})
            for c, label in dict.fromkeys(self._integrations)
        ]
        ids = list(dict.fromkeys(self._turn_ids))
        for start in range(0, len(ids), IDS_PER_NOTIFY):
            payloads.append(
                orjson.dumps({"o": self.owner, "k": "turns", "ids": ids[start : start + IDS_PER_NOTIFY]})
            )
        if self._outbox:
            payloads.append(orjson.dumps({"o": self.owner, "k": "outbox"}))
        if self._poll:
            payloads.append(orjson.dumps({"o": self.owner, "k": "poll"}))
        if self._members:
            payloads.append(orjson.dumps({"o": self.owner, "k": "members"}))
        self._integrations, self._turn_ids, self._outbox, self._poll = [], [], False, False
        self._members = False
        return payloads

    # --- the connection ---

    async def _connect(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn, timeout=10)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._heard)
        self._conn = conn
        self._lost.clear()
        log.info("listening for the other replicas' news")

    async def _run(self) -> None:
        reconnected = False
        while True:
            if not self.connected:
                if self._stopping:
                    return
                try:
                    await self._connect()
                    reconnected = True
                except Exception as exc:
                    log.warning("cannot LISTEN (%s); retrying", type(exc).__name__)
                    await asyncio.sleep(RECONNECT_DELAY)
                    continue
            if reconnected:  # news may have been lost while we were away
                reconnected = False
                self._catch_up()
            if not self._has_news():
                if self._stopping:
                    return
                waiters = [
                    asyncio.ensure_future(self._pending.wait()),
                    asyncio.ensure_future(self._lost.wait()),
                ]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                self._pending.clear()
                continue
            payloads = self._take_news()
            try:
                for payload in payloads:
                    await self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload.decode())
            except Exception as exc:
                log.warning("could not notify the other replicas (%s)", type(exc).__name__)
                with contextlib.suppress(Exception):
                    await self._conn.close()
                self._conn = None
                # the others' polls pick the work up; integration news is worth sending again
                self._integrations.extend(_integration_keys(payloads))
            self._sent.set()

    def _catch_up(self) -> None:
        handlers = self._handlers
        if handlers is None:
            return
        handlers.poll()
        self._jobs.spawn(handlers.resync())

    # --- hearing ---

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        handlers = self._handlers
        if handlers is None:
            return
        try:
            news = orjson.loads(payload)
            if not isinstance(news, dict) or news.get("o") == self.owner:
                return
            kind = news.get("k")
            if kind == "integration":
                self._jobs.spawn(handlers.integration(str(news["c"]), str(news["l"])))
            elif kind == "turns":
                handlers.turns([str(i) for i in news.get("ids", [])])
            elif kind == "outbox":
                handlers.outbox()
            elif kind == "poll":
                handlers.poll()
            elif kind == "members":
                handlers.members()
            elif kind == "route" and handlers.route is not None:
                handlers.route(news)
        except Exception:
            log.exception("could not act on a notification")


def _integration_keys(payloads: list[bytes]) -> list[tuple[str, str]]:
    keys = []
    for payload in payloads:
        news = orjson.loads(payload)
        if news.get("k") == "integration":
            keys.append((news["c"], news["l"]))
    return keys


def coordination_for(url: URL, owner: str) -> Coordination:
    """LISTEN/NOTIFY on PostgreSQL; nothing on SQLite (one process)."""
    if url.get_backend_name() == "postgresql":
        return PgCoordination(asyncpg_dsn(url), owner)
    return LocalCoordination()
