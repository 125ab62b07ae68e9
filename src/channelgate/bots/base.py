"""The Bot interface: one method, ``respond(turn) -> Reply``. Adapters wrap Python callables, HTTP
services and Rasa servers behind it, so the pipeline never knows which kind of bot it talks to."""

from __future__ import annotations

import abc

from channelgate.turns import Reply, Turn


class BotError(Exception):
    """The bot failed to answer (unreachable, timed out, answered garbage). ``retryable`` says whether
    trying the same turn again may help; the pipeline retries with backoff, then tells the user."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class Bot(abc.ABC):
    #: the locales the bot speaks (BCP 47); None when the bot does not say (then the config's bot.locales)
    locales: list[str] | None = None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections; called once before the first turn."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Close connections; called once at shutdown."""

    @abc.abstractmethod
    async def respond(self, turn: Turn) -> Reply:
        """Answer one turn. Raise BotError when no answer can be had."""

    def describe(self) -> str:
        """A short description for logs and ``doctor`` (never a secret)."""
        return type(self).__name__
