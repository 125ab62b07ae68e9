"""Helpers for the Instagram tests: a channel built from config, render contexts, signed webhook requests."""

from __future__ import annotations

from typing import Any

import orjson

from channelgate.channels.base import ChannelContext, InboundEvent, RenderContext, WebhookRequest
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.instagram import InstagramChannel, InstagramConfig
from channelgate.channels.meta import sign
from channelgate.testing.instagram import InstagramSimulator
from channelgate.testing.memory import MemoryKeyValue

NOW = 1_750_000_000.0
IGSID = "1234567890123456"
SIM = InstagramSimulator()
ACCOUNT = SIM.account_id


def channel(http: PlatformHTTP | None = None, **config: Any) -> InstagramChannel:
    values: dict[str, Any] = {
        "verify_token": SIM.verify_token,
        "app_secret": SIM.app_secret,
        "access_token": SIM.access_token,
        "instagram_account_id": ACCOUNT,
    }
    values.update(config)
    ctx = ChannelContext(
        channel="instagram",
        label="shop",
        locale="en",
        public_url="https://gateway.example",
        http=http or PlatformHTTP(),
        kv=MemoryKeyValue(),
    )
    return InstagramChannel(InstagramConfig(**values), ctx)


def render_ctx(
    user_id: str = IGSID, *, reply_to: str | None = "aWdf-in", last: float | None = NOW - 5, **kw: Any
) -> RenderContext:
    return RenderContext(user_id=user_id, locale="en", now=NOW, reply_to=reply_to, last_inbound_at=last, **kw)


def post(
    payload: dict[str, Any] | bytes, secret: str | None = SIM.app_secret, signature: str | None = None
) -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    headers: dict[str, str] = {}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    elif secret is not None:
        headers["x-hub-signature-256"] = sign(body, secret)
    return WebhookRequest("POST", headers, {}, body, notes={"where": "instagram/shop"})


def receive(ch: InstagramChannel, payload: dict[str, Any] | bytes) -> tuple[list[InboundEvent], list[str]]:
    """What the webhook route does: authenticate, then parse; the events and the skip reasons."""
    request = post(payload)
    events = ch.parse(request, ch.authenticate(request))
    skips = request.notes.get("skips")
    return events, list(skips.reasons) if skips is not None else []
