"""PlatformHTTP against real loopback servers: what it sends, what it refuses to do, how it fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from channelgate.channels.http import NetworkError, PlatformHTTP, TooLarge, basic_auth
from channelgate.testing.server import serve_app


def recorder(seen: list[dict[str, Any]], target: str = "") -> Starlette:
    """Echoes each request (method, query, headers, body); ``/hop`` redirects to ``target``."""

    async def echo(request: Request) -> Response:
        body = await request.body()
        seen.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        return JSONResponse(
            {"method": request.method, "query": request.url.query, "body": body.decode("latin-1")},
            headers={"set-cookie": "session=abc; Path=/"},
        )

    async def hop(request: Request) -> Response:
        seen.append({"path": "/hop", "headers": dict(request.headers), "body": b""})
        return RedirectResponse(target + "/landed", status_code=302)

    async def big(request: Request) -> Response:
        return Response(b"x" * 100_000)

    return Starlette(
        routes=[Route("/hop", hop), Route("/big", big), Route("/{rest:path}", echo, methods=["GET", "POST"])]
    )


@pytest.fixture
async def http() -> AsyncIterator[PlatformHTTP]:
    async with PlatformHTTP(timeout=5) as client:
        yield client


async def test_json_form_and_query_are_encoded_as_the_platforms_expect(http: PlatformHTTP) -> None:
    seen: list[dict[str, Any]] = []
    async with serve_app(recorder(seen)) as url:
        sent = (await http.request("POST", f"{url}/j?a=1", params={"b": 2}, json={"x": "é"})).json()
        assert sent["query"] == "a=1&b=2" and sent["body"] == '{"x":"é"}'.encode().decode("latin-1")
        assert seen[-1]["headers"]["content-type"] == "application/json"
        form = (await http.request("POST", f"{url}/f", data={"To": "+1", "MediaUrl": ["u1", "u2"]})).json()
        assert form["body"] == "To=%2B1&MediaUrl=u1&MediaUrl=u2"
        assert seen[-1]["headers"]["content-type"] == "application/x-www-form-urlencoded"
        files = {"media": ("a.png", b"\x89PNG", "image/png")}
        await http.request("POST", f"{url}/m", files=files)
        assert seen[-1]["headers"]["content-type"].startswith("multipart/form-data")
        assert b'filename="a.png"' in seen[-1]["body"] and b"\x89PNG" in seen[-1]["body"]


async def test_no_cookie_is_kept_between_calls(http: PlatformHTTP) -> None:
    seen: list[dict[str, Any]] = []
    async with serve_app(recorder(seen)) as url:
        first = await http.request("GET", f"{url}/a")
        assert "session=abc" in first.headers["Set-Cookie"]  # headers are case-insensitive
        await http.request("GET", f"{url}/b")
    assert "cookie" not in seen[-1]["headers"]


async def test_redirects_are_answered_not_followed(http: PlatformHTTP) -> None:
    seen: list[dict[str, Any]] = []
    async with serve_app(recorder(seen, "http://127.0.0.1:9")) as url:
        answer = await http.request("GET", f"{url}/hop", headers={"authorization": "Bearer s3cret"})
    assert answer.status_code == 302 and not answer.is_success
    assert [s["path"] for s in seen] == ["/hop"]


async def test_a_followed_redirect_to_another_origin_does_not_carry_the_credentials(
    http: PlatformHTTP,
) -> None:
    there: list[dict[str, Any]] = []
    here: list[dict[str, Any]] = []
    async with serve_app(recorder(there)) as storage, serve_app(recorder(here, storage)) as api:
        auth = {"authorization": basic_auth("AC1", "s3cret")}
        answer = await http.request("GET", f"{api}/hop", headers=auth, redirects=3)
    assert answer.status_code == 200 and answer.url == f"{storage}/landed"
    assert here[0]["headers"]["authorization"] == auth["authorization"]
    assert "authorization" not in there[0]["headers"]


async def test_network_failures_and_oversized_bodies_are_typed(http: PlatformHTTP) -> None:
    with pytest.raises(NetworkError) as caught:
        await http.request("GET", "http://127.0.0.1:9/")
    assert caught.value.connect
    with pytest.raises(NetworkError):
        await http.request("GET", "not a url")
    seen: list[dict[str, Any]] = []
    async with serve_app(recorder(seen)) as url:
        with pytest.raises(TooLarge):
            await http.request("GET", f"{url}/big", max_bytes=10_000)
        assert len((await http.request("GET", f"{url}/big", max_bytes=100_000)).content) == 100_000


async def test_proxy_settings_are_read_once_when_the_session_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Any]] = []
    async with serve_app(recorder(seen)) as proxy, PlatformHTTP(timeout=5) as http:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "bypassed.test")
        answer = await http.request("GET", "http://platform.test/v1/send")
        assert answer.status_code == 200 and seen[-1]["path"] == "/v1/send"  # through the proxy
        with pytest.raises(NetworkError):
            await http.request("GET", "http://bypassed.test/")  # NO_PROXY: straight to DNS, which fails
        monkeypatch.delenv("HTTP_PROXY")
        await http.request("GET", "http://platform.test/again")  # read once: still the proxy
        assert seen[-1]["path"] == "/again"
