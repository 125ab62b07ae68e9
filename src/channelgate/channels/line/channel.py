"""LINE, through the Messaging API: a LINE Official Account's Messaging API channel, webhooks signed with the
channel secret, replies sent with the channel access token.

Inbound: ``X-Line-Signature`` is the base64 HMAC-SHA256 of the raw body with the channel secret, checked in
constant time before anything is read (missing: 401, wrong: 403). LINE has no timestamp and no replay
window; its redeliveries (``deliveryContext.isRedelivery``) carry the same ``webhookEventId``, the dedup
key, so each event is answered once. What each event becomes: ``inbound.py``.

Outbound: ``render.py`` renders and groups the messages into calls of at most five. The first call of a reply
carries the event's reply token (free, single-use, valid for about a minute): ``send`` uses it when the
turn was fast (within :data:`REPLY_WITHIN` seconds of the user's message) and pushes otherwise, or when
LINE says the token is no longer valid. Every push carries ``X-Line-Retry-Key``, a UUID fixed at render
time and stored with the outbound, so a push retried after a 5xx or a timeout is answered 409 ("already
accepted") rather than delivered twice. A reply token is tried once only (marked in the store's key-value
table first), because a reply has no such key: after a failed reply the next try pushes.

:meth:`LineChannel.connect` is setup step 3 by API: the endpoint set, then LINE's webhook test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Any, ClassVar

import orjson

from channelgate.channels.base import (
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Connection,
    Forbidden,
    InboundEvent,
    MediaContent,
    Outbound,
    Rejected,
    RenderContext,
    SendResult,
    Throttled,
    Unauthorized,
    UserProfile,
    Verified,
    WebhookRequest,
)
from channelgate.channels.inbound import each
from channelgate.channels.line.api import LineAPI, is_invalid_reply_token
from channelgate.channels.line.config import LineConfig
from channelgate.channels.line.inbound import Envelope, decode, parse_event
from channelgate.channels.line.render import (
    BUTTONS_MAX,
    QUICK_REPLIES_MAX,
    TEXT_MAX,
    LineRenderer,
    calls,
    summarise,
)
from channelgate.messages import UniversalMessage

SIGNATURE_HEADER = "X-Line-Signature"
#: Seconds after the user's message during which a reply uses the reply token (LINE: about a minute).
REPLY_WITHIN = 50.0
_RETRY_KEYS = uuid.UUID("5c1b6f0e-3d2a-4f4e-9a49-6c696e650000")  # the namespace of render's retry keys


def signature(body: bytes, channel_secret: str) -> str:
    """The ``X-Line-Signature`` LINE sends for ``body``."""
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def retry_key(ctx: RenderContext, index: int, messages: list[dict[str, Any]]) -> str:
    """The push's ``X-Line-Retry-Key``: a UUID derived from what is rendered, so ``render`` stays pure and
    every try of the stored outbound sends the same key."""
    seed = f"{ctx.user_id}\n{ctx.reply_to}\n{ctx.now!r}\n{index}\n".encode() + orjson.dumps(messages)
    return str(uuid.uuid5(_RETRY_KEYS, seed.hex()))


class LineChannel(Channel[LineConfig]):
    name: ClassVar[str] = "line"
    title: ClassVar[str] = "LINE"
    Config: ClassVar[type[ChannelConfig]] = LineConfig
    # 2,000 requests/s per channel for the send endpoints (LINE, Messaging API reference, "Rate limits")
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=TEXT_MAX,
        quick_replies_max=QUICK_REPLIES_MAX,
        buttons_max=BUTTONS_MAX,
        send_rate=2000.0,
        send_concurrency=128,
    )

    def __init__(self, config: LineConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.api = LineAPI(
            ctx.http,
            ctx.health,
            config.api_base_url,
            config.data_url(),
            config.channel_access_token.get_secret_value(),
        )

    # --- inbound ---

    def authenticate(self, request: WebhookRequest) -> Verified:
        """The signature over the raw body, in constant time; then the envelope, decoded once."""
        given = request.header(SIGNATURE_HEADER)
        if not given:
            raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
        expected = signature(request.body, self.config.channel_secret.get_secret_value())
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise Forbidden(f"{SIGNATURE_HEADER} does not match the body")
        return Verified(request.body, content=decode(request.body))

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        envelope = verified.content
        if not isinstance(envelope, Envelope):
            raise TypeError("a LINE webhook is parsed after authenticate, which decodes its envelope")
        return each(request, envelope.events, lambda e: parse_event(e, envelope.destination), "events")

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        groups = calls(LineRenderer(ctx).render_all(messages))
        fresh = ctx.last_inbound_at is not None and ctx.now - ctx.last_inbound_at < REPLY_WITHIN
        outbounds: list[Outbound] = []
        for index, group in enumerate(groups):
            body: dict[str, Any] = {
                "to": ctx.user_id,
                "messages": group,
                "retryKey": retry_key(ctx, index, group),
            }
            if index == 0 and ctx.reply_to and fresh and ctx.last_inbound_at is not None:
                body["replyToken"] = ctx.reply_to
                body["replyBy"] = ctx.last_inbound_at + REPLY_WITHIN
            outbounds.append(Outbound(body=body, summary=summarise(group)))
        return outbounds

    async def send(self, outbound: Outbound) -> SendResult:
        body = outbound.body
        to, messages, key = body.get("to"), body.get("messages"), body.get("retryKey")
        if not isinstance(to, str) or not isinstance(messages, list) or not messages:
            raise Rejected("not a LINE send: the payload needs 'to' and 1-5 'messages'")
        token = body.get("replyToken")
        reply_by = body.get("replyBy")
        if (
            isinstance(token, str)
            and isinstance(reply_by, int | float)
            and time.time() < reply_by
            and await self._first_reply_try(token)
        ):
            try:
                return await self.api.reply(token, messages)
            except Throttled:
                await self.ctx.kv.set(self._reply_key(token), "", ttl=1)  # LINE did not process it
                raise
            except Rejected as exc:
                if not is_invalid_reply_token(exc):
                    raise
                self.ctx.log.info("line %s: %s; pushing instead", self.ctx.label, exc.reason)
        return await self.api.push(to, messages, key if isinstance(key, str) else None)

    def _reply_key(self, token: str) -> str:
        return f"reply-tried:{hashlib.sha256(token.encode()).hexdigest()[:32]}"

    async def _first_reply_try(self, token: str) -> bool:
        """True once per reply token: a reply has no idempotency key, so after one try (which LINE may have
        accepted before the answer was lost) the outbound is pushed with its retry key instead. Keyed on the
        token, which is single-use anyway: a second outbound answering the same event pushes at once."""
        key = self._reply_key(token)
        if await self.ctx.kv.get(key):
            return False
        await self.ctx.kv.set(key, "1", ttl=REPLY_WITHIN * 4)
        return True

    async def user_profile(self, user_id: str) -> UserProfile | None:
        """A user's display name and language (``/v2/bot/profile``), a group's name (its summary)."""
        if user_id.startswith("U"):
            data = await self._get(f"/v2/bot/profile/{user_id}")
            name, locale = data.get("displayName"), data.get("language")
            return UserProfile(name=str(name) if name else None, locale=str(locale) if locale else None)
        if user_id.startswith("C"):
            name = (await self._get(f"/v2/bot/group/{user_id}/summary")).get("groupName")
            return UserProfile(name=str(name) if name else None)
        return None

    async def _get(self, path: str) -> dict[str, Any]:
        try:
            data = await self.api.call("GET", path)
        except Rejected as exc:  # not a friend, blocked, or no consent: no profile, not a failure
            self.ctx.log.info("line %s: no profile: %s", self.ctx.label, exc.reason)
            return {}
        return data if isinstance(data, dict) else {}

    async def download_media(self, media_id: str) -> MediaContent:
        """What a user sent, from LINE's content host (stickers have no content to fetch)."""
        if not media_id.isdigit():
            raise Rejected(f"LINE serves content for message ids only, not {media_id[:80]!r}")
        response = await self.api.content(media_id)
        mime = response.headers.get("content-type", "").split(";")[0].strip() or "application/octet-stream"
        return MediaContent(response.content, mime)

    # --- setup, step 3 ---

    async def connect(self) -> Connection:
        """Set the callback URL as the channel's webhook endpoint, then have LINE test it and report."""
        url = self.ctx.callback_url
        await self.api.call("PUT", "/v2/bot/channel/webhook/endpoint", {"endpoint": url})
        info = await self.api.call("GET", "/v2/bot/channel/webhook/endpoint")
        test = await self.api.call("POST", "/v2/bot/channel/webhook/test", {"endpoint": url})
        return describe(url, info if isinstance(info, dict) else {}, test if isinstance(test, dict) else {})


def describe(url: str, info: dict[str, Any], test: dict[str, Any]) -> Connection:
    """LINE's answers in a sentence or two for the operator."""
    lines = [f"LINE webhook URL set to {info.get('endpoint') or url}"]
    ok = test.get("success") is True
    if ok:
        lines.append(f"LINE's webhook test reached it (HTTP {test.get('statusCode')})")
    else:
        lines.append(
            f"LINE's webhook test failed: {test.get('reason') or 'no reason given'} "
            f"(status {test.get('statusCode')}, {test.get('detail') or 'no detail'})"
        )
    if info.get("active") is False:
        ok = False
        lines.append(
            'webhooks are off: turn on "Use webhook" in the LINE Developers Console (your channel → '
            "Messaging API → Webhook settings)"
        )
    return Connection(ok, "\n".join(lines))
