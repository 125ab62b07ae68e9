"""Sending through the simulator over loopback: the token's life, errors as typed SendErrors, image upload,
templates, and two replicas sharing one token."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channelgate.channels.base import (
    InvalidCredentials,
    Outbound,
    Rejected,
    RenderContext,
    Throttled,
    Unavailable,
    WindowClosed,
)
from channelgate.channels.http import NetworkError, PlatformHTTP
from channelgate.channels.wechat import WeChatChannel
from channelgate.messages import parse_message
from channelgate.testing.gateway import wait_until
from channelgate.testing.memory import MemoryKeyValue
from channelgate.testing.server import free_port, serve_app
from channelgate.testing.wechat import WeChatSimulator

from .helpers import APP_SECRET, make_channel

USER = "oUser123"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def channel_for(
    api_url: str, http: PlatformHTTP, kv: MemoryKeyValue | None = None, **overrides: Any
) -> WeChatChannel:
    return make_channel("safe", http=http, kv=kv or MemoryKeyValue(), api_base_url=api_url, **overrides)


def rendered(channel: WeChatChannel, *messages: Any) -> list[Outbound]:
    context = RenderContext(
        user_id=USER, locale="zh-CN", now=time.time(), reply_to="1", last_inbound_at=time.time()
    )
    return channel.render([parse_message(m) for m in messages], context)


async def send_all(channel: WeChatChannel, *messages: Any) -> list[Any]:
    return [await channel.send(o) for o in rendered(channel, *messages)]


@pytest.fixture
def channel(api_url: str, http: PlatformHTTP) -> WeChatChannel:
    return channel_for(api_url, http)


@pytest.fixture
async def images() -> AsyncIterator[tuple[str, list[str]]]:
    """A web server with one PNG; yields its URL and the paths it served."""
    served: list[str] = []

    async def image(request: Request) -> Response:
        served.append(request.url.path)
        if request.url.path.endswith("missing.png"):
            return Response(status_code=404)
        return Response(PNG, media_type="image/png")

    app = Starlette(routes=[Route("/{name}", image)])
    async with serve_app(app) as url:
        yield url, served


async def test_text_is_sent_with_one_token(channel: WeChatChannel, sim: WeChatSimulator) -> None:
    await send_all(channel, "hello", "again")
    sent = await sim.wait_for_sends(2)
    assert [s.body for s in sent] == [
        {"touser": USER, "msgtype": "text", "text": {"content": "hello"}},
        {"touser": USER, "msgtype": "text", "text": {"content": "again"}},
    ]
    assert sim.tokens_issued == 1


async def test_long_chinese_text_parts_all_pass_the_byte_limit(
    channel: WeChatChannel, sim: WeChatSimulator
) -> None:
    content = "微信公众号客服消息。" * 250
    results = await send_all(channel, content)  # 7500 bytes
    assert len(results) == 4
    assert all(len(s.body["text"]["content"].encode()) <= 2048 for s in sim.sent)
    assert "".join(s.body["text"]["content"] for s in sim.sent) == content


async def test_token_expiring_mid_conversation_is_refreshed_and_the_send_retried(
    channel: WeChatChannel, sim: WeChatSimulator
) -> None:
    await send_all(channel, "before")
    sim.expire_tokens()
    await send_all(channel, "after")
    assert [s.body["text"]["content"] for s in sim.sent] == ["before", "after"]
    assert sim.tokens_issued == 2


async def test_token_superseded_elsewhere_is_refreshed(
    channel: WeChatChannel, sim: WeChatSimulator, api_url: str, http: PlatformHTTP
) -> None:
    await send_all(channel, "one")
    # another system fetches a token for the same account: ours stops working (grace period 0)
    await http.request(
        "GET",
        f"{api_url}/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": sim.app_id, "secret": APP_SECRET},
    )
    await send_all(channel, "two")
    assert len(sim.sent) == 2 and sim.tokens_issued == 3


async def test_token_error_is_retried_only_once(channel: WeChatChannel, sim: WeChatSimulator) -> None:
    sim.inject(40001, times=2)
    with pytest.raises(InvalidCredentials) as caught:
        await send_all(channel, "hello")
    assert caught.value.code == 40001
    assert sim.tokens_issued == 2 and sim.sent == []
    assert channel.ctx.health.status == "failing"
    await send_all(channel, "hello")  # the next send goes through and the integration is healthy again
    assert channel.ctx.health.status == "ok"


async def test_token_is_refreshed_before_it_expires(
    api_url: str, http: PlatformHTTP, sim: WeChatSimulator
) -> None:
    sim.token_ttl = 7200
    channel = channel_for(api_url, http)
    await send_all(channel, "one")
    real = channel.clock
    channel.clock = lambda: real() + 7200 - 299  # inside the five-minute margin
    await send_all(channel, "two")
    assert sim.tokens_issued == 2


@pytest.mark.parametrize(
    ("errcode", "error", "retryable"),
    [
        (45009, Throttled, True),
        (-1, Throttled, True),
        (45015, WindowClosed, False),
        (45047, WindowClosed, False),
        (40003, Rejected, False),
        (40013, InvalidCredentials, True),
    ],
)
async def test_wechat_errors_become_typed_send_errors(
    channel: WeChatChannel, sim: WeChatSimulator, errcode: int, error: type[Exception], retryable: bool
) -> None:
    sim.inject(errcode)
    with pytest.raises(error) as caught:
        await send_all(channel, "hello")
    assert caught.value.code == errcode  # type: ignore[attr-defined]
    assert type(caught.value).retryable is retryable  # type: ignore[attr-defined]
    assert sim.sent == []


async def test_window_closed_says_why(channel: WeChatChannel, sim: WeChatSimulator) -> None:
    sim.inject(45015)
    with pytest.raises(WindowClosed, match="48 hours"):
        await send_all(channel, "hello")


async def test_server_errors_are_unavailable(channel: WeChatChannel, sim: WeChatSimulator) -> None:
    sim.inject(status=503)
    with pytest.raises(Unavailable):
        await send_all(channel, "hello")
    await send_all(channel, "hello")  # and the next try goes through
    assert len(sim.sent) == 1


async def test_unreachable_api_is_unavailable(http: PlatformHTTP) -> None:
    channel = channel_for(f"http://127.0.0.1:{free_port()}", http)
    with pytest.raises(Unavailable, match="unreachable"):
        await send_all(channel, "hello")


async def test_wrong_app_secret_turns_the_integration_red(
    api_url: str, http: PlatformHTTP, sim: WeChatSimulator
) -> None:
    channel = channel_for(api_url, http, app_secret="wrong-secret-value")
    with pytest.raises(InvalidCredentials) as caught:
        await send_all(channel, "hello")
    assert caught.value.code == 40125
    assert channel.ctx.health.status == "failing" and "app_secret" in channel.ctx.health.message
    assert "wrong-secret-value" not in channel.ctx.health.message + caught.value.reason


async def test_content_the_simulator_refuses_is_rejected(
    channel: WeChatChannel, sim: WeChatSimulator
) -> None:
    too_long = Outbound(body={"touser": USER, "msgtype": "text", "text": {"content": "x" * 2049}})
    with pytest.raises(Rejected) as caught:
        await channel.send(too_long)
    assert caught.value.code == 45002
    unknown = Outbound(body={"touser": USER, "msgtype": "hologram", "hologram": {}})
    with pytest.raises(Rejected) as caught:
        await channel.send(unknown)
    assert caught.value.code == 40008


async def test_menus_and_news_pass_the_simulator(channel: WeChatChannel, sim: WeChatSimulator) -> None:
    await send_all(
        channel,
        {
            "type": "text",
            "text": "Size?",
            "quick_replies": [{"type": "reply", "title": "S", "payload": "SIZE_S"}],
        },
        {
            "type": "card",
            "title": "Pizza",
            "buttons": [{"type": "url", "title": "Open", "url": "https://x.example"}],
        },
    )
    assert [s.body["msgtype"] for s in sim.sent] == ["msgmenu", "news"]
    assert sim.sent[0].body["msgmenu"]["list"] == [{"id": "SIZE_S", "content": "S"}]


async def test_image_is_uploaded_once_and_sent_by_media_id(
    channel: WeChatChannel, sim: WeChatSimulator, images: tuple[str, list[str]]
) -> None:
    url, served = images
    image = {"type": "media", "kind": "image", "url": f"{url}/pizza.png"}
    await send_all(channel, image)
    await send_all(channel, image)
    assert len(served) == 1 and len(sim.media) == 1
    (media_id,) = sim.media
    assert sim.media[media_id].content == PNG and sim.media[media_id].mime_type == "image/png"
    assert sim.media[media_id].filename == "pizza.png"
    assert [s.body for s in sim.sent] == [
        {"touser": USER, "msgtype": "image", "image": {"media_id": media_id}}
    ] * 2
    assert all(not k.startswith("_") for s in sim.sent for k in s.body)


async def test_image_that_cannot_be_fetched_is_rejected(
    channel: WeChatChannel, sim: WeChatSimulator, images: tuple[str, list[str]]
) -> None:
    url, _ = images
    with pytest.raises(Rejected, match="404"):
        await send_all(channel, {"type": "media", "kind": "image", "url": f"{url}/missing.png"})


async def test_template_is_sent_to_the_template_api(channel: WeChatChannel, sim: WeChatSimulator) -> None:
    (result,) = await send_all(channel, {"type": "template", "name": "TPL_SHIPPED", "parameters": ["A-42"]})
    (sent,) = sim.sent
    assert sent.api == "template"
    assert sent.body == {
        "touser": USER,
        "template_id": "TPL_SHIPPED",
        "data": {"keyword1": {"value": "A-42"}},
    }
    assert result.platform_message_id is not None and result.platform_message_id.isdigit()


async def test_user_media_is_downloaded_with_our_token(channel: WeChatChannel, sim: WeChatSimulator) -> None:
    media_id = sim.add_media(b"#!AMR\n...", "audio/amr")
    media = await channel.download_media(media_id)
    assert (media.content, media.mime_type) == (b"#!AMR\n...", "audio/amr")
    with pytest.raises(Rejected) as caught:
        await channel.download_media("no-such-media")
    assert caught.value.code == 40007


async def test_user_video_is_fetched_through_its_video_url(
    channel: WeChatChannel, sim: WeChatSimulator
) -> None:
    media_id = sim.add_media(b"\x00\x00\x00\x18ftypmp42", "video/mp4", kind="video")
    media = await channel.download_media(media_id)
    assert (media.content, media.mime_type) == (b"\x00\x00\x00\x18ftypmp42", "video/mp4")


async def test_two_replicas_share_one_token(api_url: str, http: PlatformHTTP, sim: WeChatSimulator) -> None:
    kv = MemoryKeyValue()
    first, second = channel_for(api_url, http, kv), channel_for(api_url, http, kv)
    await asyncio.gather(*(send_all(c, f"m{i}") for i in range(5) for c in (first, second)))
    assert len(sim.sent) == 10
    assert sim.tokens_issued == 1


async def test_two_replicas_refresh_an_expired_token_once(
    api_url: str, http: PlatformHTTP, sim: WeChatSimulator
) -> None:
    kv = MemoryKeyValue()
    first, second = channel_for(api_url, http, kv), channel_for(api_url, http, kv)
    await asyncio.gather(send_all(first, "a"), send_all(second, "b"))
    sim.expire_tokens()
    await asyncio.gather(*(send_all(c, f"after{i}") for i in range(3) for c in (first, second)))
    assert len(sim.sent) == 8
    assert sim.tokens_issued == 2  # one refresh for both replicas: neither invalidated the other


async def test_tokens_and_secrets_never_reach_the_logs(
    channel: WeChatChannel, sim: WeChatSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await send_all(channel, "hello")
    sim.expire_tokens()
    await send_all(channel, "again")
    sim.inject(40001, times=2)
    with pytest.raises(InvalidCredentials) as caught:
        await send_all(channel, "fails")
    tokens = list(sim._tokens)
    assert len(tokens) >= 3
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in [*tokens, APP_SECRET]:
        assert secret not in logged  # PlatformHTTP logs no URL; the reasons are scrubbed
        assert secret not in caught.value.reason


async def test_simulator_runs_standalone(http: PlatformHTTP) -> None:
    port = free_port()
    env = {
        **os.environ,
        "WECHAT_SIM_APP_ID": "wxstandalone00001",
        "WECHAT_SIM_APP_SECRET": "standalone-secret",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "channelgate.testing.wechat", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        params = {
            "grant_type": "client_credential",
            "appid": "wxstandalone00001",
            "secret": "standalone-secret",
        }

        async def serving() -> bool:
            try:
                response = await http.request("GET", f"http://127.0.0.1:{port}/cgi-bin/token", params=params)
            except NetworkError:
                return False
            return "access_token" in response.json()

        await wait_until(serving, timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=10)
