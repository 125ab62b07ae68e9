"""Helpers for the Messenger and WhatsApp tests: channels built from config and render contexts."""

from __future__ import annotations

from typing import Any

from channelgate.channels.base import ChannelContext, InboundEvent, RenderContext, Verified, WebhookRequest
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.messenger import MessengerChannel, MessengerConfig
from channelgate.channels.whatsapp import WhatsAppChannel, WhatsAppConfig
from channelgate.testing.memory import MemoryKeyValue

NOW = 1_750_000_000.0
PSID = "PSID"
WA_ID = "16505551234"
PHONE_NUMBER_ID = "106540352242922"


def context(channel: str, http: PlatformHTTP | None = None) -> ChannelContext:
    return ChannelContext(
        channel=channel,
        label="main",
        locale="en",
        public_url="https://gateway.example",
        http=http or PlatformHTTP(),
        kv=MemoryKeyValue(),
    )


def messenger(http: PlatformHTTP | None = None, **config: Any) -> MessengerChannel:
    values: dict[str, Any] = {
        "verify_token": "my_verify_token",
        "app_secret": "my_app_secret",
        "page_access_token": "EAAG-page-token",
    }
    values.update(config)
    return MessengerChannel(MessengerConfig(**values), context("messenger", http))


def whatsapp(http: PlatformHTTP | None = None, **config: Any) -> WhatsAppChannel:
    values: dict[str, Any] = {
        "verify_token": "my_verify_token",
        "app_secret": "my_app_secret",
        "access_token": "EAAG-wa-token",
        "phone_number_id": PHONE_NUMBER_ID,
    }
    values.update(config)
    return WhatsAppChannel(WhatsAppConfig(**values), context("whatsapp", http))


def render_ctx(
    user_id: str = PSID,
    *,
    reply_to: str | None = None,
    age: float | None = 60.0,
    **kw: Any,
) -> RenderContext:
    """A render context whose user last wrote ``age`` seconds ago (None: never)."""
    return RenderContext(
        user_id=user_id,
        locale="en",
        now=NOW,
        reply_to=reply_to,
        last_inbound_at=None if age is None else NOW - age,
        **kw,
    )


def post(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest("POST", {k.lower(): v for k, v in (headers or {}).items()}, {}, body)


def parse(channel: MessengerChannel | WhatsAppChannel, request: WebhookRequest) -> list[InboundEvent]:
    """``channel.parse`` of a request taken as authentic (what ``authenticate`` answers for Meta's raw-body
    signature: the body itself, nothing decoded)."""
    return channel.parse(request, Verified(request.body))
