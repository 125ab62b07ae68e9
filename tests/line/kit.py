"""Helpers for the LINE tests: a channel built from config, render contexts, signed webhook requests."""

from __future__ import annotations

from typing import Any

import orjson

from channelgate.channels.base import ChannelContext, InboundEvent, RenderContext, WebhookRequest
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.line import LineChannel, LineConfig
from channelgate.testing.line import LineSimulator, sign
from channelgate.testing.memory import MemoryKeyValue

NOW = 1_750_000_000.0
USER = "U4af4980629" + "0" * 22
SECRET = LineSimulator.channel_secret
TOKEN = LineSimulator.access_token


def channel(http: PlatformHTTP | None = None, **config: Any) -> LineChannel:
    values: dict[str, Any] = {"channel_secret": SECRET, "channel_access_token": TOKEN}
    values.update(config)
    ctx = ChannelContext(
        channel="line",
        label="main",
        locale="en",
        public_url="https://gateway.example",
        http=http or PlatformHTTP(),
        kv=MemoryKeyValue(),
    )
    return LineChannel(LineConfig(**values), ctx)


def render_ctx(
    user_id: str = USER, *, reply_to: str | None = None, age: float = 5.0, **kw: Any
) -> RenderContext:
    """A render context ``age`` seconds after the user's message."""
    return RenderContext(
        user_id=user_id, locale="en", now=NOW, reply_to=reply_to, last_inbound_at=NOW - age, **kw
    )


def webhook(events: list[dict[str, Any]] | bytes, destination: str = "Ubot") -> bytes:
    if isinstance(events, bytes):
        return events
    return orjson.dumps({"destination": destination, "events": events})


def post(body: bytes, signature: str | None = "sign") -> WebhookRequest:
    """A webhook request, signed with the channel secret unless ``signature`` is given (None: unsigned)."""
    if signature == "sign":
        signature = sign(body, SECRET)
    headers = {"x-line-signature": signature} if signature is not None else {}
    return WebhookRequest("POST", headers, {}, body, notes={"where": "line/main"})


def receive(ch: LineChannel, events: list[dict[str, Any]] | bytes) -> list[InboundEvent]:
    """What the webhook route does with a webhook: authenticate, then parse what it verified."""
    request = post(webhook(events))
    return ch.parse(request, ch.authenticate(request))


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """A LINE event from a user, with the envelope every event has."""
    base: dict[str, Any] = {
        "type": kind,
        "mode": "active",
        "timestamp": 1462629479859,
        "source": {"type": "user", "userId": USER},
        "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
    }
    return {**base, **fields}
