"""End to end over loopback: simulator → signed webhook → channel → bot → render → send → simulator.

The gateway's own webhook route, dedup store and delivery worker are tested with the gateway; here a minimal
stand-in (``MiniGateway``) wires the channel's hooks in the order the gateway does, to show that what one
channel method produces, the next one and the real wire format accept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from metakit import context
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.channels.base import (
    Channel,
    InboundMessage,
    RenderContext,
    SendError,
    WebhookError,
    WebhookRequest,
)
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.messenger import MessengerChannel, MessengerConfig
from channelgate.channels.whatsapp import WhatsAppChannel, WhatsAppConfig
from channelgate.messages import parse_message
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from channelgate.turns import Input, PostbackInput, TextInput

Bot = Callable[[Input], list[Any]]


class MiniGateway:
    """handshake → authenticate → parse → dedup → ack; then bot → render → send with one retry on a
    retryable error after the platform's Retry-After."""

    def __init__(self, channel: Channel[Any], bot: Bot) -> None:
        self.channel, self.bot = channel, bot
        self.seen: set[str] = set()
        self.tasks: list[asyncio.Task[None]] = []
        self.failures: list[SendError] = []
        self.app = Starlette(
            routes=[Route("/webhooks/{channel}/{label}", self.webhook, methods=["GET", "POST"])]
        )

    async def webhook(self, request: Request) -> Response:
        incoming = WebhookRequest(
            request.method,
            {k.lower(): v for k, v in request.headers.items()},
            dict(request.query_params),
            await request.body(),
        )
        answer = self.channel.handshake(incoming)
        if answer is not None:
            return Response(answer.body, answer.status, media_type=answer.media_type)
        try:
            verified = self.channel.authenticate(incoming)
            events = self.channel.parse(incoming, verified)
        except WebhookError as exc:
            return JSONResponse({"error": exc.reason}, exc.status)
        fresh = [e for e in events if e.dedup_key not in self.seen]
        self.seen.update(e.dedup_key for e in fresh)
        for event in fresh:
            if isinstance(event, InboundMessage):
                self.tasks.append(asyncio.create_task(self.turn(event)))
        ack = self.channel.ack(incoming, events)
        return Response(ack.body, ack.status, media_type=ack.media_type)

    async def turn(self, event: InboundMessage) -> None:
        messages = [parse_message(m) for m in self.bot(event.input)]
        now = time.time()
        ctx = RenderContext(
            user_id=event.user.id,
            locale="en",
            now=now,
            reply_to=event.platform_message_id,
            last_inbound_at=now,
        )
        for outbound in self.channel.render(messages, ctx):
            for attempt in range(2):
                try:
                    await self.channel.send(outbound)
                    break
                except SendError as exc:
                    if outbound.best_effort or not exc.retryable or attempt:
                        self.failures.append(exc)
                        break
                    await asyncio.sleep(exc.retry_after or 0)


def echo_bot(user_input: Input) -> list[Any]:
    if isinstance(user_input, PostbackInput):
        return [f"You chose {user_input.payload}"]
    text = user_input.text if isinstance(user_input, TextInput) else user_input.type
    return [
        {
            "type": "text",
            "text": f"You said: {text}",
            "quick_replies": [
                {"type": "reply", "title": "Yes", "payload": "YES"},
                {"type": "reply", "title": "No", "payload": "NO"},
            ],
        }
    ]


@pytest.fixture
async def graph(sim: GraphSimulator):
    async with serve_app(sim.app) as url, PlatformHTTP(timeout=5) as http:
        yield sim.api_base_url(url), http


async def test_messenger_conversation_end_to_end(sim: GraphSimulator, graph) -> None:
    api, http = graph
    config = MessengerConfig(
        verify_token=sim.verify_token,
        app_secret=sim.app_secret,
        page_access_token=sim.access_token,
        api_base_url=api,
    )
    gateway = MiniGateway(MessengerChannel(config, context("messenger", http)), echo_bot)
    async with serve_app(gateway.app) as base:
        url = f"{base}/webhooks/messenger/main"
        verified = await sim.verify(url, challenge="8675309")
        assert (verified.status_code, verified.text) == (200, "8675309")

        response = await sim.deliver(url, sim.messenger_text("PSID_1", "hello", mid="m_1"))
        assert (response.status_code, response.text) == (200, "EVENT_RECEIVED")
        seen, typing, reply = await sim.wait_for_sends(3)
        assert seen.body == {"recipient": {"id": "PSID_1"}, "sender_action": "mark_seen"}
        assert typing.body["sender_action"] == "typing_on"
        assert reply.body == {
            "recipient": {"id": "PSID_1"},
            "messaging_type": "RESPONSE",
            "message": {
                "text": "You said: hello",
                "quick_replies": [
                    {"content_type": "text", "title": "Yes", "payload": "YES"},
                    {"content_type": "text", "title": "No", "payload": "NO"},
                ],
            },
        }

        redelivered = await sim.deliver(url, sim.last_delivery)
        assert redelivered.status_code == 200
        assert len(gateway.tasks) == 1  # answered once: no second turn, so no duplicate send

        await sim.deliver(url, sim.messenger_quick_reply("PSID_1", "Yes", "YES"))
        sent = await sim.wait_for_sends(6)
        assert sent[-1].body["message"] == {"text": "You chose YES"}
        await asyncio.gather(*gateway.tasks)
    assert len(sim.sent) == 6 and gateway.failures == []


async def test_unsigned_and_forged_webhooks_never_reach_the_bot(sim: GraphSimulator, graph) -> None:
    api, http = graph
    config = WhatsAppConfig(
        verify_token=sim.verify_token,
        app_secret=sim.app_secret,
        access_token=sim.access_token,
        phone_number_id=sim.phone_number_id,
        api_base_url=api,
    )
    gateway = MiniGateway(WhatsAppChannel(config, context("whatsapp", http)), echo_bot)
    async with serve_app(gateway.app) as base:
        url = f"{base}/webhooks/whatsapp/main"
        payload = sim.whatsapp_text("16505551234", "hi")
        assert (await sim.deliver(url, payload, signed=False)).status_code == 401
        assert (await sim.deliver(url, payload, signature="sha256=" + "0" * 64)).status_code == 403
        assert (await sim.verify(url, verify_token="guess")).status_code == 403
    assert gateway.tasks == [] and sim.sent == []


async def test_whatsapp_conversation_with_throttling_and_a_bsuid_user(sim: GraphSimulator, graph) -> None:
    api, http = graph
    config = WhatsAppConfig(
        verify_token=sim.verify_token,
        app_secret=sim.app_secret,
        access_token=sim.access_token,
        phone_number_id=sim.phone_number_id,
        api_base_url=api,
    )
    gateway = MiniGateway(WhatsAppChannel(config, context("whatsapp", http)), echo_bot)
    async with serve_app(gateway.app) as base:
        url = f"{base}/webhooks/whatsapp/main"
        sim.fail_next(1, code=130429, retry_after=0.01)
        payload = sim.whatsapp_text(None, "hola", user_id="US.13491208655302741918", wamid="wamid.IN1")
        assert (await sim.deliver(url, payload)).status_code == 200
        read, reply = await sim.wait_for_sends(2)
        await asyncio.gather(*gateway.tasks)
    assert read.body == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN1",
        "typing_indicator": {"type": "text"},
    }
    assert reply.body["recipient"] == "US.13491208655302741918" and "to" not in reply.body
    assert reply.body["interactive"]["action"]["buttons"][0] == {
        "type": "reply",
        "reply": {"id": "YES", "title": "Yes"},
    }
    assert len(sim.sent) == 2  # the throttled attempt was refused, the retry accepted: no duplicate
    assert gateway.failures == []


async def test_window_error_is_a_visible_failure_with_its_reason(sim: GraphSimulator, graph) -> None:
    api, http = graph
    config = WhatsAppConfig(
        verify_token=sim.verify_token,
        app_secret=sim.app_secret,
        access_token=sim.access_token,
        phone_number_id=sim.phone_number_id,
        api_base_url=api,
    )
    gateway = MiniGateway(WhatsAppChannel(config, context("whatsapp", http)), echo_bot)
    async with serve_app(gateway.app) as base:
        sim.fail_next(1, code=131047)
        await sim.deliver(f"{base}/webhooks/whatsapp/main", sim.whatsapp_text("16505551234", "late"))
        await sim.wait_for_sends(1)  # the read mark
        await asyncio.gather(*gateway.tasks)
    [failure] = gateway.failures
    assert not failure.retryable and failure.code == 131047
    assert failure.reason.startswith("Graph API error 131047: Re-engagement message")
