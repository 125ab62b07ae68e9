"""The simulator's callbacks against the channel over loopback, through a minimal stand-in for the
gateway's webhook route (dedup, passive reply within the budget, the rest through the API)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.channels.base import InboundMessage, Outbound, RenderContext, WebhookError, WebhookRequest
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.wechat import WeChatChannel
from channelgate.messages import parse_message
from channelgate.testing.memory import MemoryKeyValue
from channelgate.testing.server import serve_app
from channelgate.testing.wechat import WeChatSimulator

from .helpers import make_channel
from .test_xml import HOSTILE

Bot = Callable[[InboundMessage], Any]


@dataclass
class Route_:
    """What the gateway's webhook route does, reduced to what these tests need."""

    channel: WeChatChannel
    bot: Bot
    #: the first callback attempt does not answer until the second one arrives (a slow network)
    hold_first: bool = False
    attempts: int = 0
    turns: list[InboundMessage] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    second: asyncio.Event = field(default_factory=asyncio.Event)

    async def endpoint(self, request: Request) -> Response:
        hook = WebhookRequest(
            request.method,
            {k.lower(): v for k, v in request.headers.items()},
            dict(request.query_params),
            await request.body(),
        )
        try:
            answer = self.channel.handshake(hook)
            if answer is not None:
                return Response(answer.body, answer.status, media_type=answer.media_type)
            verified = self.channel.authenticate(hook)
            events = self.channel.parse(hook, verified)
        except WebhookError as exc:
            return JSONResponse({"error": exc.reason}, exc.status)
        self.attempts += 1
        if self.attempts == 1 and self.hold_first:
            await asyncio.wait_for(self.second.wait(), 10)
        elif self.attempts == 2:
            self.second.set()
        fresh = [e for e in events if isinstance(e, InboundMessage) and e.dedup_key not in self.seen]
        self.seen.update(e.dedup_key for e in fresh)
        ack = self.channel.ack(hook, events)
        if not fresh:
            return Response(ack.body, ack.status)
        self.turns.extend(fresh)
        turn = asyncio.create_task(self.respond(fresh[0]))
        try:
            outbounds = await asyncio.wait_for(asyncio.shield(turn), self.channel.passive_reply_budget)
        except TimeoutError:
            self.background.append(asyncio.create_task(self.send_later(turn)))
            return Response(ack.body, ack.status)
        answer, used = self.channel.passive_reply(hook, outbounds)
        self.background.append(asyncio.create_task(self.send_all(outbounds[used:])))
        return Response(answer.body, answer.status, media_type=answer.media_type)

    async def respond(self, message: InboundMessage) -> list[Outbound]:
        reply = self.bot(message)
        if asyncio.iscoroutine(reply):
            reply = await reply
        context = RenderContext(
            user_id=message.user.id,
            locale="zh-CN",
            now=time.time(),
            reply_to=message.dedup_key,
            last_inbound_at=time.time(),
        )
        return self.channel.render([parse_message(m) for m in reply], context)

    async def send_later(self, turn: asyncio.Task[list[Outbound]]) -> None:
        await self.send_all(await turn)

    async def send_all(self, outbounds: list[Outbound]) -> None:
        for outbound in outbounds:
            await self.channel.send(outbound)


@dataclass
class Setup:
    sim: WeChatSimulator
    route: Route_
    url: str


def echo(message: InboundMessage) -> list[Any]:
    return [f"echo: {getattr(message.input, 'text', message.input.type)}", "and a second message"]


Start = Callable[..., Awaitable[Setup]]


@pytest.fixture
async def start(sim: WeChatSimulator, api_url: str, http: PlatformHTTP) -> AsyncIterator[Start]:
    """Start the stand-in route for a channel in ``mode`` with ``bot``; stopped when the test ends."""
    async with AsyncExitStack() as stack:
        routes: list[Route_] = []

        async def start_route(
            mode: str = "safe", bot: Bot = echo, budget: float = 1.0, **options: Any
        ) -> Setup:
            channel = make_channel(
                mode, http=http, kv=MemoryKeyValue(), api_base_url=api_url, passive_reply_budget=budget
            )
            route = Route_(channel, bot, **options)
            routes.append(route)
            app = Starlette(routes=[Route("/webhooks/wechat/shop", route.endpoint, methods=["GET", "POST"])])
            url = await stack.enter_async_context(serve_app(app))
            return Setup(sim, route, f"{url}/webhooks/wechat/shop")

        yield start_route
        for route in routes:
            await asyncio.gather(*route.background)


async def test_console_url_verification_gets_echostr_back(start: Start) -> None:
    setup = await start()
    response = await setup.sim.verify_url(setup.url, echostr="8899001122")
    assert response.status_code == 200 and response.text == "8899001122"


async def test_url_verification_with_another_token_is_forbidden(start: Start) -> None:
    setup = await start()
    stranger = WeChatSimulator(token="othertoken1")
    response = await stranger.verify_url(setup.url)
    assert response.status_code == 403


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
async def test_each_mode_gets_a_passive_reply_and_the_rest_through_the_api(start: Start, mode: str) -> None:
    setup = await start(mode=mode)
    sim = setup.sim
    delivery = await sim.deliver(setup.url, sim.text_message("oUser1", "你好"), mode=mode)  # type: ignore[arg-type]
    assert delivery.attempts == 1 and delivery.response is not None
    if mode != "plaintext":
        assert "<Encrypt>" in delivery.response.text and "<Content>" not in delivery.response.text
    reply = sim.read_reply(delivery.response)
    assert reply is not None and reply["Content"] == "echo: 你好"
    assert reply["ToUserName"] == "oUser1" and reply["FromUserName"] == sim.account
    sent = await sim.wait_for_sends(1)
    assert [s.body["text"]["content"] for s in sent] == ["and a second message"]


async def slow_bot(message: InboundMessage) -> list[Any]:
    await asyncio.sleep(0.3)  # slower than the 0.1 s budget below; not a timing assertion
    return [f"late: {message.input.text}"]  # type: ignore[union-attr]


async def test_bot_slower_than_the_budget_answers_through_the_api(start: Start) -> None:
    setup = await start(bot=slow_bot, budget=0.1)
    delivery = await setup.sim.deliver(setup.url, setup.sim.text_message("oUser1", "hi"), mode="safe")
    assert delivery.response is not None and delivery.response.text == "success"
    assert setup.sim.read_reply(delivery.response) is None
    (sent,) = await setup.sim.wait_for_sends(1)
    assert sent.body == {"touser": "oUser1", "msgtype": "text", "text": {"content": "late: hi"}}


async def test_callback_retried_by_wechat_is_answered_once(start: Start) -> None:
    setup = await start(hold_first=True, bot=slow_bot, budget=0.1)
    # the first try is held until the second arrives; the second must be answered within the timeout, which
    # on a loaded machine can take longer than a few tenths of a second
    setup.sim.callback_timeout = 2.0
    delivery = await setup.sim.deliver(setup.url, setup.sim.text_message("oUser1", "hi"), mode="safe")
    assert delivery.attempts == 2 and setup.route.attempts == 2
    assert delivery.response is not None and delivery.response.text == "success"
    await asyncio.gather(*setup.route.background)
    assert len(setup.route.turns) == 1
    assert [s.body["text"]["content"] for s in setup.sim.sent] == ["late: hi"]


async def test_gateway_that_never_answers_gets_three_tries(sim: WeChatSimulator) -> None:
    release = asyncio.Event()
    calls: list[str] = []

    async def stuck(request: Request) -> Response:
        calls.append(request.query_params["nonce"])
        await asyncio.wait_for(release.wait(), 10)
        return Response("success")

    sim.callback_timeout = 0.1
    async with serve_app(Starlette(routes=[Route("/hook", stuck, methods=["POST"])])) as url:
        delivery = await sim.deliver(f"{url}/hook", sim.text_message("oUser1", "hi"))
        release.set()
    assert delivery.response is None and delivery.attempts == 3
    assert len(calls) == 3 and len(set(calls)) == 1  # the same callback each time


async def test_hostile_xml_is_refused_with_no_turn(start: Start) -> None:
    setup = await start(mode="plaintext")
    delivery = await setup.sim.deliver(setup.url, HOSTILE["billion laughs"])
    assert delivery.response is not None and delivery.response.status_code == 400
    assert setup.route.turns == []


async def test_encrypted_hostile_xml_is_refused_with_no_turn(start: Start) -> None:
    setup = await start()
    delivery = await setup.sim.deliver(setup.url, HOSTILE["external entity"], mode="safe")
    assert delivery.response is not None and delivery.response.status_code == 400
    assert setup.route.turns == []


async def test_callback_for_another_app_id_is_refused_with_no_turn(start: Start) -> None:
    setup = await start()
    impostor = WeChatSimulator(
        app_id="wxanother00000001", token=setup.sim.token, encoding_aes_key=setup.sim.encoding_aes_key
    )
    delivery = await impostor.deliver(setup.url, impostor.text_message("oUser1", "hi"), mode="safe")
    assert delivery.response is not None and delivery.response.status_code == 403
    assert setup.route.turns == []


async def test_callback_signed_with_another_token_is_refused_with_no_turn(start: Start) -> None:
    setup = await start()
    impostor = WeChatSimulator(
        token="notourtoken1", encoding_aes_key=setup.sim.encoding_aes_key, app_id=setup.sim.app_id
    )
    delivery = await impostor.deliver(setup.url, impostor.text_message("oUser1", "hi"), mode="safe")
    assert delivery.response is not None and delivery.response.status_code == 403
    assert setup.route.turns == []


async def test_replayed_old_callback_is_refused_with_no_turn(start: Start) -> None:
    setup = await start()
    delivery = await setup.sim.deliver(
        setup.url, setup.sim.text_message("oUser1", "hi"), mode="safe", timestamp=int(time.time()) - 3600
    )
    assert delivery.response is not None and delivery.response.status_code == 403
    assert setup.route.turns == []


async def test_events_reach_the_bot(start: Start) -> None:
    setup = await start()
    delivery = await setup.sim.deliver(
        setup.url, setup.sim.event_message("oUser1", "subscribe", {"EventKey": "qrscene_7"}), mode="safe"
    )
    assert delivery.response is not None and delivery.response.status_code == 200
    (turn,) = setup.route.turns
    assert turn.input.type == "event" and turn.input.data == {"scene": "7"}  # type: ignore[union-attr]
