"""A bot that is a Python callable in the gateway's own process: ``bot: {python: "package.module:respond"}``.

The callable takes a :class:`~channelgate.turns.Turn` and returns anything ``Reply.coerce`` accepts (a
Reply, a dict, a list of messages, a string or None). ``async def`` callables are awaited on the event loop;
plain functions run in a worker thread (``asyncio.to_thread``) so that a slow one cannot stall webhooks.

The callable is imported in ``start()``, so a typo in the config stops the gateway at start with a message
naming the spec, not at the first user message. When the callable raises, the user never sees the
traceback: the turn fails with a non-retryable BotError naming the exception, and the traceback goes to
the log for the bot's developer.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

from channelgate.bots.base import Bot, BotError
from channelgate.turns import Reply, Turn

log = logging.getLogger(__name__)


def load_callable(target: str) -> Callable[[Turn], Any]:
    """Import ``package.module:attr`` (``attr`` may be dotted, ``module:Class.method``), or BotError saying
    exactly what is missing."""
    where = f"bot.python {target!r}"
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise BotError(f"{where}: expected 'package.module:attribute'", retryable=False)
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise BotError(
                f"{where}: no module named {exc.name!r} (is the package installed, or on PYTHONPATH?)",
                retryable=False,
            ) from None
        raise BotError(f"{where}: importing {module_name} failed: {exc}", retryable=False) from None
    except Exception as exc:  # the bot's module can fail to import in any way; say how
        raise BotError(
            f"{where}: importing {module_name} failed: {type(exc).__name__}: {exc}", retryable=False
        ) from None
    done: list[str] = []
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            holder = f"{module_name}:{'.'.join(done)}" if done else f"module {module_name}"
            raise BotError(f"{where}: {holder} has no attribute {part!r}", retryable=False)
        obj = getattr(obj, part)
        done.append(part)
    if not callable(obj):
        raise BotError(f"{where}: {type(obj).__name__} is not callable", retryable=False)
    return obj  # type: ignore[no-any-return]


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


class PythonBot(Bot):
    def __init__(self, target: str, *, locales: list[str] | None = None) -> None:
        self.target = target
        self.locales = locales
        self._fn: Callable[[Turn], Any] | None = None

    def describe(self) -> str:
        return f"python bot {self.target}"

    async def start(self) -> None:
        self._fn = load_callable(self.target)

    async def respond(self, turn: Turn) -> Reply:
        fn = self._fn
        if fn is None:  # start() was skipped: load now, failing the same way it would have
            fn = self._fn = load_callable(self.target)
        try:
            if _is_async(fn):
                result = await fn(turn)
            else:
                result = await asyncio.to_thread(fn, turn)
                if inspect.isawaitable(result):  # a sync wrapper (functools.partial, ...) around a coroutine
                    result = await result
        except BotError:
            raise  # the bot said itself whether trying again helps
        except Exception as exc:
            log.warning(
                "python bot %s raised on turn %s (conversation %s)",
                self.target,
                turn.id,
                turn.conversation_id,
                exc_info=True,
            )
            raise BotError(f"{self.target} raised {type(exc).__name__}: {exc}", retryable=False) from exc
        try:
            return Reply.coerce(result)
        except (TypeError, ValueError) as exc:
            raise BotError(
                f"{self.target} returned an answer channelgate cannot use: {exc}", retryable=False
            ) from None
