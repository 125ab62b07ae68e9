"""Helpers for the Google channel tests: webhook requests, render contexts, channels without a network."""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import SecretStr

from channelgate.channels.base import ChannelContext, InboundEvent, RenderContext, WebhookRequest
from channelgate.channels.gbm import GBMChannel, GBMConfig
from channelgate.channels.google.webhook import SIGNATURE_HEADER, sign
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.rbm import RBMChannel, RBMConfig
from channelgate.channels.rbm.inbound import push_data
from channelgate.testing.memory import MemoryKeyValue

#: the §0.2 vector's client token (channel-protocols.md)
CLIENT_TOKEN = "my_client_token"
MSISDN = "+12223334444"
DAY = 24 * 3600.0


def request(
    body: bytes | dict[str, Any], *, headers: dict[str, str] | None = None, method: str = "POST"
) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return WebhookRequest(
        method=method, headers={k.lower(): v for k, v in (headers or {}).items()}, query={}, body=raw
    )


def signed(body: bytes | dict[str, Any], token: str = CLIENT_TOKEN) -> WebhookRequest:
    """A GBM webhook request signed over its raw body."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return request(raw, headers={"X-Goog-Signature": sign(raw, token)})


def context(
    http: PlatformHTTP | None = None, kv: MemoryKeyValue | None = None, channel: str = "gbm"
) -> ChannelContext:
    return ChannelContext(
        channel=channel,
        label="test",
        locale="en-US",
        public_url="http://127.0.0.1:9",
        http=http or PlatformHTTP(),
        kv=kv or MemoryKeyValue(),
    )


def gbm_channel(ctx: ChannelContext | None = None, **config: Any) -> GBMChannel:
    values: dict[str, Any] = {"client_token": CLIENT_TOKEN, "service_account": "/nonexistent/key.json"}
    values.update(config)
    return GBMChannel(GBMConfig.model_validate(values), ctx or context())


def rbm_channel(ctx: ChannelContext | None = None, **config: Any) -> RBMChannel:
    values: dict[str, Any] = {
        "agent_id": "sim-agent",
        "client_token": CLIENT_TOKEN,
        "service_account": "/nonexistent/key.json",
    }
    values.update(config)
    return RBMChannel(RBMConfig.model_validate(values), ctx or context(channel="rbm"))


def render_context(
    user_id: str = "c1", *, reply_to: str | None = "in-1", last_inbound_days: float | None = 0.01
) -> RenderContext:
    now = time.time()
    last = None if last_inbound_days is None else now - last_inbound_days * DAY
    return RenderContext(user_id=user_id, locale="en-US", now=now, reply_to=reply_to, last_inbound_at=last)


def parse(channel: GBMChannel | RBMChannel, req: WebhookRequest) -> list[InboundEvent]:
    """What the webhook route does with a request: authenticate it, then parse it with what authenticating
    verified. ``req`` is signed here first, as Google signs it (GBM: the raw body; RBM: the decoded data)."""
    covered = push_data(req.body) if isinstance(channel, RBMChannel) else req.body
    token = channel.config.client_token.get_secret_value()
    req.headers[SIGNATURE_HEADER.lower()] = sign(covered or b"", token)
    return channel.parse(req, channel.authenticate(req))


def secret(value: str) -> SecretStr:
    return SecretStr(value)
