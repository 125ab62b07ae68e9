"""Helpers for the Twilio tests: a channel built from config, render contexts, signed webhook requests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from channelgate.channels.base import ChannelContext, InboundEvent, RenderContext, WebhookRequest
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.twilio import TwilioChannel, TwilioConfig
from channelgate.channels.twilio.signature import signature
from channelgate.testing.memory import MemoryKeyValue
from channelgate.testing.twilio import TwilioSimulator

NOW = 1_750_000_000.0
USER = "+14155550100"
SID = TwilioSimulator.account_sid
TOKEN = TwilioSimulator.auth_token
NUMBER = TwilioSimulator.phone_number
CALLBACK = "https://gateway.example/webhooks/twilio/main"


def channel(http: PlatformHTTP | None = None, **config: Any) -> TwilioChannel:
    values: dict[str, Any] = {"account_sid": SID, "auth_token": TOKEN, "from_number": NUMBER}
    values.update(config)
    ctx = ChannelContext(
        channel="twilio",
        label="main",
        locale="en",
        public_url="https://gateway.example",
        http=http or PlatformHTTP(),
        kv=MemoryKeyValue(),
    )
    return TwilioChannel(TwilioConfig(**values), ctx)


def render_ctx(user_id: str = USER, **kw: Any) -> RenderContext:
    return RenderContext(user_id=user_id, locale="en", now=NOW, reply_to="SM1", last_inbound_at=NOW - 5, **kw)


def post(
    form: Sequence[tuple[str, str]] | bytes,
    *,
    token: str | None = TOKEN,
    url: str = CALLBACK,
    query: str = "",
) -> WebhookRequest:
    """A webhook request as the route builds it, signed as Twilio signs it (``token=None``: unsigned)."""
    body = form if isinstance(form, bytes) else urlencode(list(form)).encode()
    pairs = [] if isinstance(form, bytes) else list(form)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    signed_url = f"{url}?{query}" if query else url
    if token is not None:
        headers["x-twilio-signature"] = signature(token, signed_url, pairs)
    return WebhookRequest("POST", headers, {}, body, notes={"where": "twilio/main", "query_string": query})


async def receive(ch: TwilioChannel, form: Sequence[tuple[str, str]]) -> list[InboundEvent]:
    """What the webhook route does with a form: authenticate, check_replay, parse."""
    request = post(form)
    verified = ch.authenticate(request)
    await ch.check_replay(request, verified)
    return ch.parse(request, verified)
