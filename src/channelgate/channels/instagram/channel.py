"""Instagram messaging, through an Instagram professional account and Meta's Graph API: the channel wiring
its parts.

Handshake (``hub.*``) and ``X-Hub-Signature-256`` over the raw body: :class:`MetaChannel`, shared with
Messenger and WhatsApp. Inbound: :mod:`.inbound`. Outbound: :mod:`.render` (Messenger's renderer and
envelope with Instagram's limits), sent through :mod:`.api`. :meth:`InstagramChannel.connect` is setup step
3: the account's webhook subscription by API, and the App Dashboard steps Meta offers no API for.
"""

from __future__ import annotations

from typing import ClassVar

from channelgate.channels.base import (
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Connection,
    InboundEvent,
    Outbound,
    RenderContext,
    SendResult,
    UserProfile,
    Verified,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.instagram import render
from channelgate.channels.instagram.api import INSTAGRAM_ERRORS, SUBSCRIBED_FIELDS, InstagramAPI
from channelgate.channels.instagram.config import InstagramConfig
from channelgate.channels.instagram.inbound import InstagramInbound
from channelgate.channels.messenger.render import BUTTONS_MAX, QUICK_REPLIES_MAX
from channelgate.channels.meta.channel import MetaChannel
from channelgate.channels.meta.subscriptions import connection, dashboard_steps
from channelgate.channels.platform_api import ErrorTable
from channelgate.messages import UniversalMessage


class InstagramChannel(MetaChannel[InstagramConfig]):
    name: ClassVar[str] = "instagram"
    title: ClassVar[str] = "Instagram"
    Config: ClassVar[type[ChannelConfig]] = InstagramConfig
    # Meta's rate-limiting page: 300 Send API calls/s per Instagram account for text, links, reactions and
    # stickers (audio and video are lower); the send window opens only as far as needed
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=render.TEXT_MAX,
        quick_replies_max=QUICK_REPLIES_MAX,
        buttons_max=BUTTONS_MAX,
        send_rate=300.0,
        send_concurrency=128,
    )
    setup_fields: ClassVar[tuple[str, ...]] = ("verify_token",)
    webhook_object: ClassVar[str] = "instagram"
    product: ClassVar[str] = "Instagram"
    token_field: ClassVar[str] = "access_token"  # noqa: S105 - a config field's name, not a secret
    graph_errors: ClassVar[ErrorTable] = INSTAGRAM_ERRORS

    def __init__(self, config: InstagramConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.api = InstagramAPI(self.graph, config.graph_node, ctx.log, ctx.label)
        self.inbound = InstagramInbound(config.instagram_account_id, ctx.log, ctx.label)

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        return self.inbound.parse(request, self.webhook_entries(verified))

    def ack(self, request: WebhookRequest, events: list[InboundEvent]) -> WebhookResponse:
        return WebhookResponse(200, b"EVENT_RECEIVED")

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        return render.render(messages, ctx)

    async def send(self, outbound: Outbound) -> SendResult:
        return await self.api.send(outbound)

    async def user_profile(self, user_id: str) -> UserProfile | None:
        return await self.api.user_profile(user_id)

    async def connect(self) -> Connection:
        """Subscribe the account's webhooks to this app and read the subscription back; the callback URL
        and verify token are the App Dashboard's (channels/meta/subscriptions.py). Raises the SendError
        Graph's answer means."""
        subscribed = await self.api.subscribe()
        head = f"Instagram account {self.config.instagram_account_id} subscribed to {', '.join(subscribed)}"
        return connection(head, SUBSCRIBED_FIELDS, subscribed, self.setup_steps())

    def setup_steps(self) -> str:
        token = self.config.verify_token.get_secret_value()
        return dashboard_steps("Instagram", self.ctx.callback_url, token, SUBSCRIBED_FIELDS)
