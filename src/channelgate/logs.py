"""Logging set-up: readable lines for people, JSON lines for log pipelines. Secrets never reach here:
channel configs hold them as SecretStr, whose str() is masked, and the database drivers, which would
print SQL parameters and rows, are kept at WARNING."""

from __future__ import annotations

import logging
import sys

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("conversation_id", "channel", "label"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    quiet_drivers()


#: Loggers that print SQL parameters or result rows (tokens, users' messages) below WARNING:
#: SQLAlchemy's engine (statements at INFO, rows at DEBUG; the engines also set hide_parameters), and
#: aiosqlite, whose DEBUG line shows each call with its arguments.
_DRIVER_LOGGERS = ("sqlalchemy.engine", "sqlalchemy.pool", "aiosqlite", "asyncpg", "httpcore")


def quiet_drivers() -> None:
    """Keep the database drivers at WARNING whatever ``log_level`` is: debug logging must not print data."""
    for name in _DRIVER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
