"""Parley: the example channel of docs/write-your-own-channel.md, for a made-up messaging platform.

Parley POSTs ``{"events": [...]}`` signed with ``X-Parley-Signature: sha256=<hex HMAC-SHA256(secret, raw
body)>``; each event has an ``id``, a ``from`` and a ``type``: ``message`` (``text``), ``button``
(``payload``, ``title``), ``delivered`` (``message_id``) or others. We send with ``POST /v1/messages`` and
a bearer token (answer ``{"id"}`` or ``{"error": {"code"}}``); ``PUT /v1/webhook`` sets our callback URL.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from channelgate.channels import inbound
from channelgate.channels.base import (
    BadRequest,
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Forbidden,
    InboundEvent,
    InboundMessage,
    InvalidCredentials,
    Outbound,
    Rejected,
    RenderContext,
    SendError,
    SendResult,
    StatusUpdate,
    Throttled,
    Unauthorized,
    Verified,
    WebhookRequest,
)
from channelgate.channels.http import Response
from channelgate.channels.platform_api import ErrorTable, PlatformAPI, json_or_none, parse_retry_after
from channelgate.channels.renderer import Renderer
from channelgate.channels.rendering import reply_actions, split_text
from channelgate.messages import Action, Media, UniversalMessage
from channelgate.turns import EventInput, Input, PostbackInput, TextInput, User


# [config]
class ParleyConfig(ChannelConfig):
    """One Parley integration. ``rate_limit`` (send calls per second) is inherited: every channel has it."""

    secret: SecretStr  # signs the webhooks Parley sends us; SecretStr is masked in logs and the API
    token: SecretStr  # authorises our calls to Parley's API
    api_base_url: str = "https://api.parley.example"

    # where the token goes: through the admin API this setting may only name Parley's own host
    endpoint_hosts = {"api_base_url": ("api.parley.example",)}


# [inbound]
def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_event(item: Any) -> list[InboundEvent]:
    """One Parley event; the ``inbound`` accessors raise SkipEvent (that event is skipped and logged)."""
    event = inbound.mapping(item, "event")
    event_id = inbound.ident(event.get("id"), "id")
    sender = inbound.mapping(event.get("from"), "from")
    name = inbound.string(sender.get("name"), "name")
    user = User(id=inbound.ident(sender.get("id"), "from.id"), name=name)
    kind = inbound.string(event.get("type"), "type") or "message"
    if kind == "delivered":
        message_id = inbound.ident(event.get("message_id"), "message_id")
        return [StatusUpdate(f"status:{event_id}", user.id, "delivered", message_id, raw=event)]
    input_: Input
    if kind == "message":
        input_ = TextInput(text=inbound.string(event.get("text"), "text") or "")
    elif kind == "button":
        payload = inbound.string(event.get("payload"), "payload") or ""
        input_ = PostbackInput(payload=payload, title=inbound.string(event.get("title"), "title"))
    else:  # never dropped silently: an unknown event reaches the bot with all its fields
        input_ = EventInput(name=kind, data=event)
    return [InboundMessage(event_id, user, input_, raw=event, platform_message_id=event_id)]


# [render]
class ParleyRenderer(Renderer[dict[str, Any]]):
    """Parley shows text, images and up to 5 reply buttons; every other type degrades to text (noted)."""

    channel = "parley"
    product = "Parley"

    def texts(self, text: str) -> list[dict[str, Any]]:
        return [{"text": part} for part in split_text(text, ParleyChannel.limits.text_max)]

    def passthrough(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload  # a bot's ChannelSpecific {"parley": {...}}: sent as Parley takes it

    def media(self, message: Media) -> list[dict[str, Any]]:
        if message.kind != "image":
            return super().media(message)  # a link, noted
        return [{"image": message.url, "caption": message.caption}]

    def quick_replies(self, bodies: list[dict[str, Any]], actions: Sequence[Action]) -> list[dict[str, Any]]:
        replies = reply_actions(actions)
        if len(replies) != len(actions) or len(replies) > ParleyChannel.limits.quick_replies_max:
            return super().quick_replies(bodies, actions)  # a numbered text menu, noted
        buttons = [{"title": a.title, "payload": a.payload} for a in replies]
        return [*bodies[:-1], {**bodies[-1], "buttons": buttons}]


# [api]
ERRORS = ErrorTable(
    {
        Throttled: {"rate_limited"},
        InvalidCredentials: {"token_invalid", "token_expired"},
        Rejected: {"user_blocked", "bad_message"},
    }
)


def check(response: Response) -> SendError | None:
    """None for a success, else the typed error: the code decides, the HTTP status when it is unknown."""
    if response.is_success:
        return None
    body = json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    code = code if isinstance(code, str) else None
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    reason = f"Parley answered {response.status_code} ({code or 'no error code'})"
    return ERRORS.error(reason, codes=[code], status=response.status_code, retry_after=retry_after)


# [channel]
class ParleyChannel(Channel[ParleyConfig]):
    name = "parley"  # the entry point's name; it is in the callback URL /webhooks/parley/{label}
    title = "Parley"
    Config = ParleyConfig
    limits = ChannelLimits(text_max=2000, quick_replies_max=5, send_rate=20.0)
    setup_fields = ("secret",)  # shown next to the callback URL: what the user pastes into Parley

    def __init__(self, config: ParleyConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.api = PlatformAPI(
            ctx.http,
            ctx.health,
            product="Parley",
            secrets=lambda: [config.token.get_secret_value()],
            credentials_hint="Paste a new API token from Parley's settings into the integration's token.",
        )
        self.auth = {"authorization": f"Bearer {config.token.get_secret_value()}"}

    @classmethod
    def check_config(cls, config: ParleyConfig) -> list[str]:
        if len(config.secret.get_secret_value()) < 16:
            raise ValueError("secret: Parley's webhook secrets have 16 characters or more")
        if config.api_base_url.startswith("http://"):
            return ["api_base_url is plain HTTP: the API token travels unencrypted"]
        return []

    async def start(self) -> None:
        """Tell Parley our callback URL, once for all replicas: the store's key-value table remembers it."""
        async with self.ctx.kv.lock("webhook-url"):
            if await self.ctx.kv.get("webhook-url") == self.ctx.callback_url:
                return
            url, body = f"{self.config.api_base_url}/v1/webhook", {"url": self.ctx.callback_url}
            try:
                await self.api.request("PUT", url, check=check, headers=self.auth, json=body)
            except SendError as exc:  # the gateway still starts; a refused token has turned health red
                self.ctx.log.warning("parley/%s: webhook not registered: %s", self.ctx.label, exc.reason)
                return
            await self.ctx.kv.set("webhook-url", self.ctx.callback_url)

    def authenticate(self, request: WebhookRequest) -> Verified:
        given = request.header("x-parley-signature")
        if not given:
            raise Unauthorized("X-Parley-Signature header is missing")
        expected = sign(self.config.secret.get_secret_value(), request.body)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Forbidden("X-Parley-Signature does not match the body")
        return Verified(request.body)

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        data = inbound.load_json(verified.body)  # BadRequest (400) when it is not JSON
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            raise BadRequest('expected {"events": [...]}')
        return inbound.each(request, data["events"], parse_event, "events")

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        bodies = ParleyRenderer(ctx).render_all(messages)  # pure: no I/O; degradations are in ctx.notes
        return [Outbound({"to": ctx.user_id, **b}, summary=b.get("text") or "image") for b in bodies]

    async def send(self, outbound: Outbound) -> SendResult:
        url = f"{self.config.api_base_url}/v1/messages"
        response = await self.api.request("POST", url, check=check, headers=self.auth, json=outbound.body)
        answer = json_or_none(response)
        return SendResult(platform_message_id=answer.get("id") if isinstance(answer, dict) else None)
