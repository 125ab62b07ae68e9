"""The web chat: a page and an embeddable widget that talk to the gateway over a WebSocket.

Unlike the platform channels, nothing calls the webhook URL: the browser's inputs arrive on the socket
(``/webchat/{label}/ws``, see routes.py) and are accepted exactly like webhook events, with the browser's
uuid of each input as the dedup key, so a resend after a reconnect is answered once. Outbound messages
are the universal message JSON itself (render.py); the browser renders them (static/widget.js). ``send``
writes to the user's live sockets in this process and waits for the browser's receipt; when the user is
away it raises :class:`Offline`, the delivery worker keeps the message, and the user's next ``hello``
nudges it out. With several replicas, the one whose worker found the user away asks the others, and the
one holding the user's socket sends it at once (connection_routes.py).

Identity: the server issues a random user id with an HMAC token binding it, and the browser keeps both in
localStorage. A token is checked in constant time; a missing or wrong one gets a fresh identity, so one
browser cannot speak as another user id. The HMAC key is the ``secret`` setting, or one generated at the
first start and kept in the store's key-value table, so it survives restarts and is shared by replicas.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from pydantic import Field, SecretStr, field_validator

from channelgate.channels.base import (
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Forbidden,
    GatewayAPI,
    InboundEvent,
    Offline,
    Outbound,
    Rejected,
    RenderContext,
    SendResult,
    Verified,
    WebhookRequest,
)
from channelgate.channels.webchat.hub import Hub, NotConnected
from channelgate.channels.webchat.limits import Limiter, WebChatLimits
from channelgate.channels.webchat.render import TEXT_MAX, WebChatRenderer
from channelgate.messages import UniversalMessage

#: seconds a browser has to confirm a message before the send counts as failed (and is retried)
RECEIPT_TIMEOUT = 10.0
#: the retry hint for a user who is away; the delivery worker caps it at its max_backoff, and the user's
#: next hello makes the message due at once, so a long wait costs nothing when they come back
OFFLINE_RETRY_AFTER = 300.0
#: the kv key under which the generated token secret is kept (the name, not a secret)
SECRET_KV_KEY = "user-token-secret"  # noqa: S105
MIN_SECRET_LENGTH = 32
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

_USER_ID = re.compile(r"^wc-[A-Za-z0-9_-]{16,64}$")
_ORIGIN = re.compile(r"^https?://[^/?#\s]+$")


class WebChatConfig(ChannelConfig):
    """Settings of one web chat integration (``channel: webchat`` in the config file)."""

    title: str = Field(default="Chat", min_length=1, max_length=100, description="shown in the chat's header")
    allowed_origins: list[str] = Field(
        default_factory=list,
        description=(
            "sites that may embed the chat, as origins (https://shop.example.com), or '*' for any; the "
            "gateway's own origin is always allowed, and an empty list also allows http://localhost"
        ),
    )
    welcome: str | None = Field(
        default=None, max_length=2000, description="a first message shown in the chat"
    )
    secret: SecretStr | None = Field(
        default=None, description="HMAC key of the user tokens; generated and stored when not set"
    )
    limits: WebChatLimits = Field(
        default_factory=WebChatLimits,
        description="sockets and inputs per second, per client address and for the whole integration",
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        out = []
        for origin in value:
            origin = origin.strip().rstrip("/").lower()
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port], e.g. https://example.com"
                )
            out.append(origin)
        return out


class WebChatChannel(Channel[WebChatConfig]):
    name: ClassVar[str] = "webchat"
    title: ClassVar[str] = "Web chat"
    Config: ClassVar[type[ChannelConfig]] = WebChatConfig
    #: a browser shows anything; sends are local socket writes, so the ceilings are high
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=TEXT_MAX, quick_replies_max=50, buttons_max=50, send_rate=1000.0, send_concurrency=512
    )

    def __init__(self, config: WebChatConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.hub = Hub()
        self.limiter = Limiter(config.limits, ctx.share)
        self._secret: bytes | None = None

    @classmethod
    def check_config(cls, config: WebChatConfig) -> list[str]:
        if config.secret is not None and len(config.secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"secret must be at least {MIN_SECRET_LENGTH} characters (or leave it out)")
        if "*" in config.allowed_origins:
            return ["allowed_origins has '*': any web site may embed this chat and talk to the bot"]
        return []

    @classmethod
    def routes(cls, gateway: GatewayAPI) -> list[Any]:
        from channelgate.channels.webchat.routes import build_routes

        return build_routes(gateway)

    async def start(self) -> None:
        if self.config.secret is not None:
            self._secret = self.config.secret.get_secret_value().encode()
            return
        async with self.ctx.kv.lock(SECRET_KV_KEY):
            stored = await self.ctx.kv.get(SECRET_KV_KEY)
            if stored is None:
                stored = secrets.token_urlsafe(32)
                await self.ctx.kv.set(SECRET_KV_KEY, stored)
        self._secret = stored.encode()

    async def stop(self) -> None:
        await self.hub.close_all(1001, "the gateway is shutting down")

    # --- identity ---

    def new_identity(self) -> tuple[str, str]:
        user_id = "wc-" + secrets.token_urlsafe(16)
        return user_id, self.token_for(user_id)

    def token_for(self, user_id: str) -> str:
        if self._secret is None:
            raise RuntimeError("the web chat is not started: no token secret yet")
        message = f"webchat-user:{self.ctx.label}:{user_id}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(self, user_id: str | None, token: str | None) -> bool:
        """Whether ``token`` was issued by this integration for ``user_id`` (constant-time)."""
        if not user_id or not token or not _USER_ID.match(user_id):
            return False
        return hmac.compare_digest(self.token_for(user_id).encode(), token.encode())

    # --- who may open the socket ---

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """The WebSocket Origin policy (docs/channels/webchat.md, "Embedding and origins").

        No Origin header means no browser (browsers always send one on WebSocket handshakes), and a
        non-browser client could claim any origin anyway: the check protects where the widget runs, the
        tokens protect who is who.
        """
        if origin is None:
            return True
        origin = origin.strip().rstrip("/").lower()
        allowed = self.config.allowed_origins
        if "*" in allowed or origin in allowed:
            return True
        if origin == "null" or not _ORIGIN.match(origin):
            return False
        parts = urlsplit(origin)
        if host and parts.netloc == host.strip().lower():
            return True
        own = urlsplit(self.ctx.public_url.lower())
        if parts.scheme == own.scheme and parts.netloc == own.netloc:
            return True
        return not allowed and parts.hostname in LOOPBACK_HOSTS

    # --- webhooks: none ---

    def authenticate(self, request: WebhookRequest) -> Verified:
        raise Forbidden(
            f"the web chat takes input only over its WebSocket (/webchat/{self.ctx.label}/ws); "
            "nothing is accepted at this URL"
        )

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        """Never reached: ``authenticate`` refuses every webhook (input arrives on the socket)."""
        return []

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        """One payload per message: ``{"id", "user_id", "message"}`` with the universal JSON as it is.

        The id is what the browser dedups on. It is a hash of the message, its place in the reply, the
        user, the input answered and the render time, so render stays pure (the same call gives the same
        payloads) while two renders never share an id.
        """
        renderer = WebChatRenderer(ctx)
        out: list[Outbound] = []
        for index, message in enumerate(messages):
            for data in renderer.render(message):
                seed = orjson.dumps(
                    [ctx.user_id, ctx.reply_to, ctx.now, index, data], option=orjson.OPT_SORT_KEYS
                )
                body = {"id": hashlib.sha256(seed).hexdigest()[:32], "user_id": ctx.user_id, "message": data}
                out.append(Outbound(body=body, summary=_summary(data)))
        return out

    def holds_connection(self, user_id: str) -> bool:
        """The user has a socket open on this process: a peer replica's send that found them away is
        handed here at once (connection_routes.py)."""
        return self.hub.connected(user_id)

    async def send(self, outbound: Outbound) -> SendResult:
        body = outbound.body
        user_id, message_id, message = body.get("user_id"), body.get("id"), body.get("message")
        if not isinstance(user_id, str) or not isinstance(message_id, str) or not isinstance(message, dict):
            raise Rejected("not a web chat payload (needs id, user_id and message)")
        frame = {"type": "message", "id": message_id, "message": message}
        try:
            await self.hub.deliver(user_id, message_id, frame, RECEIPT_TIMEOUT)
        except NotConnected as exc:
            raise Offline(str(exc), retry_after=OFFLINE_RETRY_AFTER) from None
        return SendResult(platform_message_id=message_id)


def _summary(data: dict[str, Any]) -> str:
    kind = str(data.get("type"))
    detail = data.get("text") or data.get("title") or data.get("name") or data.get("url") or ""
    if kind == "carousel":
        detail = f"{len(data.get('cards') or [])} cards"
    return f"{kind}: {detail}"[:80] if detail else kind
