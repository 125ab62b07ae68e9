"""WhatsApp Business, through Meta's Cloud API: the channel wiring its parts.

Handshake and signature: :class:`MetaChannel`. Inbound: :mod:`.inbound`. Outbound: :mod:`.render` (the
renderer) and :mod:`.window` (the 24-hour window, template fallbacks, read marks), sent through :mod:`.api`.
"""

from __future__ import annotations

from typing import ClassVar

from channelgate.channels.base import (
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Connection,
    InboundEvent,
    MediaContent,
    Outbound,
    RenderContext,
    SendResult,
    Verified,
    WebhookRequest,
)
from channelgate.channels.meta.channel import MetaChannel
from channelgate.channels.meta.subscriptions import connection, dashboard_steps, subscribe_app
from channelgate.channels.whatsapp import window
from channelgate.channels.whatsapp.api import WhatsAppAPI
from channelgate.channels.whatsapp.config import WhatsAppConfig
from channelgate.channels.whatsapp.inbound import WhatsAppInbound
from channelgate.channels.whatsapp.render import BUTTONS_MAX, ROWS_MAX, TEXT_MAX
from channelgate.messages import UniversalMessage


class WhatsAppChannel(MetaChannel[WhatsAppConfig]):
    name: ClassVar[str] = "whatsapp"
    title: ClassVar[str] = "WhatsApp Business"
    Config: ClassVar[type[ChannelConfig]] = WhatsAppConfig
    # The Cloud API takes up to 1,000 messages/s per number on its higher tier; at 100-300 ms a call that
    # needs a few hundred calls in flight. The send window opens only as far as rate x latency asks.
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=TEXT_MAX,
        quick_replies_max=ROWS_MAX,
        buttons_max=BUTTONS_MAX,
        send_rate=80.0,
        send_concurrency=256,
    )
    setup_fields: ClassVar[tuple[str, ...]] = ("verify_token",)
    webhook_object: ClassVar[str] = "whatsapp_business_account"
    product: ClassVar[str] = "WhatsApp"
    token_field: ClassVar[str] = "access_token"  # noqa: S105 - a config field's name, not a secret

    def __init__(self, config: WhatsAppConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.api = WhatsAppAPI(self.graph, config.phone_number_id)
        self.inbound = WhatsAppInbound(config.phone_number_id, config.business_account_id, ctx.log, ctx.label)

    async def connect(self) -> Connection:
        """Subscribe this app to the WhatsApp Business Account's webhooks and read it back; the callback URL,
        verify token and the ``messages`` field are the App Dashboard's (channels/meta/subscriptions.py).
        Without ``business_account_id`` only the steps can be given."""
        account = self.config.business_account_id
        if account is None:
            return Connection(
                False, f"Set business_account_id to subscribe the app for you.\n{self.setup_steps()}"
            )
        await subscribe_app(self.graph, account)
        return connection(f"WhatsApp Business Account {account} subscribed", (), [], self.setup_steps())

    def setup_steps(self) -> str:
        token = self.config.verify_token.get_secret_value()
        return dashboard_steps("WhatsApp Business Account", self.ctx.callback_url, token, ("messages",))

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        return self.inbound.parse(request, self.webhook_entries(verified))

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        return window.render(messages, ctx)

    async def send(self, outbound: Outbound) -> SendResult:
        return await self.api.send(outbound)

    async def download_media(self, media_id: str) -> MediaContent:
        return await self.api.download_media(media_id)
