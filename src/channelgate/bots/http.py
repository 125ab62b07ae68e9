"""A bot behind HTTP: ``bot: {http: "https://bot.example.com/turn"}``.

Each turn is POSTed as the Turn JSON; the bot answers ``200`` with a Reply (``{"messages": [...],
"locale": "fr-FR"}``) or a bare list of messages; ``204``, an empty body or ``null`` mean "nothing to say".

What fails how, so that the pipeline does the right thing:

* connection refused or reset, ``5xx``, ``408``, ``425``, ``429``: tried again here with exponential backoff
  (``Retry-After`` honoured), ``retries`` times; then a *retryable* BotError, and the pipeline tries the turn
  again later.
* no answer within ``timeout``: a retryable BotError at once, not retried here: the bot may still be
  working on the turn, and the pipeline's longer backoff is kinder to a slow bot than an immediate repeat.
  Every request carries the turn's id in ``Idempotency-Key`` so that a bot can recognise a repeat.
* other ``4xx``, redirects, a body that is not JSON or not a Reply: a *non-retryable* BotError that says
  what was wrong, since sending the same turn again would get the same answer.

Header values (they hold credentials) are never logged nor put in errors; neither is the URL's query or
user info.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from pydantic import ValidationError

from channelgate import __version__
from channelgate.bots.base import Bot, BotError
from channelgate.channels.http import NetworkError, PlatformHTTP, Response
from channelgate.retry import parse_retry_after
from channelgate.turns import Reply, Turn

log = logging.getLogger(__name__)

#: statuses that mean "try again": the request may well succeed a moment later
RETRYABLE_STATUSES = frozenset({408, 425, 429})


class _Transient(Exception):
    """One attempt failed in a way the next attempt may not."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def safe_url(url: str) -> str:
    """The URL without user info, query or fragment: what may appear in logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _json_kind(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def reply_from_json(data: Any) -> Reply:
    """A Reply from a bot's JSON answer: ``{"messages": [...], "locale"?}``, a bare list, or null.

    The messages themselves are validated later, one by one, by the pipeline; here only the envelope is
    checked, so that a typo such as ``{"message": [...]}`` is reported rather than silently dropped.
    """
    if data is None:
        return Reply()
    if isinstance(data, list):
        return Reply(messages=data)
    if not isinstance(data, dict):
        raise BotError(
            f'expected {{"messages": [...]}} or a list of messages, got {_json_kind(data)}', retryable=False
        )
    if "messages" not in data and "locale" not in data and "handoff" not in data:
        keys = ", ".join(sorted(str(k) for k in data)[:6]) or "none"
        hint = ' (it looks like one message: wrap it as {"messages": [...]})' if "type" in data else ""
        raise BotError(
            f'expected {{"messages": [...]}} or a list of messages, got an object with keys {keys}{hint}',
            retryable=False,
        )
    messages = data.get("messages")
    if messages is None:
        messages = []
    if not isinstance(messages, list):
        raise BotError(f'"messages" must be a list, not {_json_kind(messages)}', retryable=False)
    locale = data.get("locale")
    if locale is not None and not isinstance(locale, str):
        raise BotError(
            f'"locale" must be a string such as "fr-FR", not {_json_kind(locale)}', retryable=False
        )
    handoff = data.get("handoff")
    if handoff is not None and not isinstance(handoff, bool | dict):
        raise BotError(
            f'"handoff" must be true or {{"note": "..."}}, not {_json_kind(handoff)}', retryable=False
        )
    try:
        return Reply(messages=messages, locale=locale or None, handoff=handoff)
    except ValidationError as exc:
        raise BotError(f'"handoff": {exc.errors()[0]["msg"]}', retryable=False) from None


class HttpBot(Bot):
    """POSTs turns to ``url`` through a pooled :class:`PlatformHTTP` of its own (opened in ``start``).

    Its own pool (64 connections), not the platform sends': a slow bot cannot take the connections replies
    to the platforms need, nor the other way round."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        headers: dict[str, str] | None = None,
        locales: list[str] | None = None,
        backoff: float = 0.5,
        max_backoff: float = 5.0,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.locales = locales
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._headers = dict(headers or {})
        self._sent_headers = {
            "content-type": "application/json",
            "accept": "application/json",
            **self._headers,
        }
        self._client: PlatformHTTP | None = None

    def describe(self) -> str:
        return f"http bot {safe_url(self.url)}"

    async def start(self) -> None:
        if self._client is None:
            self._client = PlatformHTTP(
                connections=64,
                timeout=self.timeout,
                connect_timeout=self.timeout,
                user_agent=f"channelgate/{__version__}",
            )

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def respond(self, turn: Turn) -> Reply:
        if self._client is None:
            await self.start()
        assert self._client is not None
        body = orjson.dumps(turn.model_dump(mode="json"))
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._attempt(self._client, body, turn)
            except _Transient as exc:
                if attempt == attempts:
                    raise BotError(f"{self.describe()}: {exc.reason} (after {attempts} tries)") from None
                delay = exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
                if delay > self.max_backoff:
                    raise BotError(
                        f"{self.describe()}: {exc.reason}; asked to retry after {delay:.0f} s"
                    ) from None
                log.warning(
                    "%s: %s (try %d of %d, conversation %s); trying again in %.2f s",
                    self.describe(),
                    exc.reason,
                    attempt,
                    attempts,
                    turn.conversation_id,
                    delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    async def _attempt(self, client: PlatformHTTP, body: bytes, turn: Turn) -> Reply:
        headers = {**self._sent_headers, "idempotency-key": turn.id}
        try:
            async with asyncio.timeout(self.timeout):
                response = await client.request("POST", self.url, content=body, headers=headers)
        except TimeoutError:
            raise BotError(f"{self.describe()}: no answer within {self.timeout:g} s") from None
        except NetworkError as exc:
            if exc.connect and exc.timeout:
                raise _Transient(f"could not connect within {self.timeout:g} s") from None
            if exc.timeout:
                raise BotError(f"{self.describe()}: no answer within {self.timeout:g} s") from None
            raise _Transient(f"cannot reach the bot: {exc}") from None
        status = response.status_code
        if 200 <= status < 300:
            return self._parse(response)
        if status in RETRYABLE_STATUSES or status >= 500:
            raise _Transient(f"HTTP {status}", parse_retry_after(response.headers.get("retry-after")))
        if 300 <= status < 400:
            location = safe_url(response.headers.get("location", "")) or "nowhere"
            raise BotError(
                f"{self.describe()}: HTTP {status} redirect to {location}; configure the final URL",
                retryable=False,
            )
        raise BotError(f"{self.describe()}: HTTP {status}: {_snippet(response.content)}", retryable=False)

    def _parse(self, response: Response) -> Reply:
        if response.status_code == 204 or not response.content.strip():
            return Reply()
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            kind = response.headers.get("content-type", "no content-type")
            raise BotError(
                f"{self.describe()}: HTTP {response.status_code} body is not JSON ({kind}): "
                f"{_snippet(response.content)!r}",
                retryable=False,
            ) from None
        try:
            return reply_from_json(data)
        except BotError as exc:
            raise BotError(f"{self.describe()}: {exc.reason}", retryable=False) from None
