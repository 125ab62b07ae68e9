"""A test harness for one channel: the whole gateway around it, a recording bot, signed requests.

A channel's tests want what production does to their channel, not a mock of it: the webhook route with its
status codes, durable dedup, the bot turn, the outbox, rendering, retries and the send against the
platform. :class:`ChannelHarness` starts exactly that for ONE integration, on a loopback port, with a file
SQLite store in a temporary folder (the production writer path, not ``:memory:``), and stops it cleanly::

    platform = FakePlatform()                                   # records what the channel sends
    async with ChannelHarness(
        MyChannel,
        lambda platform_url: {"secret": "s3cret-value", "api_base_url": platform_url},
        sign=my_signer,                                         # how the platform signs its webhooks
        platform=platform,
    ) as h:
        response = await h.post({"id": "e1", "from": "u1", "text": "hi"})
        assert response.status_code == 200
        [turn] = await h.wait_for_turns(1)                      # what the bot saw
        [sent] = await h.wait_for_sends(1)                      # what reached the platform

The bot is a :class:`RecordingBot` unless you pass another: it records every turn and answers with
scripted replies, a callable, or an echo. A signer is the channel's half of a test: it gets each
:class:`OutgoingRequest` before it is sent and adds what the platform would (a signature header, query
parameters); ``post(..., signed=False)`` leaves it out to test refusals.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import orjson

from channelgate.bots.base import Bot, BotError
from channelgate.channels.base import Channel, Health
from channelgate.channels.registry import ChannelRegistry, load_registry
from channelgate.gateway import Gateway
from channelgate.testing.gateway import RunningGateway, run_gateway
from channelgate.testing.server import FakePlatform, Received, serve_app
from channelgate.turns import Input, Reply, Turn

#: what a scripted bot may return: anything ``Reply.coerce`` takes (a Reply, a string, a list of messages,
#: a dict, None), or an awaitable of it
Answer = Any
Responder = Callable[[Turn], Answer]

#: fast pipeline timing for tests: a retried send or a turn waiting on the poller takes milliseconds
TEST_PIPELINE = {"poll_interval": 0.05, "max_backoff": 0.2}


class RecordingBot(Bot):
    """A bot for tests: records each turn and answers as scripted.

    ``replies`` is either a sequence (one answer per turn, in order; once used up, the bot echoes) or a
    callable ``turn -> answer`` (sync or async). Without it the bot echoes: ``"echo: <text>"`` for a text,
    the payload for a postback, the input's type otherwise. :meth:`fail_next` makes the next turns raise
    :class:`BotError` (the pipeline retries a retryable one, then apologises to the user).
    """

    def __init__(
        self, replies: Sequence[Answer] | Responder | None = None, *, locales: list[str] | None = None
    ) -> None:
        self.turns: list[Turn] = []
        self.locales = locales
        self._script: list[Answer] = [] if replies is None or callable(replies) else list(replies)
        self._responder: Responder | None = replies if callable(replies) else None
        self._failures: list[BotError] = []
        self._arrived = asyncio.Event()

    @property
    def inputs(self) -> list[Input]:
        """What the bot was given, turn by turn."""
        return [turn.input for turn in self.turns]

    def fail_next(self, error: BotError | None = None, times: int = 1) -> None:
        self._failures += [error or BotError("scripted failure")] * times

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        self._arrived.set()
        if self._failures:
            raise self._failures.pop(0)
        if self._responder is not None:
            answer = self._responder(turn)
            if inspect.isawaitable(answer):
                answer = await answer
            return Reply.coerce(answer)
        if self._script:
            return Reply.coerce(self._script.pop(0))
        return Reply.coerce(echo(turn))

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Turn]:  # noqa: ASYNC109
        """The first ``count`` turns once the bot has been called that often (retries count too)."""

        async def enough() -> None:
            while len(self.turns) < count:
                self._arrived.clear()
                await self._arrived.wait()

        try:
            async with asyncio.timeout(timeout):
                await enough()
        except TimeoutError:
            got = len(self.turns)
            raise AssertionError(f"the bot got {got} turn(s) within {timeout}s, not {count}") from None
        return self.turns[:count]


def echo(turn: Turn) -> str:
    """The default answer of a :class:`RecordingBot`."""
    value = getattr(turn.input, "text", None) or getattr(turn.input, "payload", None) or turn.input.type
    return f"echo: {value}"


@dataclass
class OutgoingRequest:
    """A webhook request about to be posted; a signer adds the platform's signature to it."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


Signer = Callable[[OutgoingRequest], None] | Callable[[OutgoingRequest], Awaitable[None]]
Settings = Mapping[str, Any] | Callable[[str], Mapping[str, Any]]


class ChannelHarness:
    """A running gateway with one integration of ``channel``, as an async context manager.

    ``channel`` is the Channel class (it need not be installed: the harness registers it) or the name of an
    installed one. ``settings`` are the integration's settings as the config file holds them, or a callable
    given the fake platform's base URL (``platform_url``) that returns them. ``platform`` is served on its
    own loopback port for the test's duration: a :class:`FakePlatform`, or any object with an ASGI ``app``,
    or an ASGI app. ``store`` overrides the SQLite file (a PostgreSQL URL); ``config`` adds gateway settings
    (``pipeline`` entries are merged over :data:`TEST_PIPELINE`).
    """

    def __init__(
        self,
        channel: type[Channel[Any]] | str,
        settings: Settings | None = None,
        *,
        sign: Signer | None = None,
        bot: Bot | None = None,
        platform: Any = None,
        label: str = "test",
        locale: str = "en-US",
        store: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.registry = _registry(channel)
        self.channel_name = channel if isinstance(channel, str) else channel.name
        self.settings = settings or {}
        self.sign = sign
        self.bot = bot if bot is not None else RecordingBot()
        self.platform = platform
        self.label = label
        self.locale = locale
        self.store_url = store
        self.extra = dict(config or {})
        self.platform_url = ""
        self._running: RunningGateway | None = None
        self._stack = AsyncExitStack()
        #: the client ``post`` uses (no proxies from the environment: everything is on loopback)
        self.http: httpx.AsyncClient | None = None

    # --- lifecycle ---

    async def __aenter__(self) -> ChannelHarness:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        self.http = await self._stack.enter_async_context(httpx.AsyncClient(trust_env=False, timeout=10.0))
        if self.platform is not None:
            app = getattr(self.platform, "app", self.platform)
            self.platform_url = await self._stack.enter_async_context(serve_app(app))
        settings = self.settings(self.platform_url) if callable(self.settings) else self.settings
        integration = {"channel": self.channel_name, "label": self.label, "locale": self.locale, **settings}
        config: dict[str, Any] = {**self.extra, "integrations": [integration]}
        config["pipeline"] = {**TEST_PIPELINE, **self.extra.get("pipeline", {})}
        if self.store_url is not None:
            config["store"] = self.store_url
        self._running = await self._stack.enter_async_context(
            run_gateway(config, bot=self.bot, registry=self.registry)
        )

    # --- what is running ---

    @property
    def running(self) -> RunningGateway:
        if self._running is None:
            raise RuntimeError("the harness is not started: use it as `async with ChannelHarness(...) as h`")
        return self._running

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def gateway(self) -> Gateway:
        return self.running.gateway

    @property
    def store(self) -> Any:
        return self.gateway.store

    @property
    def channel(self) -> Channel[Any]:
        """The running channel instance (its ``ctx.kv``, ``ctx.health``, config)."""
        channel = self.gateway.channel(self.channel_name, self.label)
        assert channel is not None, f"{self.channel_name}/{self.label} is not running"
        return channel

    @property
    def health(self) -> Health:
        return self.channel.ctx.health

    def webhook_url(self, channel: str | None = None, label: str | None = None) -> str:
        return self.running.webhook_url(channel or self.channel_name, label or self.label)

    # --- driving it ---

    async def post(
        self,
        body: bytes | str | Mapping[str, Any] | Sequence[Any],
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        signed: bool = True,
        method: str = "POST",
    ) -> httpx.Response:
        """Send a webhook to the integration, signed by ``sign`` unless ``signed=False``.

        ``body`` is sent as it is when bytes or str, else as JSON; ``headers`` (lower-cased) replace the
        default ``content-type: application/json``."""
        url = self.webhook_url()  # RuntimeError when the harness is not started
        if isinstance(body, bytes):
            raw = body
        else:
            raw = body.encode() if isinstance(body, str) else orjson.dumps(body)
        given = {name.lower(): value for name, value in (headers or {}).items()}
        request = OutgoingRequest(
            raw, {"content-type": "application/json", **given}, dict(query or {}), method
        )
        if signed and self.sign is not None:
            result = self.sign(request)
            if inspect.isawaitable(result):
                await result
        assert self.http is not None
        return await self.http.request(
            request.method,
            url,
            content=request.body,
            headers=request.headers,
            params=request.query,
        )

    async def wait_for_turns(self, count: int, timeout: float = 5.0) -> list[Turn]:  # noqa: ASYNC109
        """The bot's first ``count`` turns (needs the default :class:`RecordingBot`)."""
        if not isinstance(self.bot, RecordingBot):
            raise TypeError("wait_for_turns needs a RecordingBot; wait on your own bot instead")
        return await self.bot.wait_for(count, timeout)

    async def wait_for_sends(self, count: int, timeout: float = 5.0) -> list[Received]:  # noqa: ASYNC109
        """The first ``count`` requests that reached the :class:`FakePlatform` with a success."""
        if not isinstance(self.platform, FakePlatform):
            raise TypeError("wait_for_sends needs a FakePlatform as the harness's platform")
        return await self.platform.wait_for(count, timeout)


def _registry(channel: type[Channel[Any]] | str) -> ChannelRegistry:
    """The channels the harness's gateway knows: the class under test alone, or every installed one when it
    is named (an entry point)."""
    if isinstance(channel, str):
        registry = load_registry()
        if registry.get(channel) is None:
            reason = registry.broken.get(channel, "no such entry point in channelgate.channels")
            raise LookupError(f"channel {channel!r} is not available: {reason}")
        return registry
    registry = ChannelRegistry()
    registry.register(channel)
    return registry
