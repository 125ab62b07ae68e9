"""Facebook Messenger, through a Page and the Messenger Platform's Send API: the channel wiring its parts.

Handshake and signature: :class:`MetaChannel`. Inbound: :mod:`.inbound`. Outbound: :mod:`.render` (the
renderer) and :mod:`.envelope` (the 24-hour window and sender actions), sent through :mod:`.api`.
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
from channelgate.channels.messenger import envelope
from channelgate.channels.messenger.api import MessengerAPI
from channelgate.channels.messenger.config import MessengerConfig
from channelgate.channels.messenger.inbound import MessengerInbound
from channelgate.channels.messenger.render import BUTTONS_MAX, QUICK_REPLIES_MAX, TEXT_MAX
from channelgate.channels.meta.channel import MetaChannel
from channelgate.channels.meta.subscriptions import connection, dashboard_steps, subscribe_app
from channelgate.messages import UniversalMessage

#: the Page webhook fields the channel reads (docs/channels/messenger.md)
PAGE_FIELDS = (
    "messages",
    "messaging_postbacks",
    "messaging_optins",
    "messaging_referrals",
    "message_deliveries",
    "message_reads",
    # the handover protocol (docs/handoff.md): thread control events, and the messages of threads another
    # app holds (logged, never answered)
    "messaging_handovers",
    "standby",
)


class MessengerChannel(MetaChannel[MessengerConfig]):
    name: ClassVar[str] = "messenger"
    title: ClassVar[str] = "Facebook Messenger"
    Config: ClassVar[type[ChannelConfig]] = MessengerConfig
    # 300 send calls/s per Page for text (Messenger rate-limiting docs, 2026); 10/s for audio and video.
    # 300 calls/s at 100-300 ms each: up to ~90 in flight; the send window opens only as far as needed
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=TEXT_MAX,
        quick_replies_max=QUICK_REPLIES_MAX,
        buttons_max=BUTTONS_MAX,
        send_rate=300.0,
        send_concurrency=128,
    )
    setup_fields: ClassVar[tuple[str, ...]] = ("verify_token",)
    webhook_object: ClassVar[str] = "page"
    product: ClassVar[str] = "Messenger"
    token_field: ClassVar[str] = "page_access_token"  # noqa: S105 - a config field's name, not a secret

    def __init__(self, config: MessengerConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.api = MessengerAPI(self.graph, ctx.log, ctx.label)
        self.inbound = MessengerInbound(config.page_id, ctx.log, ctx.label)

    async def start(self) -> None:
        if self.config.page_id is None:
            self.ctx.log.info(
                "messenger %s: page_id is not set, so events for any Page of the app are accepted; set it to "
                "skip events addressed to another Page",
                self.ctx.label,
            )

    async def connect(self) -> Connection:
        """Subscribe the Page (``page_id``, else the Page of the token) to this app's webhooks and read it
        back; the callback URL and verify token are the App Dashboard's (channels/meta/subscriptions.py)."""
        node = self.config.page_id or "me"
        subscribed = await subscribe_app(self.graph, node, PAGE_FIELDS)
        head = f"Page {node} subscribed to {', '.join(subscribed)}"
        return connection(head, PAGE_FIELDS, subscribed, self.setup_steps())

    def setup_steps(self) -> str:
        token = self.config.verify_token.get_secret_value()
        return dashboard_steps("Page", self.ctx.callback_url, token, PAGE_FIELDS)

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        return self.inbound.parse(request, self.webhook_entries(verified))

    def ack(self, request: WebhookRequest, events: list[InboundEvent]) -> WebhookResponse:
        return WebhookResponse(200, b"EVENT_RECEIVED")

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        return envelope.render(messages, ctx)

    async def send(self, outbound: Outbound) -> SendResult:
        return await self.api.send(outbound)

    async def user_profile(self, user_id: str) -> UserProfile | None:
        return await self.api.user_profile(user_id)

    async def pass_thread_control(self, psid: str, target_app_id: str, metadata: str) -> None:
        """Hand the thread to another app (handover protocol; docs/handoff.md)."""
        await self.api.pass_thread_control(self.config.page_id or "me", psid, target_app_id, metadata)

    async def take_thread_control(self, psid: str, metadata: str) -> None:
        """Take the thread back from the app that holds it (handover protocol)."""
        await self.api.take_thread_control(self.config.page_id or "me", psid, metadata)
