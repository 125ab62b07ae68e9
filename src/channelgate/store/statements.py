"""How the hot path's statements run: written once in SQL that SQLite and PostgreSQL both speak. The
statements themselves live with the repository that owns their table (conversations.py, inbox.py,
outbox.py, retention.py).

Why not SQLAlchemy Core expressions like the rest of the store: building an expression, computing its
cache key and running it through the execution context cost ~200 µs per statement, and a WhatsApp message
takes ~14 statements on SQLite's single writer thread. Profiled under load, that was 70 % of the thread's
time and the gateway's bottleneck (docs/benchmarks.md). On SQLite a ``Sql`` goes straight to the driver's
cursor (sqlite3 takes ``:name`` parameters as written); elsewhere it runs as a ``text()`` clause built
once, with JSON parameters and columns typed, so PostgreSQL gets the same statement through asyncpg.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Connection, bindparam, text

#: any row by column name (a dict from the hot statements, a RowMapping from SQLAlchemy elsewhere); the rows
#: the pipeline and the delivery worker read are typed by column in rows.py
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
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.sql, self._encode(params))
            yield cursor
        finally:
            cursor.close()

    def _encode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """SQLite's parameters: JSON ones encoded as SQLAlchemy would."""
        encoded = dict(params)
        for name in self.json:
            if encoded.get(name) is not None:
                encoded[name] = orjson.dumps(encoded[name]).decode()
        return encoded

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

    def execute_many(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per parameter set, in one driver call: on PostgreSQL one round trip for all of them
        (asyncpg pipelines ``executemany``), where a loop of :meth:`execute` would pay one each."""
        if not params:
            return
        if conn.dialect.name == "sqlite":
            cursor = conn.connection.cursor()
            try:
                cursor.executemany(self.sql, [self._encode(p) for p in params])
            finally:
                cursor.close()
            return
        conn.execute(self.clause, [dict(p) for p in params])

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run it and return every row it yields (a SELECT, or a statement with RETURNING)."""
        if conn.dialect.name == "sqlite":
            with self._sqlite_cursor(conn, params) as cursor:
                names = [d[0] for d in cursor.description]
                return [self._decode(names, values) for values in cursor.fetchall()]
        return [dict(row) for row in conn.execute(self.returning, dict(params)).mappings()]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        found = self.rows(conn, params)
        return found[0] if found else None
