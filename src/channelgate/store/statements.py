"""The hot path's statements, written once in SQL that SQLite and PostgreSQL both speak.

Why not SQLAlchemy Core expressions like the rest of the store: building an expression, computing its
cache key and running it through the execution context cost ~200 µs per statement, and a WhatsApp message
takes ~14 statements on SQLite's single writer thread. Profiled under load, that was 70 % of the thread's
time and the gateway's bottleneck (docs/benchmarks.md). On SQLite a ``Sql`` goes straight to the driver's
cursor (sqlite3 takes ``:name`` parameters as written); elsewhere it runs as a ``text()`` clause built
once, with JSON parameters and columns typed, so PostgreSQL gets the same statement through asyncpg.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Connection, bindparam, text

#: a row by column name: a dict from the hot statements, a RowMapping from SQLAlchemy elsewhere
Row = Mapping[Any, Any]


class Sql:
    """One statement with ``:name`` parameters. ``json``: parameters stored as JSON and columns read back
    as JSON; ``booleans``: columns read back as ``bool`` (SQLite returns 0/1)."""

    def __init__(self, sql: str, *, json: tuple[str, ...] = (), booleans: tuple[str, ...] = ()) -> None:
        self.sql = " ".join(sql.split())
        self.json = json
        self.booleans = booleans
        self.clause = text(self.sql).bindparams(
            *(bindparam(name, type_=JSON) for name in json if f":{name}" in self.sql)
        )
        # the same clause with its result columns typed, for the statements that yield rows
        self.returning = self.clause.columns(
            **{name: JSON for name in json}, **{name: Boolean for name in booleans}
        )

    @contextmanager
    def _sqlite_cursor(self, conn: Connection, params: Mapping[str, Any]) -> Iterator[Any]:
        """The statement run on the driver's own cursor, JSON parameters encoded as SQLAlchemy would."""
        encoded = dict(params)
        for name in self.json:
            if encoded.get(name) is not None:
                encoded[name] = orjson.dumps(encoded[name]).decode()
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.sql, encoded)
            yield cursor
        finally:
            cursor.close()

    def _decode(self, names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
        row = dict(zip(names, values, strict=True))
        for name in self.json:
            value = row.get(name)
            if isinstance(value, str | bytes):
                row[name] = orjson.loads(value)
        for name in self.booleans:
            if name in row and row[name] is not None:
                row[name] = bool(row[name])
        return row

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run it for its effect; the number of rows it changed."""
        if conn.dialect.name == "sqlite":
            with self._sqlite_cursor(conn, params) as cursor:
                return int(cursor.rowcount)
        return int(conn.execute(self.clause, dict(params)).rowcount)

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Row]:
        """Run it and return every row it yields (a SELECT, or a statement with RETURNING)."""
        if conn.dialect.name == "sqlite":
            with self._sqlite_cursor(conn, params) as cursor:
                names = [d[0] for d in cursor.description]
                return [self._decode(names, values) for values in cursor.fetchall()]
        return [dict(row) for row in conn.execute(self.returning, dict(params)).mappings()]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Row | None:
        found = self.rows(conn, params)
        return found[0] if found else None


# --- conversations ---

FIND_CONVERSATION_ID = Sql(
    "SELECT id FROM conversations WHERE channel = :channel AND label = :label AND user_id = :user_id"
)
INSERT_CONVERSATION = Sql(
    """INSERT INTO conversations
         (id, channel, label, user_id, user_name, locale, profile_fetched, created_at, updated_at)
       VALUES (:id, :channel, :label, :user_id, :user_name, :locale, FALSE, :now, :now)
       ON CONFLICT (channel, label, user_id) DO NOTHING"""
)
CONVERSATION = Sql(
    "SELECT * FROM conversations WHERE id = :id", json=("state",), booleans=("profile_fetched",)
)
TOUCH_INBOUND = Sql(
    """UPDATE conversations SET last_inbound_at = :now, updated_at = :now,
         last_platform_message_id = COALESCE(:platform_message_id, last_platform_message_id),
         user_name = COALESCE(:user_name, user_name)
       WHERE id = :id"""
)
CLAIM_CONVERSATION = Sql(
    """UPDATE conversations SET lease_owner = :owner, lease_until = :until
       WHERE id = :id AND (lease_until IS NULL OR lease_until < :now OR lease_owner = :owner)"""
)
RELEASE_CONVERSATION = Sql(
    "UPDATE conversations SET lease_owner = NULL, lease_until = NULL WHERE id = :id AND lease_owner = :owner"
)

# --- inbox ---

INSERT_TURN = Sql(
    """INSERT INTO inbox
         (channel, label, dedup_key, conversation_id, kind, input, raw, platform_message_id, locale_hint,
          status, attempts, next_attempt_at, created_at)
       VALUES (:channel, :label, :dedup_key, :conversation_id, :kind, :input, :raw, :platform_message_id,
          :locale_hint, 'pending', 0, :now, :now)
       ON CONFLICT (channel, label, dedup_key) DO NOTHING
       RETURNING id, conversation_id""",
    json=("input", "raw"),
)
NEXT_TURN = Sql(
    "SELECT * FROM inbox WHERE conversation_id = :conversation_id AND status = 'pending' ORDER BY id LIMIT 1",
    json=("input", "raw"),
)
FINISH_TURN = Sql("UPDATE inbox SET status = :status, error = :error, done_at = :now WHERE id = :id")

# --- outbox ---

INSERT_OUTBOX = Sql(
    """INSERT INTO outbox
         (conversation_id, channel, label, inbox_id, request_id, idempotency_key, kind, best_effort, body,
          fallback, summary, status, attempts, next_attempt_at, reason, created_at, updated_at)
       VALUES (:conversation_id, :channel, :label, :inbox_id, :request_id, :idempotency_key, :kind,
          :best_effort, :body, :fallback, :summary, :status, :attempts, :next_attempt_at, :reason,
          :created_at, :updated_at)
       RETURNING id""",
    json=("body", "fallback"),
)
# The head of each conversation's line only: nothing earlier of the same conversation still waits or is
# in flight. The outer ``status = 'queued'`` is checked again on each row as it is updated, so on
# PostgreSQL two replicas claiming at once never both take a row.
CLAIM_DELIVERIES = Sql(
    """UPDATE outbox SET status = 'sending', lease_owner = :owner, lease_until = :until, updated_at = :now
       WHERE status = 'queued' AND id IN (
         SELECT o.id FROM outbox o
         WHERE o.status = 'queued' AND o.next_attempt_at <= :now
           AND NOT EXISTS (
             SELECT 1 FROM outbox e
             WHERE e.conversation_id = o.conversation_id AND e.id < o.id
               AND e.status IN ('held', 'queued', 'sending'))
         ORDER BY o.next_attempt_at, o.id
         LIMIT :limit)
       RETURNING *""",
    json=("body", "fallback"),
    booleans=("best_effort",),
)
# A fallback template's note stays (the API reports it); retry reasons go.
MARK_SENT = Sql(
    """UPDATE outbox SET status = 'sent', platform_message_id = :platform_message_id, sent_at = :now,
         updated_at = :now, attempts = :attempts, lease_owner = NULL, lease_until = NULL,
         reason = CASE WHEN reason LIKE 'window closed%' THEN reason ELSE NULL END
       WHERE id = :id"""
)
# A send that failed and waits for its next try. Attempts and ``retry_since`` (when its retry budget
# started) are the caller's; lease and status go back to the queue.
MARK_RETRY = Sql(
    """UPDATE outbox SET status = 'queued', attempts = :attempts, next_attempt_at = :at, reason = :reason,
         retry_since = :retry_since, updated_at = :now, lease_owner = NULL, lease_until = NULL
       WHERE id = :id"""
)
# What waits behind a retrying head waits as long: its later messages are not due before it is, so the
# delivery claim does not scan them on every round while the head waits (a long outage queues thousands).
HOLD_FOLLOWERS = Sql(
    """UPDATE outbox SET next_attempt_at = :at
       WHERE conversation_id = :conversation_id AND status = 'queued' AND id > :id
         AND next_attempt_at < :at"""
)
# An integration's deliveries resume (its credentials were fixed): everything it has queued is due now,
# and the retry budget of each starts again, since the pause was not the messages' failure.
# At start: a process does not know which integrations an earlier one paused, and the config may hold a new
# token now; what was paused is tried at once (and paused again if the credentials are still refused).
RESUME_PAUSED = Sql(
    """UPDATE outbox SET next_attempt_at = :now, retry_since = :now, updated_at = :now
       WHERE status = 'queued' AND reason LIKE 'paused: credentials refused%'"""
)
RESUME_DELIVERIES = Sql(
    """UPDATE outbox SET next_attempt_at = :now, retry_since = :now, updated_at = :now
       WHERE channel = :channel AND label = :label AND status = 'queued'"""
)
