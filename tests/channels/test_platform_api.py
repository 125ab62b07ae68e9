"""The platform API helper: Retry-After parsing, error tables as data, health and scrubbing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.channels.base import (
    Health,
    InvalidCredentials,
    Rejected,
    Throttled,
    Unavailable,
    WindowClosed,
)
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.platform_api import ErrorTable, PlatformAPI, http_check, parse_retry_after
from channelgate.testing.server import serve_app

TABLE = ErrorTable({Throttled: {4, 613}, WindowClosed: {(10, 2018278), 131047}, InvalidCredentials: {190}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), (" 1.5 ", 1.5), ("-3", 0.0), ("soon", None), ("", None), (None, None), ("nan", None)],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0


def test_codes_choose_the_kind_most_specific_first() -> None:
    assert TABLE.kind((10, 2018278), 10) is WindowClosed
    assert TABLE.kind((10, 1), 10) is None
    assert TABLE.kind(None, 613) is Throttled


def test_unknown_codes_fall_back_on_the_status() -> None:
    assert isinstance(TABLE.error("x", codes=[999], status=429, retry_after=3), Throttled)
    assert isinstance(TABLE.error("x", codes=[999], status=401), InvalidCredentials)
    assert isinstance(TABLE.error("x", codes=[999], status=400), Rejected)
    assert isinstance(TABLE.error("x", codes=[999], status=503), Unavailable)


def test_the_hint_is_kept_only_for_retried_kinds() -> None:
    assert TABLE.error("x", codes=[4], status=400, retry_after=7).retry_after == 7
    rejected = TABLE.error("x", codes=[100], status=400, retry_after=7)
    assert rejected.retry_after is None
    assert rejected.code == 100


def answers(*responses: Response) -> Starlette:
    """A platform that answers each call with the next of ``responses``."""
    queue = list(responses)

    async def answer(request: Request) -> Response:
        return queue.pop(0)

    return Starlette(routes=[Route("/{rest:path}", answer, methods=["GET", "POST"])])


@pytest.fixture
async def http() -> AsyncIterator[PlatformHTTP]:
    async with PlatformHTTP(timeout=5) as client:
        yield client


def api(http: PlatformHTTP, health: Health) -> PlatformAPI:
    return PlatformAPI(
        http, health, product="Test", secrets=lambda: ["s3cret-token"], credentials_hint="Replace the token."
    )


async def test_refused_credentials_turn_health_red_and_success_green(http: PlatformHTTP) -> None:
    health = Health()
    client = api(http, health)
    platform = answers(Response("bad s3cret-token", status_code=401), JSONResponse({}))
    async with serve_app(platform) as url:
        with pytest.raises(InvalidCredentials) as caught:
            await client.request("POST", f"{url}/send", check=http_check("Test"))
        assert "s3cret-token" not in caught.value.reason
        assert health.status == "failing"
        assert "Replace the token." in health.message
        await client.request("POST", f"{url}/send", check=http_check("Test"))
    assert health.status == "ok"


async def test_network_errors_are_unavailable_and_scrubbed(http: PlatformHTTP) -> None:
    with pytest.raises(Unavailable) as caught:
        await api(http, Health()).request(
            "GET", "http://127.0.0.1:9/?token=s3cret-token", check=http_check("Test")
        )
    assert caught.value.reason.startswith("Test API unreachable: ")
    assert "s3cret-token" not in caught.value.reason


async def test_an_error_naming_the_url_is_scrubbed(http: PlatformHTTP) -> None:
    with pytest.raises(Unavailable) as caught:
        await api(http, Health()).request("GET", "bad://t.test/?token=s3cret-token", check=http_check("Test"))
    assert "s3cret-token" not in caught.value.reason
    assert "[redacted]" in caught.value.reason


async def test_a_429_carries_the_retry_after_hint(http: PlatformHTTP) -> None:
    async with serve_app(answers(Response(status_code=429, headers={"Retry-After": "12"}))) as url:
        with pytest.raises(Throttled) as caught:
            await api(http, Health()).request("GET", f"{url}/", check=http_check("Test"))
    assert caught.value.retry_after == 12.0
