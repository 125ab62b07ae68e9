"""Helpers for the Telegram tests: a channel built from config, render contexts, webhook requests."""

from __future__ import annotations

from typing import Any

import orjson

from channelgate.channels.base import ChannelContext, InboundEvent, RenderContext, WebhookRequest
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.telegram import TelegramChannel, TelegramConfig
from channelgate.testing.memory import MemoryKeyValue
from channelgate.testing.telegram import TelegramSimulator

NOW = 1_750_000_000.0
CHAT = "1111111"
TOKEN = TelegramSimulator.bot_token
SECRET = TelegramSimulator.secret_token


def channel(http: PlatformHTTP | None = None, **config: Any) -> TelegramChannel:
    values: dict[str, Any] = {"bot_token": TOKEN, "secret_token": SECRET}
    values.update(config)
    ctx = ChannelContext(
        channel="telegram",
        label="main",
        locale="en",
        public_url="https://gateway.example",
        http=http or PlatformHTTP(),
        kv=MemoryKeyValue(),
    )
    return TelegramChannel(TelegramConfig(**values), ctx)


def render_ctx(user_id: str = CHAT, *, reply_to: str | None = None, **kw: Any) -> RenderContext:
    return RenderContext(
        user_id=user_id, locale="en", now=NOW, reply_to=reply_to, last_inbound_at=NOW - 5, **kw
    )


def post(update: dict[str, Any] | bytes, secret: str | None = SECRET) -> WebhookRequest:
    body = update if isinstance(update, bytes) else orjson.dumps(update)
    headers = {"x-telegram-bot-api-secret-token": secret} if secret is not None else {}
    return WebhookRequest("POST", headers, {}, body, notes={"where": "telegram/main"})


async def receive(ch: TelegramChannel, update: dict[str, Any] | bytes) -> list[InboundEvent]:
    """What the webhook route does with an update: authenticate, check_replay, parse."""
    request = post(update)
    verified = ch.authenticate(request)
    await ch.check_replay(request, verified)
    return ch.parse(request, verified)
