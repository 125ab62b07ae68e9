"""The durable store: conversations, inbox, outbox, shared key-values and locks.

SQLAlchemy Core with async drivers: SQLite (aiosqlite, WAL) embedded by default, PostgreSQL (asyncpg) when
several replicas share the work. The same queries run on both; the only dialect-specific piece is the
``INSERT ... ON CONFLICT DO NOTHING`` that makes dedup atomic under concurrent redelivery.

SQLite allows one writer at a time. The rest of the store goes through one aiosqlite connection under an
asyncio lock, so contention becomes a short queue in memory instead of "database is locked" errors.

The hot path (accept, claim a turn, complete it, claim and mark deliveries) is written as plain functions
over a synchronous connection. On SQLite they run on one writer thread with its own connection, and the
jobs that queue up while a transaction runs are committed together in the next one (group commit): one
thread hop and one commit per batch instead of four hops per statement through aiosqlite. Every caller
still gets its answer only after its transaction committed. On PostgreSQL each job is its own
transaction through ``AsyncConnection.run_sync``, so the same code runs on both engines.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import orjson
from sqlalchemy import Connection, and_, create_engine, delete, event, func, inspect, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from channelgate.channels.base import InboundMessage, Outbound, StatusUpdate
from channelgate.channels.inbound import screen_all
from channelgate.store import statements as sql
from channelgate.store.secret_box import SecretBox, SecretKeyMissing, create_private, sqlite_path
from channelgate.store.statements import Row
from channelgate.store.tables import conversations, inbox, kv, locks, metadata, outbox

if TYPE_CHECKING:
    from channelgate.config import Settings

log = logging.getLogger("channelgate.store")

#: statuses applied per writer transaction (see ``accept``): ~10 ms of SQLite work each
STATUS_BATCH = 100

#: Outbox statuses in the order a message moves through them; a status update never moves one back.
STATUS_RANK = {"held": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}
FINAL = ("failed", "dead")


def async_url(url: str) -> str:
    """``sqlite:///x.db`` → ``sqlite+aiosqlite:///x.db``; ``postgresql://`` → ``postgresql+asyncpg://``."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


T = TypeVar("T")
Job = Callable[[Connection], Any]


class GroupWriter:
    """SQLite's single writer: jobs submitted while a transaction runs are committed together in the next.

    A job is a function of a synchronous connection; it runs on one dedicated thread (the connection's),
    in submission order. When a batch fails, its jobs are run again one transaction each, so one bad
    job fails alone. The asyncio ``lock`` is the store's write lock: aiosqlite transactions of the
    rest of the store never overlap a batch."""

    #: jobs per transaction: bounds how long one batch keeps an urgent job (a webhook's accept) waiting
    max_batch = 64

    def __init__(self, engine: Engine, lock: asyncio.Lock) -> None:
        self.engine = engine
        self.lock = lock
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="channelgate-sqlite")
        self._queue: list[tuple[Job, asyncio.Future[Any]]] = []
        self._urgent = 0  # the first ``_urgent`` jobs of the queue are urgent ones
        self._draining: asyncio.Task[None] | None = None

    async def submit(self, job: Job, *, urgent: bool = False) -> Any:
        """Run ``job`` in the next batch; an urgent job goes ahead of the queued ordinary ones (a platform
        waits for its answer), in order among urgent jobs."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if urgent:
            self._queue.insert(self._urgent, (job, future))
            self._urgent += 1
        else:
            self._queue.append((job, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            self._urgent = max(0, self._urgent - len(batch))
            try:
                async with self.lock:
                    outcomes = await loop.run_in_executor(self.executor, self._run, [job for job, _ in batch])
            except BaseException as exc:  # cancelled at shutdown: nobody will read these any more
                for _, future in batch:
                    if not future.done():
                        future.set_exception(
                            exc if isinstance(exc, Exception) else RuntimeError("store closed")
                        )
                raise
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _run(self, jobs: list[Job]) -> list[tuple[bool, Any]]:
        """On the writer thread: all jobs in one transaction, or each in its own when that fails."""
        try:
            with self.engine.begin() as conn:
                return [(True, job(conn)) for job in jobs]
        except Exception as exc:
            if len(jobs) == 1:
                return [(False, exc)]
        outcomes: list[tuple[bool, Any]] = []
        for job in jobs:
            try:
                with self.engine.begin() as conn:
                    outcomes.append((True, job(conn)))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.engine.dispose()


@dataclass(frozen=True, slots=True)
class Accepted:
    """What accepting one webhook's events did."""

    new_turns: list[tuple[int, str]] = field(default_factory=list)  # (inbox id, conversation id)
    duplicates: int = 0
    statuses: int = 0


@dataclass(frozen=True, slots=True)
class NewOutbound:
    outbound: Outbound
    status: str = "queued"
    reason: str | None = None


class Store:
    """``synchronous``: SQLite's ``PRAGMA synchronous``. ``normal`` (WAL) survives a crash of the process
    but may lose the last commits on an OS crash or power loss; ``full`` syncs the WAL at every commit and
    survives those too (docs/configuration.md has the measured cost). PostgreSQL is durable by its own
    ``synchronous_commit``. ``secrets``: how stored secrets are encrypted (default: from the environment,
    see :mod:`channelgate.store.secret_box`)."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        synchronous: Literal["normal", "full"] = "normal",
        secrets: SecretBox | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.synchronous = synchronous
        self.secrets = secrets if secrets is not None else SecretBox.for_store(url)
        # hide_parameters: statements logged (``echo``, the sqlalchemy.engine logger at INFO) or quoted in
        # an exception never carry their values, which include tokens and users' messages
        kwargs: dict[str, Any] = {
            "echo": echo,
            "hide_parameters": True,
            "json_serializer": _dumps,
            "json_deserializer": orjson.loads,
        }
        if self.is_sqlite:
            kwargs.update(poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0)
            database = sqlite_path(url)
            if database is not None and database.parent.is_dir():
                create_private(database)  # 0600 before SQLite makes it; -wal and -shm inherit its mode
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer: GroupWriter | None = None
        in_memory = url.rstrip("/") in ("sqlite:", "sqlite:/") or ":memory:" in url or "mode=memory" in url
        self._threaded = self.is_sqlite and not in_memory
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", self._sqlite_connect)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store the config names, with its durability and secret-key settings."""
        secrets = SecretBox.for_store(settings.store, settings.secret_key_file)
        return cls(settings.store, synchronous=settings.sqlite_synchronous, secrets=secrets)

    def _sqlite_connect(self, dbapi_conn: Any, record: Any) -> None:
        _sqlite_pragmas(dbapi_conn, record, self.synchronous)

    def _sqlite_writer_connect(self, dbapi_conn: Any, record: Any) -> None:
        """The writer thread's connection: the same pragmas, and transactions begun by us (BEGIN IMMEDIATE),
        not by the driver, so a job that reads before it writes never has its snapshot go stale."""
        _sqlite_pragmas(dbapi_conn, record, self.synchronous)
        dbapi_conn.isolation_level = None

    def _group_writer(self) -> GroupWriter:
        """SQLite: the writer thread and its own connection, made on first use (in the running loop)."""
        if self._writer is None:
            assert self._write_lock is not None
            engine = create_engine(
                self.url,
                hide_parameters=True,
                json_serializer=_dumps,
                json_deserializer=orjson.loads,
                pool_size=1,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            event.listen(engine, "connect", self._sqlite_writer_connect)
            event.listen(engine, "begin", _sqlite_begin_immediate)
            self._writer = GroupWriter(engine, self._write_lock)
        return self._writer

    async def run(self, job: Callable[[Connection], T], *, urgent: bool = False) -> T:
        """Run ``job`` in a transaction: group-committed on SQLite's writer thread, its own on PostgreSQL.
        ``urgent``: someone waits on the line for it (a webhook's acknowledgement)."""
        if self._threaded:
            result: T = await self._group_writer().submit(job, urgent=urgent)
            return result
        async with self.tx() as conn:  # PostgreSQL, or an in-memory SQLite only its own connection sees
            return await conn.run_sync(job)

    # --- lifecycle ---

    async def create_schema(self) -> None:
        if not self.secrets.usable:  # fail at start, not at the first secret a channel or the API stores
            raise SecretKeyMissing(self.secrets.missing_reason)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.run_sync(_add_missing_columns)
            await conn.run_sync(_create_missing_indexes)

    async def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            async with writer.lock:
                await asyncio.get_running_loop().run_in_executor(None, writer.close)
        await self.engine.dispose()

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; on SQLite also the single-writer turn."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    def _insert(self, table: Any) -> Any:
        return (sqlite.insert if self.is_sqlite else postgresql.insert)(table)

    # --- conversations ---

    async def _conversation_ids(
        self,
        conn: AsyncConnection,
        channel: str,
        label: str,
        users: dict[str, tuple[str | None, str]],
        now: float,
    ) -> dict[str, str]:
        """Conversation ids for these users, creating the missing ones (atomic under concurrency)."""
        return await conn.run_sync(lambda c: self._sync_conversation_ids(c, channel, label, users, now))

    @staticmethod
    def _sync_conversation_ids(
        conn: Connection, channel: str, label: str, users: dict[str, tuple[str | None, str]], now: float
    ) -> dict[str, str]:
        ids: dict[str, str] = {}
        for user_id, (name, locale) in users.items():
            key = {"channel": channel, "label": label, "user_id": user_id}
            found = sql.FIND_CONVERSATION_ID.first(conn, key)
            if found is None:  # a new user; under a concurrent insert, the other one's id wins
                new = {**key, "id": uuid.uuid4().hex, "user_name": name, "locale": locale, "now": now}
                sql.INSERT_CONVERSATION.execute(conn, new)
                found = sql.FIND_CONVERSATION_ID.first(conn, key)
                assert found is not None
            ids[user_id] = str(found["id"])
        return ids

    async def conversation_for_user(
        self, channel: str, label: str, user_id: str, locale: str, name: str | None = None
    ) -> str:
        async with self.tx() as conn:
            ids = await self._conversation_ids(conn, channel, label, {user_id: (name, locale)}, time.time())
        return ids[user_id]

    async def conversation(self, conversation_id: str) -> Row | None:
        return await self.run(lambda conn: sql.CONVERSATION.first(conn, {"id": conversation_id}))

    async def find_conversation(self, channel: str, label: str, user_id: str) -> RowMapping | None:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(conversations).where(
                    conversations.c.channel == channel,
                    conversations.c.label == label,
                    conversations.c.user_id == user_id,
                )
            )
            return result.mappings().first()

    async def update_conversation(self, conversation_id: str, **values: Any) -> None:
        values["updated_at"] = time.time()
        async with self.tx() as conn:
            await conn.execute(
                update(conversations).where(conversations.c.id == conversation_id).values(**values)
            )

    # --- accepting webhooks ---

    async def accept(
        self,
        channel: str,
        label: str,
        default_locale: str,
        messages: Sequence[InboundMessage],
        statuses: Sequence[StatusUpdate] = (),
        now: float | None = None,
    ) -> Accepted:
        """Durably record a webhook's events, skipping those seen before.

        Every event is held to the id and text rules of ``channels.inbound.screen`` first, whoever calls
        (webhooks, web chat, the API): the same events are kept on SQLite and PostgreSQL, and none that
        PostgreSQL would refuse (NUL, over-long ids) can fail the whole transaction. The messages and the
        first :data:`STATUS_BATCH` statuses are one transaction; further statuses follow in transactions of
        that size, so that a webhook with thousands of receipts cannot hold the single writer (and every
        other webhook's acknowledgement) for seconds.
        """
        now = time.time() if now is None else now
        kept, refused = screen_all([*messages, *statuses])
        if refused:
            log.warning(
                "%s/%s: %d events not stored: %s", channel, label, len(refused), "; ".join(refused[:5])
            )
        # screened events, possibly cleaned (NUL removed from texts)
        messages = [e for e in kept if isinstance(e, InboundMessage)]
        statuses = [e for e in kept if isinstance(e, StatusUpdate)]
        first, rest = list(statuses[:STATUS_BATCH]), statuses[STATUS_BATCH:]
        users = {m.user.id: (m.user.name, default_locale) for m in messages}
        inputs = [m.input.model_dump(mode="json", exclude_none=True) for m in messages]

        def job(conn: Connection) -> Accepted:
            new_turns: list[tuple[int, str]] = []
            duplicates = 0
            if messages:
                ids = self._sync_conversation_ids(conn, channel, label, users, now)
                rows = [
                    {
                        "channel": channel,
                        "label": label,
                        "dedup_key": m.dedup_key,
                        "conversation_id": ids[m.user.id],
                        "kind": "message",
                        "input": input_json,
                        "raw": m.raw,
                        "platform_message_id": m.platform_message_id,
                        "locale_hint": m.locale_hint,
                        "now": now,
                    }
                    for m, input_json in zip(messages, inputs, strict=True)
                ]
                new_turns, duplicates = self._sync_insert_inbox(conn, rows)
                if new_turns:
                    self._touch_inbound(conn, messages, ids, {c for _, c in new_turns}, now)
            status_count = self._apply_statuses(conn, channel, label, first, now) if first else 0
            return Accepted(new_turns=new_turns, duplicates=duplicates, statuses=status_count)

        # Messages jump the queue: the platform waits for the 200. Statuses do not: one must not overtake
        # the mark_sent (already queued) of the message it is about.
        accepted = await self.run(job, urgent=not statuses)
        applied = accepted.statuses
        for start in range(0, len(rest), STATUS_BATCH):
            batch = list(rest[start : start + STATUS_BATCH])
            applied += await self.run(
                functools.partial(self._apply_statuses, channel=channel, label=label, statuses=batch, now=now)
            )
        return dataclasses.replace(accepted, statuses=applied) if rest else accepted

    async def _insert_inbox(
        self, conn: AsyncConnection, rows: list[dict[str, Any]]
    ) -> tuple[list[tuple[int, str]], int]:
        return await conn.run_sync(lambda c: self._sync_insert_inbox(c, rows))

    @staticmethod
    def _sync_insert_inbox(conn: Connection, rows: list[dict[str, Any]]) -> tuple[list[tuple[int, str]], int]:
        """Insert pending turns, skipping seen dedup keys; the new (inbox id, conversation id) pairs."""
        new: list[tuple[int, str]] = []
        # One statement per row keeps RETURNING exact on both engines; rows per webhook are few.
        for row in rows:
            hit = sql.INSERT_TURN.first(
                conn, {"raw": None, "platform_message_id": None, "locale_hint": None, **row}
            )
            if hit is not None:
                new.append((int(hit["id"]), str(hit["conversation_id"])))
        return new, len(rows) - len(new)

    @staticmethod
    def _touch_inbound(
        conn: Connection,
        messages: Sequence[InboundMessage],
        ids: dict[str, str],
        fresh: set[str],
        now: float,
    ) -> None:
        """Remember the user's last message: it opens the platforms' customer-service windows."""
        latest: dict[str, InboundMessage] = {}
        for m in messages:
            if ids[m.user.id] in fresh:
                latest[ids[m.user.id]] = m
        for conversation_id, m in latest.items():
            sql.TOUCH_INBOUND.execute(
                conn,
                {
                    "id": conversation_id,
                    "now": now,
                    "platform_message_id": m.platform_message_id or None,
                    "user_name": m.user.name or None,
                },
            )

    def _apply_statuses(
        self, conn: Connection, channel: str, label: str, statuses: Sequence[StatusUpdate], now: float
    ) -> int:
        applied = 0
        for s in statuses:
            seen = conn.execute(
                self._insert(inbox)
                .on_conflict_do_nothing(index_elements=["channel", "label", "dedup_key"])
                .returning(inbox.c.id),
                {
                    "channel": channel,
                    "label": label,
                    "dedup_key": s.dedup_key,
                    "conversation_id": "",
                    "kind": "status",
                    "input": {"status": s.status, "platform_message_id": s.platform_message_id},
                    "raw": None,
                    "status": "done",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "done_at": now,
                },
            )
            if seen.first() is None:
                continue
            applied += 1
            self._apply_status(conn, channel, label, s, now)
        return applied

    @staticmethod
    def _apply_status(conn: Connection, channel: str, label: str, s: StatusUpdate, now: float) -> None:
        target = and_(outbox.c.channel == channel, outbox.c.label == label)
        if s.platform_message_id:
            where = and_(target, outbox.c.platform_message_id == s.platform_message_id)
        elif s.watermark is not None:
            conv = conn.execute(
                select(conversations.c.id).where(
                    conversations.c.channel == channel,
                    conversations.c.label == label,
                    conversations.c.user_id == s.user_id,
                )
            )
            conversation_id = conv.scalar()
            if conversation_id is None:
                return
            where = and_(
                outbox.c.conversation_id == conversation_id,
                outbox.c.sent_at <= s.watermark,
                outbox.c.kind == "message",
            )
        else:
            return
        if s.status == "failed":
            conn.execute(
                update(outbox)
                .where(where, outbox.c.status.in_(["sent", "delivered"]))
                .values(
                    status="failed",
                    reason=s.reason or "the platform reported the message failed",
                    updated_at=now,
                )
            )
            return
        rank = STATUS_RANK[s.status]
        lower = [name for name, r in STATUS_RANK.items() if 3 <= r < rank]
        conn.execute(
            update(outbox).where(where, outbox.c.status.in_(lower)).values(status=s.status, updated_at=now)
        )

    async def add_event_turn(
        self, conversation_id: str, channel: str, label: str, input_json: dict[str, Any], dedup_key: str
    ) -> int | None:
        """A turn that no user message started (a proactive event from the API, a locale change)."""
        now = time.time()
        async with self.tx() as conn:
            new, _ = await self._insert_inbox(
                conn,
                [
                    {
                        "channel": channel,
                        "label": label,
                        "dedup_key": dedup_key,
                        "conversation_id": conversation_id,
                        "kind": "event",
                        "input": input_json,
                        "now": now,
                    }
                ],
            )
        return new[0][0] if new else None

    # --- turns ---

    async def claimable_conversations(self, now: float, limit: int) -> list[str]:
        """Conversations whose next turn is due and that nobody holds (other replicas' work, retries,
        recovery), longest due first.

        Only the oldest pending turn of a conversation decides: when it waits for a retry, the later ones
        wait too, so a conversation whose head is backing off is not returned (it used to be, for its later
        turns, on every poll: a few hundred such conversations filled the batch and other users' retries
        never ran)."""
        earlier = inbox.alias("earlier")
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(inbox.c.conversation_id)
                .join(conversations, conversations.c.id == inbox.c.conversation_id)
                .where(
                    inbox.c.status == "pending",
                    inbox.c.next_attempt_at <= now,
                    or_(conversations.c.lease_until.is_(None), conversations.c.lease_until < now),
                    ~select(earlier.c.id)
                    .where(
                        earlier.c.conversation_id == inbox.c.conversation_id,
                        earlier.c.status == "pending",
                        earlier.c.id < inbox.c.id,
                    )
                    .exists(),
                )
                .order_by(inbox.c.next_attempt_at, inbox.c.id)
                .limit(limit)
            )
            return [r[0] for r in result]

    async def claim_conversation(self, conversation_id: str, owner: str, lease: float) -> Row | None:
        """Claim a conversation and return its oldest pending turn, in one transaction. None when another
        worker holds it, or when nothing is pending (then the claim is released at once)."""
        now = time.time()
        claim = {"id": conversation_id, "owner": owner, "until": now + lease, "now": now}

        def job(conn: Connection) -> Row | None:
            if not sql.CLAIM_CONVERSATION.execute(conn, claim):
                return None
            row = self._next_turn(conn, conversation_id)
            if row is None:
                self._release(conn, conversation_id, owner)
            return row

        return await self.run(job)

    async def renew_lease(self, conversation_id: str, owner: str, lease: float) -> None:
        async with self.tx() as conn:
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id, conversations.c.lease_owner == owner)
                .values(lease_until=time.time() + lease)
            )

    @staticmethod
    def _next_turn(conn: Connection, conversation_id: str) -> Row | None:
        return sql.NEXT_TURN.first(conn, {"conversation_id": conversation_id})

    @staticmethod
    def _release(conn: Connection, conversation_id: str, owner: str) -> None:
        sql.RELEASE_CONVERSATION.execute(conn, {"id": conversation_id, "owner": owner})

    async def release_conversation(self, conversation_id: str, owner: str) -> None:
        await self.run(lambda conn: self._release(conn, conversation_id, owner))

    async def complete_turn(
        self,
        turn_id: int,
        conversation_id: str,
        channel: str,
        label: str,
        outbounds: Iterable[NewOutbound],
        *,
        failed_reason: str | None = None,
        conversation_values: dict[str, Any] | None = None,
        request_id: str | None = None,
        owner: str | None = None,
    ) -> tuple[list[int], Row | None]:
        """Record a turn's outcome and its outbound messages in one transaction: the reply is durable
        exactly when the turn is done, so a crash either redoes the whole turn or nothing.

        Returns the outbox ids and, for the lease ``owner``, the conversation's next pending turn (the
        lease is released in the same transaction when there is none)."""
        now = time.time()
        rows = [
            self.outbox_row(conversation_id, channel, label, item, now, turn_id, request_id)
            for item in outbounds
        ]

        finish = {
            "id": turn_id,
            "status": "failed" if failed_reason else "done",
            "error": failed_reason,
            "now": now,
        }

        def job(conn: Connection) -> tuple[list[int], Row | None]:
            following: Row | None = None
            ids = self.insert_outbox(conn, rows)
            sql.FINISH_TURN.execute(conn, finish)
            if conversation_values:
                conn.execute(
                    update(conversations)
                    .where(conversations.c.id == conversation_id)
                    .values(**conversation_values, updated_at=now)
                )
            if owner is not None:
                following = self._next_turn(conn, conversation_id)
                if following is None:
                    self._release(conn, conversation_id, owner)
            return ids, following

        return await self.run(job)

    @staticmethod
    def insert_outbox(conn: Connection, rows: Iterable[dict[str, Any]]) -> list[int]:
        """Insert ``outbox_row``s; their ids, in order. Every path that queues a message goes through here."""
        ids: list[int] = []
        for row in rows:
            found = sql.INSERT_OUTBOX.first(conn, row)
            assert found is not None
            ids.append(int(found["id"]))
        return ids

    @staticmethod
    def outbox_row(
        conversation_id: str,
        channel: str,
        label: str,
        item: NewOutbound,
        now: float,
        turn_id: int | None,
        request_id: str | None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        o = item.outbound
        return {
            "conversation_id": conversation_id,
            "channel": channel,
            "label": label,
            "inbox_id": turn_id,
            "request_id": request_id,
            "idempotency_key": idempotency_key,
            "kind": o.kind,
            "best_effort": o.best_effort,
            "body": o.body,
            "fallback": o.fallback,
            "summary": o.summary,
            "status": item.status,
            "attempts": 0,
            "next_attempt_at": now,
            "reason": item.reason,
            "created_at": now,
            "updated_at": now,
        }

    async def enqueue(
        self,
        conversation_id: str,
        channel: str,
        label: str,
        outbounds: Iterable[NewOutbound],
        request_id: str,
        idempotency_key: str | None = None,
    ) -> list[int]:
        """Queue outbound messages outside a turn (the proactive API)."""
        now = time.time()
        rows = [
            self.outbox_row(conversation_id, channel, label, item, now, None, request_id, idempotency_key)
            for item in outbounds
        ]
        async with self.tx() as conn:
            return await conn.run_sync(lambda c: self.insert_outbox(c, rows))

    async def retry_turn(self, turn_id: int, attempts: int, at: float, error: str) -> None:
        async with self.tx() as conn:
            await conn.execute(
                update(inbox)
                .where(inbox.c.id == turn_id)
                .values(attempts=attempts, next_attempt_at=at, error=error)
            )

    async def unsent_before(self, conversation_id: str, outbox_id: int) -> bool:
        """Whether an earlier message of this conversation still waits to go out (queued, being sent, or
        held for another passive reply). A passive reply must not overtake it: the HTTP answer would
        reach the user before a reply that a retry, or a crashed replica's lease, is holding back."""
        async with self.engine.connect() as conn:
            found = await conn.execute(
                select(outbox.c.id)
                .where(
                    outbox.c.conversation_id == conversation_id,
                    outbox.c.id < outbox_id,
                    outbox.c.status.in_(("held", "queued", "sending")),
                )
                .limit(1)
            )
            return found.first() is not None

    async def release_held(self, ids: Sequence[int], passive: int) -> None:
        """After a passive reply: the first ``passive`` rows went out in the HTTP answer (called once it was
        written, so a row ``recover`` already put back in the queue stays there), the rest queue."""
        now = time.time()
        async with self.tx() as conn:
            if passive:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(list(ids[:passive])), outbox.c.status == "held")
                    .values(status="sent", sent_at=now, updated_at=now, reason="passive reply", attempts=1)
                )
            rest = list(ids[passive:])
            if rest:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(rest), outbox.c.status == "held")
                    .values(status="queued", next_attempt_at=now, updated_at=now)
                )

    # --- delivery ---

    async def claim_deliveries(self, owner: str, now: float, limit: int, lease: float) -> list[Row]:
        """Due outbound rows at the head of their conversation's line, claimed for ``lease`` seconds."""
        claim = {"owner": owner, "now": now, "until": now + lease, "limit": limit}
        rows = await self.run(lambda conn: sql.CLAIM_DELIVERIES.rows(conn, claim))
        return sorted(rows, key=lambda r: int(r["id"]))

    async def mark_sent(self, outbox_id: int, platform_message_id: str | None, attempts: int) -> None:
        sent = {
            "id": outbox_id,
            "platform_message_id": platform_message_id,
            "attempts": attempts,
            "now": time.time(),
        }
        await self.run(lambda conn: sql.MARK_SENT.execute(conn, sent))

    async def unclaim(self, ids: Sequence[int]) -> None:
        """Give claimed rows back to the queue untouched (shutdown began before they were sent)."""
        async with self.tx() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(list(ids)), outbox.c.status == "sending")
                .values(status="queued", lease_owner=None, lease_until=None)
            )

    async def mark_retry(
        self,
        outbox_id: int,
        conversation_id: str,
        attempts: int,
        at: float,
        reason: str,
        retry_since: float | None,
    ) -> None:
        """Put a claimed row back in the queue until ``at``; the later messages of its conversation wait
        with it. ``retry_since``: when its retry budget started (None: at its creation)."""
        retry = {
            "id": outbox_id,
            "attempts": attempts,
            "at": at,
            "reason": reason,
            "retry_since": retry_since,
            "now": time.time(),
        }
        hold = {"id": outbox_id, "conversation_id": conversation_id, "at": at}

        def job(conn: Connection) -> None:
            sql.MARK_RETRY.execute(conn, retry)
            sql.HOLD_FOLLOWERS.execute(conn, hold)

        await self.run(job)

    async def resume_paused(self) -> int:
        """At start: deliveries an earlier process paused for refused credentials are due now."""
        now = {"now": time.time()}
        return int(await self.run(lambda conn: sql.RESUME_PAUSED.execute(conn, now)))

    async def resume_deliveries(self, channel: str, label: str) -> int:
        """An integration's deliveries resume (credentials fixed): its queued rows are due now, each with a
        fresh retry budget. Returns how many."""
        resume = {"channel": channel, "label": label, "now": time.time()}
        return int(await self.run(lambda conn: sql.RESUME_DELIVERIES.execute(conn, resume)))

    async def mark_failed(self, outbox_id: int, reason: str, attempts: int, *, dead: bool = False) -> None:
        async with self.tx() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == outbox_id)
                .values(
                    status="dead" if dead else "failed",
                    attempts=attempts,
                    reason=reason,
                    updated_at=time.time(),
                    lease_owner=None,
                    lease_until=None,
                )
            )

    async def replay_dead_letter(self, message_id: int) -> bool:
        """Queue a dead letter again with a fresh retry budget; False if it is not dead (any more).

        It keeps its place in its conversation's line (its id), so the messages queued after it wait for
        it, as they would have had it gone out. The conversation's dead letters it directly followed (those
        since the last message that went out) are replayed with it, so they go out before it, in their
        original order, rather than after it if they were replayed later. Messages already sent stay
        sent: a replay cannot go back in time."""
        now = time.time()

        def job(conn: Connection) -> bool:
            found = conn.execute(
                select(outbox.c.conversation_id).where(outbox.c.id == message_id, outbox.c.status == "dead")
            ).first()
            if found is None:
                return False
            conversation_id = found[0]
            went_out = conn.execute(
                select(func.max(outbox.c.id)).where(
                    outbox.c.conversation_id == conversation_id,
                    outbox.c.id < message_id,
                    outbox.c.status.in_(["sent", "delivered", "read"]),
                )
            ).scalar()
            conn.execute(
                update(outbox)
                .where(
                    outbox.c.conversation_id == conversation_id,
                    outbox.c.status == "dead",
                    outbox.c.id <= message_id,
                    outbox.c.id > (went_out or 0),
                )
                .values(
                    status="queued",
                    attempts=0,
                    next_attempt_at=now,
                    retry_since=now,
                    updated_at=now,
                    lease_owner=None,
                    lease_until=None,
                    reason="replayed from the dead letters",
                )
            )
            return True

        return await self.run(job)

    async def use_fallback(self, outbox_id: int, body: dict[str, Any], reason: str) -> None:
        """Replace a message the platform refused (closed window) with its fallback, queued at once."""
        now = time.time()
        async with self.tx() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == outbox_id)
                .values(
                    status="queued",
                    body=body,
                    fallback=None,
                    reason=reason,
                    next_attempt_at=now,
                    updated_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    async def nudge(self, channel: str, label: str, user_id: str) -> int:
        now = time.time()
        async with self.tx() as conn:
            conv = await conn.execute(
                select(conversations.c.id).where(
                    conversations.c.channel == channel,
                    conversations.c.label == label,
                    conversations.c.user_id == user_id,
                )
            )
            conversation_id = conv.scalar()
            if conversation_id is None:
                return 0
            result = await conn.execute(
                update(outbox)
                .where(outbox.c.conversation_id == conversation_id, outbox.c.status == "queued")
                .values(next_attempt_at=now)
            )
            return int(result.rowcount)

    async def recover(self, now: float, held_grace: float = 30.0) -> int:
        """Put back work whose worker died: expired sends, and replies held for a passive answer that
        never came. Turns need nothing: their conversation lease simply expires."""
        async with self.tx() as conn:
            sending = await conn.execute(
                update(outbox)
                .where(outbox.c.status == "sending", outbox.c.lease_until < now)
                .values(status="queued", lease_owner=None, lease_until=None, next_attempt_at=now)
            )
            held = await conn.execute(
                update(outbox)
                .where(outbox.c.status == "held", outbox.c.created_at < now - held_grace)
                .values(status="queued", next_attempt_at=now)
            )
            return int(sending.rowcount) + int(held.rowcount)

    # --- reading ---

    async def outbox_rows(self, conversation_id: str) -> list[RowMapping]:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(outbox).where(outbox.c.conversation_id == conversation_id).order_by(outbox.c.id)
            )
            return list(result.mappings().all())

    async def inbox_rows(self, conversation_id: str) -> list[RowMapping]:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(inbox).where(inbox.c.conversation_id == conversation_id).order_by(inbox.c.id)
            )
            return list(result.mappings().all())

    async def depths(self) -> dict[str, int]:
        """Queue depths for metrics and backpressure."""
        async with self.engine.connect() as conn:
            pending = await conn.execute(
                select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
            )
            queued = await conn.execute(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.status.in_(["queued", "sending", "held"]))
            )
            dead = await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "dead")
            )
            return {
                "inbox_pending": int(pending.scalar_one()),
                "outbox_pending": int(queued.scalar_one()),
                "outbox_dead": int(dead.scalar_one()),
            }

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(select(1))

    # --- shared key-values and locks (channels.base.KeyValue) ---

    async def kv_get(self, key: str) -> str | None:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(kv.c.value, kv.c.expires_at).where(kv.c.key == key))
            row = result.first()
        if row is None or (row.expires_at is not None and row.expires_at <= time.time()):
            return None
        return str(row.value)

    async def kv_set(self, key: str, value: str, ttl: float | None = None) -> None:
        expires = time.time() + ttl if ttl else None
        stmt = self._insert(kv).values(key=key, value=value, expires_at=expires)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": value, "expires_at": expires}
        )
        async with self.tx() as conn:
            await conn.execute(stmt)

    async def try_lock(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        async with self.tx() as conn:
            await conn.execute(delete(locks).where(locks.c.name == name, locks.c.expires_at < now))
            result = await conn.execute(
                self._insert(locks)
                .values(name=name, owner=owner, expires_at=now + ttl)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(locks.c.name)
            )
            return result.first() is not None

    async def unlock(self, name: str, owner: str) -> None:
        async with self.tx() as conn:
            await conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == owner))


def _add_missing_columns(conn: Connection) -> None:
    """``create_all`` makes a table's columns only with the table: add the nullable ones a newer version
    defines (e.g. ``outbox.retry_since``), so a store written by an older version keeps working."""
    found = inspect(conn)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in found.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have and column.nullable:
                kind = column.type.compile(dialect=conn.dialect)
                # PostgreSQL: replicas starting together may race to add it
                guard = "" if conn.dialect.name == "sqlite" else "IF NOT EXISTS "
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN {guard}"{column.name}" {kind}')


def _create_missing_indexes(conn: Connection) -> None:
    """``create_all`` makes a table's indexes only with the table: add those a newer version defines."""
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _sqlite_begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, synchronous: str = "normal") -> None:
    if synchronous not in ("normal", "full"):  # it goes into the statement: only the two known words
        raise ValueError(f"synchronous must be normal or full, not {synchronous!r}")
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class StoreKeyValue:
    """The KeyValue protocol of channels.base over the store, with namespaced keys."""

    def __init__(self, store: Store, owner: str, namespace: str = "") -> None:
        self.store = store
        self.owner = owner
        self.namespace = namespace

    async def get(self, key: str) -> str | None:
        value = await self.store.kv_get(self.namespace + key)
        return self.store.secrets.open(value) if value else value

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Values are sealed: channels keep secrets here (the web chat's HMAC key, access tokens)."""
        sealed = self.store.secrets.seal(value) if value else value
        await self.store.kv_set(self.namespace + key, sealed, ttl)

    @asynccontextmanager
    async def lock(self, key: str, ttl: float = 30.0) -> AsyncIterator[None]:
        name = self.namespace + key
        delay = 0.02
        while not await self.store.try_lock(name, self.owner, ttl):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            await self.store.unlock(name, self.owner)
