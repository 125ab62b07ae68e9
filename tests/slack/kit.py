"""Helpers for the Slack tests: a channel built from config, render contexts, signed webhook requests, and
a registry that knows the channel before the package's entry points are reinstalled."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import orjson

from channelgate.channels.base import ChannelContext, InboundEvent, RenderContext, WebhookRequest
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.registry import ChannelRegistry, load_registry
from channelgate.channels.slack import SlackChannel, SlackConfig
from channelgate.channels.slack.signature import sign
from channelgate.testing.memory import MemoryKeyValue
from channelgate.testing.slack import SlackSimulator

NOW = 1_750_000_000.0
DM = "D0SIMUSER"
SECRET = SlackSimulator.signing_secret
TOKEN = SlackSimulator.bot_token


def registry() -> ChannelRegistry:
    found = load_registry()
    found.register(SlackChannel)
    return found


def channel(http: PlatformHTTP | None = None, **config: Any) -> SlackChannel:
    values: dict[str, Any] = {"signing_secret": SECRET, "bot_token": TOKEN}
    values.update(config)
    ctx = ChannelContext(
        channel="slack",
        label="main",
        locale="en",
        public_url="https://gateway.example",
        http=http or PlatformHTTP(),
        kv=MemoryKeyValue(),
    )
    return SlackChannel(SlackConfig(**values), ctx)


def render_ctx(user_id: str = DM, *, reply_to: str | None = None, **kw: Any) -> RenderContext:
    return RenderContext(
        user_id=user_id, locale="en", now=NOW, reply_to=reply_to, last_inbound_at=NOW - 5, **kw
    )


def form(fields: dict[str, Any]) -> bytes:
    """An interactivity form (``payload`` given as a dict is sent as its JSON)."""
    values = {k: orjson.dumps(v).decode() if isinstance(v, dict) else str(v) for k, v in fields.items()}
    return urlencode(values).encode()


def post(
    body: dict[str, Any] | bytes, *, secret: str = SECRET, timestamp: str | None = None, signed: bool = True
) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    stamp = timestamp or str(int(time.time()))
    headers = (
        {"x-slack-request-timestamp": stamp, "x-slack-signature": sign(secret, stamp, raw)} if signed else {}
    )
    return WebhookRequest("POST", headers, {}, raw, notes={"where": "slack/main"})


async def receive(ch: SlackChannel, body: dict[str, Any] | bytes) -> list[InboundEvent]:
    """What the webhook route does with a request: authenticate, check_replay, parse."""
    request = post(body)
    verified = ch.authenticate(request)
    await ch.check_replay(request, verified)
    return ch.parse(request, verified)
