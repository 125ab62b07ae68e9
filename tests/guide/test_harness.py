"""channelgate.testing's channel harness itself: the recording bot, the fake platform, signing, shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from channelgate_parley import ParleyChannel, sign

from channelgate.bots.base import Bot, BotError
from channelgate.channels.base import (
    Channel,
    ChannelConfig,
    Forbidden,
    InboundEvent,
    InboundMessage,
    Outbound,
    RenderContext,
    SendResult,
    Verified,
    WebhookRequest,
)
from channelgate.config import ConfigError
from channelgate.messages import UniversalMessage
from channelgate.testing import ChannelHarness, FakePlatform, OutgoingRequest, Received, RecordingBot
from channelgate.turns import Reply, TextInput, Turn, User

KEY = "harness-test-key-0123456789"


def parley(url: str) -> dict[str, Any]:
    return {"secret": KEY, "token": "harness-api-key", "api_base_url": url}


async def signer(request: OutgoingRequest) -> None:  # a signer may be async
    request.headers["x-parley-signature"] = sign(KEY, request.body)


def text(event_id: str, value: str) -> dict[str, Any]:
    return {"events": [{"id": event_id, "type": "message", "from": {"id": "u1"}, "text": value}]}


async def test_the_bot_answers_from_its_script_then_echoes() -> None:
    platform = FakePlatform()
    bot = RecordingBot(["first", {"messages": [{"type": "text", "text": "second"}]}])
    async with ChannelHarness(ParleyChannel, parley, sign=signer, platform=platform, bot=bot) as h:
        for i in range(3):
            await h.post(text(f"e{i}", f"m{i}"))
            await h.wait_for_sends(i + 2)
    assert [r.json()["text"] for r in platform.requests[1:]] == ["first", "second", "echo: m2"]
    assert bot.inputs == [TextInput(text=f"m{i}") for i in range(3)]


async def test_the_bot_can_answer_with_a_function_and_fail_on_demand() -> None:
    async def answer(turn: Turn) -> str:
        return f"{turn.user.id} said {getattr(turn.input, 'text', '')}"

    platform = FakePlatform()
    bot = RecordingBot(answer)
    bot.fail_next(BotError("down for a moment"))
    async with ChannelHarness(ParleyChannel, parley, sign=signer, platform=platform, bot=bot) as h:
        await h.post(text("e1", "hi"))
        await h.wait_for_sends(2)
        turns = await h.wait_for_turns(2)  # the failed call, then the retry
    assert turns[0].id == turns[1].id
    assert platform.requests[1].json()["text"] == "u1 said hi"


async def test_waiting_too_long_says_what_arrived() -> None:
    platform = FakePlatform()
    async with ChannelHarness(ParleyChannel, parley, sign=signer, platform=platform) as h:
        with pytest.raises(AssertionError, match="got 0 turn"):
            await h.wait_for_turns(1, timeout=0.1)
        with pytest.raises(AssertionError, match="received 1 request"):
            await h.wait_for_sends(2, timeout=0.1)


async def test_a_fake_platform_answers_as_scripted_and_records_every_attempt() -> None:
    async def answer(request: Received) -> tuple[int, Any, dict[str, str]]:
        return 201, {"seen": request.json()}, {"x-request": request.path}

    platform = FakePlatform(answer)
    platform.fail_next(503, times=2)
    async with ChannelHarness(ParleyChannel, parley, sign=signer, platform=platform) as h:
        await h.post(text("e1", "hi"))  # registering at start failed; the reply's send is retried
        await h.wait_for_sends(1)
        async with httpx.AsyncClient(trust_env=False) as client:
            direct = await client.post(f"{h.platform_url}/v1/x?a=1", json={"k": 1})
    assert [(r.method, status) for r, status in platform.attempts] == [
        ("PUT", 503),
        ("POST", 503),
        ("POST", 201),
        ("POST", 201),
    ]
    assert (direct.status_code, direct.json(), direct.headers["x-request"]) == (
        201,
        {"seen": {"k": 1}},
        "/v1/x",
    )
    assert platform.requests[-1].query == {"a": "1"}
    assert platform.bodies()[-1] == {"k": 1}


class QueryConfig(ChannelConfig):
    key: str


class QueryChannel(Channel[QueryConfig]):
    """A channel signed by a query parameter, as some platforms do: the signer adds it."""

    name = "querysigned"
    title = "Query-signed"
    Config = QueryConfig

    def authenticate(self, request: WebhookRequest) -> Verified:
        if request.query.get("key") != self.config.key:
            raise Forbidden("wrong key")
        return Verified(request.body)

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        return [InboundMessage("q1", User(id="u1"), TextInput(text=verified.body.decode()))]

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        return []

    async def send(self, outbound: Outbound) -> SendResult:
        return SendResult()


async def test_a_signer_may_add_query_parameters_and_an_unsigned_post_has_none() -> None:
    def add_key(request: OutgoingRequest) -> None:
        request.query["key"] = "k"

    async with ChannelHarness(QueryChannel, {"key": "k"}, sign=add_key) as h:
        assert (await h.post("plain", signed=False)).status_code == 403
        assert (await h.post("plain")).status_code == 200
        [turn] = await h.wait_for_turns(1)
    assert turn.input == TextInput(text="plain")
    assert h.registry.names() == ["querysigned"]  # the class under test alone


async def test_shutdown_is_clean_and_a_failed_start_closes_what_it_opened() -> None:
    platform = FakePlatform()
    async with ChannelHarness(ParleyChannel, parley, sign=signer, platform=platform) as h:
        urls = (h.url, h.platform_url)
    async with httpx.AsyncClient(trust_env=False) as client:
        for url in urls:
            with pytest.raises(httpx.ConnectError):
                await client.get(url)
    broken = ChannelHarness(
        ParleyChannel, lambda url: {**parley(url), "secret": "short"}, platform=FakePlatform()
    )
    with pytest.raises(ConfigError, match="16 characters"):
        async with broken:
            pass
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(broken.platform_url)
    assert not [t for t in asyncio.all_tasks() if "serve" in repr(t.get_coro())]


async def test_an_unknown_channel_name_and_a_foreign_bot_say_what_is_wrong() -> None:
    with pytest.raises(LookupError, match="'nope' is not available"):
        ChannelHarness("nope")

    class Quiet(Bot):
        async def respond(self, turn: Turn) -> Reply:
            return Reply()

    async with ChannelHarness(QueryChannel, {"key": "k"}, bot=Quiet()) as h:
        with pytest.raises(TypeError, match="RecordingBot"):
            await h.wait_for_turns(1)
        with pytest.raises(TypeError, match="FakePlatform"):
            await h.wait_for_sends(1)
