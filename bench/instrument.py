"""``python -m bench.instrument serve --config ...``: the gateway with counters, for the profile's "how many
per message" figures (never for timing: the counters cost CPU themselves).

Installed before channelgate is imported, from outside its source:

* every SQL statement any sqlite3 connection runs (``set_trace_callback`` on each connection, the writer
  thread's and aiosqlite's alike), counted by its first words, and the transactions (``BEGIN``); on
  PostgreSQL the same from SQLAlchemy's asyncpg adapter, with its ``COMMIT``/``ROLLBACK`` and pool pings;
* pydantic models built (``BaseModel.__init__``, ``model_validate*``) and dumped (``model_dump*``), per
  class and calling function: top-level calls only, nested models inside one validation (and
  ``TypeAdapter`` validations) are not seen;
* log records made (``Logger._log``, i.e. past the level check) and prometheus ``labels()`` lookups.

``SIGUSR1`` writes the counts so far as JSON to ``$BENCH_COUNTS``; the harness reads it before and after
its window and takes the difference.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from functools import wraps
from typing import Any

COUNTS: Counter[str] = Counter()
_WORDS = re.compile(r"\s+")


def statement_key(sql: str) -> str:
    """A statement's kind and table, e.g. ``UPDATE outbox`` or ``SELECT ... FROM inbox``."""
    words = _WORDS.sub(" ", sql.strip()).split(" ")
    verb = words[0].upper() if words else "?"
    upper = [w.upper() for w in words]
    table = ""
    for marker in ("INTO", "UPDATE", "FROM"):
        if marker in upper:
            i = upper.index(marker)
            if i + 1 < len(words):
                table = words[i + 1].strip('"(')
                break
    return f"{verb} {table}".strip()


def _count_sql(sql: str) -> None:
    COUNTS["sql"] += 1
    COUNTS[f"sql: {statement_key(sql)}"] += 1


def _patch_sqlite() -> None:
    real = sqlite3.connect

    @wraps(real)
    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        con = real(*args, **kwargs)
        con.set_trace_callback(_count_sql)
        return con

    # SQLAlchemy's pysqlite dialect connects through ``sqlite3.dbapi2``, a module of its own
    sqlite3.connect = connect  # type: ignore[assignment]
    sqlite3.dbapi2.connect = connect  # type: ignore[assignment]


def _patch_asyncpg() -> None:
    """PostgreSQL: every statement SQLAlchemy's asyncpg adapter sends (by its first words, as for SQLite),
    and the transactions it begins (``BEGIN``), commits and rolls back, and the pool's pings: the round
    trips of the store, whoever makes them."""
    from sqlalchemy.dialects.postgresql import asyncpg as adapter

    cursor = adapter.AsyncAdapt_asyncpg_cursor
    connection = adapter.AsyncAdapt_asyncpg_connection
    real_execute, real_many = cursor._prepare_and_execute, cursor._executemany
    real_begin, real_ping = connection._start_transaction, connection.ping

    async def _prepare_and_execute(self: Any, operation: str, parameters: Any) -> Any:
        _count_sql(operation)
        return await real_execute(self, operation, parameters)

    async def _executemany(self: Any, operation: str, seq: Any) -> Any:
        _count_sql(operation)
        return await real_many(self, operation, seq)

    async def _start_transaction(self: Any) -> Any:
        _count_sql("BEGIN")
        return await real_begin(self)

    def ping(self: Any) -> Any:
        COUNTS["pool ping (BEGIN; ;; ROLLBACK)"] += 1
        return real_ping(self)

    def ending(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(real)
        def end(self: Any) -> Any:
            if self._transaction is not None:
                _count_sql(name)
            return real(self)

        return end

    cursor._prepare_and_execute = _prepare_and_execute  # type: ignore[method-assign]
    cursor._executemany = _executemany  # type: ignore[method-assign]
    connection._start_transaction = _start_transaction  # type: ignore[method-assign]
    connection.ping = ping  # type: ignore[method-assign]
    connection.commit = ending("COMMIT", connection.commit)  # type: ignore[method-assign]
    connection.rollback = ending("ROLLBACK", connection.rollback)  # type: ignore[method-assign]


def _counting(name: str, fn: Callable[..., Any], *, method: bool) -> Callable[..., Any]:
    @wraps(fn)
    def wrapper(first: Any, *args: Any, **kwargs: Any) -> Any:
        cls = first if not method else type(first)
        caller = sys._getframe(1)
        where = f"{caller.f_code.co_filename.rsplit('/', 2)[-2:][-1]}:{caller.f_code.co_qualname}"
        COUNTS[f"{name}: {cls.__module__.split('.')[0]}.{cls.__qualname__} in {where}"] += 1
        return fn(first, *args, **kwargs)

    return wrapper


def _patch_pydantic() -> None:
    from pydantic import BaseModel

    BaseModel.__init__ = _counting("model built", BaseModel.__init__, method=True)  # type: ignore[method-assign]
    for name in ("model_validate", "model_validate_json", "model_validate_strings"):
        fn = getattr(BaseModel, name).__func__
        setattr(BaseModel, name, classmethod(_counting("model built", fn, method=False)))
    for name in ("model_dump", "model_dump_json", "model_copy"):
        label = "model copied" if name == "model_copy" else "model dumped"
        setattr(BaseModel, name, _counting(label, getattr(BaseModel, name), method=True))


def _patch_logging_and_metrics() -> None:
    real_log = logging.Logger._log

    @wraps(real_log)
    def _log(self: logging.Logger, level: int, *args: Any, **kwargs: Any) -> None:
        COUNTS[f"log record: {logging.getLevelName(level)} {self.name}"] += 1
        real_log(self, level, *args, **kwargs)

    logging.Logger._log = _log  # type: ignore[method-assign]
    try:
        from prometheus_client.metrics import MetricWrapperBase
    except ImportError:
        return
    real_labels = MetricWrapperBase.labels

    @wraps(real_labels)
    def labels(self: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS[f"metric labels(): {getattr(self, '_name', '?')}"] += 1
        return real_labels(self, *args, **kwargs)

    MetricWrapperBase.labels = labels  # type: ignore[method-assign]


def _dump(signum: int, frame: Any) -> None:
    path = os.environ.get("BENCH_COUNTS")
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(dict(COUNTS), f)
        os.replace(tmp, path)


def install() -> None:
    _patch_sqlite()
    _patch_asyncpg()
    _patch_pydantic()
    _patch_logging_and_metrics()
    signal.signal(signal.SIGUSR1, _dump)


def main() -> None:
    install()
    from channelgate.cli import main as cli

    sys.argv = ["channelgate", *sys.argv[1:]]
    cli()


if __name__ == "__main__":
    main()
