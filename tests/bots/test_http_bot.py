"""The http adapter against a real Starlette server on a loopback port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.bots import BotError, build_bot, parse_bot_spec
from channelgate.bots.http import HttpBot, parse_retry_after, reply_from_json
from channelgate.testing.server import free_port, serve_app
from channelgate.turns import Reply, Turn

MakeTurn = Callable[..., Turn]
Handler = Callable[[Request, int], Awaitable[Response]]


class Recorder:
    """What the fake bot received: bodies and headers, in order."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []


@asynccontextmanager
async def fake_bot(handler: Handler) -> AsyncIterator[tuple[str, Recorder]]:
    """Serve ``handler(request, attempt)`` at ``/turn``; yields the URL and what was received."""
    seen = Recorder()

    async def turn(request: Request) -> Response:
        seen.bodies.append(orjson.loads(await request.body()))
        seen.headers.append(dict(request.headers))
        return await handler(request, len(seen.bodies))

    async with serve_app(Starlette(routes=[Route("/turn", turn, methods=["POST"])])) as base:
        yield f"{base}/turn", seen


def http_bot(url: str, **kwargs: Any) -> HttpBot:
    kwargs.setdefault("backoff", 0.01)
    return HttpBot(url, **kwargs)


async def test_the_turn_is_posted_as_json_and_the_reply_read(make_turn: MakeTurn) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        return JSONResponse({"messages": [{"type": "text", "text": "hello"}], "locale": "fr-FR"})

    turn = make_turn("hi")
    async with fake_bot(handler) as (url, seen):
        bot = build_bot(parse_bot_spec({"http": url}))
        await bot.start()
        try:
            reply = await bot.respond(turn)
        finally:
            await bot.stop()
    assert reply == Reply(messages=[{"type": "text", "text": "hello"}], locale="fr-FR")
    assert seen.bodies == [turn.model_dump(mode="json")]
    assert seen.headers[0]["content-type"] == "application/json"
    assert seen.headers[0]["idempotency-key"] == turn.id


async def test_a_bare_list_is_a_reply(make_turn: MakeTurn) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        return JSONResponse([{"type": "text", "text": "one"}, "two"])

    async with fake_bot(handler) as (url, _):
        bot = http_bot(url)
        await bot.start()
        reply = await bot.respond(make_turn("hi"))
        await bot.stop()
    assert reply.messages == [{"type": "text", "text": "one"}, "two"]


async def test_no_content_means_nothing_to_say(make_turn: MakeTurn) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        return Response(status_code=204)

    async with fake_bot(handler) as (url, _):
        bot = http_bot(url)
        assert await bot.respond(make_turn("hi")) == Reply()
        await bot.stop()


async def test_configured_headers_are_sent_and_never_logged(
    make_turn: MakeTurn, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        if attempt == 1:
            return Response("busy", status_code=503)
        return JSONResponse({"messages": []})

    spec = {"http": "", "retries": 1, "headers": {"Authorization": "Bearer s3cr3t-token", "X-Tenant": "acme"}}
    async with fake_bot(handler) as (url, seen):
        bot = build_bot(parse_bot_spec({**spec, "http": url}))
        assert isinstance(bot, HttpBot)
        bot.backoff = 0.01
        with caplog.at_level(logging.DEBUG):
            await bot.respond(make_turn("hi"))
        await bot.stop()
    assert [h["authorization"] for h in seen.headers] == ["Bearer s3cr3t-token"] * 2
    assert seen.headers[0]["x-tenant"] == "acme"
    assert caplog.records  # the retry was logged...
    assert "s3cr3t-token" not in caplog.text  # ...without the header's value


async def test_503_is_retried_with_backoff_until_it_succeeds(make_turn: MakeTurn) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        if attempt < 3:
            return JSONResponse({"error": "warming up"}, status_code=503)
        return JSONResponse({"messages": ["finally"]})

    async with fake_bot(handler) as (url, seen):
        bot = http_bot(url, retries=2)
        reply = await bot.respond(make_turn("hi"))
        await bot.stop()
    assert reply.messages == ["finally"]
    assert len(seen.bodies) == 3
    assert seen.bodies[0] == seen.bodies[2]


async def test_server_errors_after_the_last_try_are_retryable(make_turn: MakeTurn) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        return Response("boom", status_code=500)

    async with fake_bot(handler) as (url, seen):
        bot = http_bot(url, retries=2)
        with pytest.raises(BotError) as caught:
            await bot.respond(make_turn("hi"))
        await bot.stop()
    assert caught.value.retryable is True
    assert "HTTP 500 (after 3 tries)" in caught.value.reason
    assert len(seen.bodies) == 3


async def test_429_honours_retry_after_and_gives_up_early_when_it_is_long(make_turn: MakeTurn) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        if attempt == 1:
            return Response(status_code=429, headers={"Retry-After": "0"})
        return Response(status_code=429, headers={"Retry-After": "120"})

    async with fake_bot(handler) as (url, seen):
        bot = http_bot(url, retries=5)
        with pytest.raises(BotError) as caught:
            await bot.respond(make_turn("hi"))
        await bot.stop()
    assert caught.value.retryable is True
    assert "asked to retry after 120 s" in caught.value.reason
    assert len(seen.bodies) == 2  # the pipeline waits the two minutes, not this adapter


async def test_a_4xx_is_not_retried(make_turn: MakeTurn) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        return JSONResponse({"detail": "unknown field 'raw'"}, status_code=422)

    async with fake_bot(handler) as (url, seen):
        bot = http_bot(url, retries=3)
        with pytest.raises(BotError) as caught:
            await bot.respond(make_turn("hi"))
        await bot.stop()
    assert caught.value.retryable is False
    assert "HTTP 422" in caught.value.reason
    assert "unknown field 'raw'" in caught.value.reason
    assert len(seen.bodies) == 1


async def test_a_body_that_is_not_json_is_refused_with_a_reason(make_turn: MakeTurn) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        return Response("<html>Welcome to nginx!</html>", media_type="text/html")

    async with fake_bot(handler) as (url, seen):
        bot = http_bot(url)
        with pytest.raises(BotError) as caught:
            await bot.respond(make_turn("hi"))
        await bot.stop()
    assert caught.value.retryable is False
    assert "body is not JSON (text/html" in caught.value.reason
    assert "Welcome to nginx" in caught.value.reason
    assert len(seen.bodies) == 1


async def test_json_of_the_wrong_shape_is_refused_with_a_reason(make_turn: MakeTurn) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        return JSONResponse({"message": [{"type": "text", "text": "typo in the key"}]})

    async with fake_bot(handler) as (url, _):
        bot = http_bot(url)
        with pytest.raises(BotError) as caught:
            await bot.respond(make_turn("hi"))
        await bot.stop()
    assert caught.value.retryable is False
    assert (
        'expected {"messages": [...]} or a list of messages, got an object with keys message'
        in caught.value.reason
    )


async def test_a_slow_bot_times_out_without_being_asked_again(make_turn: MakeTurn) -> None:
    release = asyncio.Event()

    async def handler(request: Request, attempt: int) -> Response:
        await release.wait()
        return JSONResponse([])

    async with fake_bot(handler) as (url, seen):
        bot = http_bot(url, timeout=0.2, retries=2)
        try:
            with pytest.raises(BotError) as caught:
                await bot.respond(make_turn("hi"))
        finally:
            release.set()
            await bot.stop()
    assert caught.value.retryable is True
    assert "no answer within 0.2 s" in caught.value.reason
    assert len(seen.bodies) == 1


async def test_an_unreachable_bot_is_retried_then_retryable(make_turn: MakeTurn) -> None:
    bot = http_bot(f"http://127.0.0.1:{free_port()}/turn", retries=1)
    with pytest.raises(BotError) as caught:
        await bot.respond(make_turn("hi"))
    await bot.stop()
    assert caught.value.retryable is True
    assert "cannot reach the bot: ClientConnectorError" in caught.value.reason
    assert "(after 2 tries)" in caught.value.reason


async def test_a_redirect_is_not_followed(make_turn: MakeTurn) -> None:
    async def handler(request: Request, attempt: int) -> Response:
        return Response(status_code=307, headers={"Location": "https://elsewhere.example/turn?token=x"})

    async with fake_bot(handler) as (url, _):
        bot = http_bot(url)
        with pytest.raises(BotError) as caught:
            await bot.respond(make_turn("hi"))
        await bot.stop()
    assert caught.value.retryable is False
    assert "redirect to https://elsewhere.example/turn; configure the final URL" in caught.value.reason


def test_describe_hides_credentials_in_the_url() -> None:
    bot = HttpBot("https://user:pw@bot.example.com:8443/turn?key=abc")
    assert bot.describe() == "http bot https://bot.example.com:8443/turn"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("3", 3.0),
        ("-1", 0.0),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
    ],
)
def test_retry_after_reads_seconds_and_dates(value: str | None, expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(value, now=now) == expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("hello", "got a string"),
        (3, "got a number"),
        ({"type": "text", "text": "hi"}, 'it looks like one message: wrap it as {"messages": [...]}'),
        ({"messages": "hi"}, '"messages" must be a list, not a string'),
        ({"messages": [], "locale": 7}, '"locale" must be a string'),
    ],
)
def test_reply_envelope_errors_say_what_is_wrong(data: Any, reason: str) -> None:
    with pytest.raises(BotError) as caught:
        reply_from_json(data)
    assert reason in caught.value.reason
    assert caught.value.retryable is False


def test_null_and_locale_only_are_valid_replies() -> None:
    assert reply_from_json(None) == Reply()
    assert reply_from_json({"locale": "de-DE"}) == Reply(locale="de-DE")
    assert reply_from_json({"messages": None}) == Reply()
