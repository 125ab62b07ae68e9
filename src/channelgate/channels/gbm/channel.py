"""The Google Business Messages channel: webhook → events, universal messages → API calls.

**Google shut GBM down on 31 July 2024** (no new conversations from 15 July 2024). The channel is built to
the documented protocol for businesses that still run the agent API, for migrations, and for tests; its
rendering is shared with RCS for Business (``rbm``), so moving is a config change (docs/channels/gbm.md).

* Webhook verification: Google POSTs ``{"clientToken": ..., "secret": ...}`` (JSON, or form-encoded);
  the gateway answers ``200`` with the secret only when the client token matches, else ``403``.
* Authenticity: ``X-Goog-Signature`` = base64 HMAC-SHA512 of the raw body keyed with the client token,
  checked before any parsing (missing → 401, wrong → 403).
* Inbound: ``inbound.py``; outbound: ``render.py`` (message ids fixed at render time, so a retry is
  idempotent: Google answers ``409 ALREADY_EXISTS`` for a message it already has) and ``api.py``.
* Agents may message a user for 30 days after the user's last message; proactive sends beyond that are
  refused before they are sent.
"""

from __future__ import annotations

from typing import ClassVar

from channelgate.channels.base import (
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    InboundEvent,
    Outbound,
    RenderContext,
    SendResult,
    Verified,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.gbm import api, inbound
from channelgate.channels.gbm.config import PRODUCT, SCOPE, GBMConfig
from channelgate.channels.gbm.render import render_reply
from channelgate.channels.google.api import GoogleAPI
from channelgate.channels.google.credentials import check_key
from channelgate.channels.google.token import ServiceAccountToken
from channelgate.channels.google.webhook import SIGNATURE_HEADER, check_signature, verification_answer
from channelgate.messages import UniversalMessage


class GBMChannel(Channel[GBMConfig]):
    name: ClassVar[str] = "gbm"
    title: ClassVar[str] = "Google Business Messages"
    Config: ClassVar[type[ChannelConfig]] = GBMConfig
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=3072, quick_replies_max=13, buttons_max=4, send_rate=20.0, send_concurrency=16
    )
    setup_fields: ClassVar[tuple[str, ...]] = ("client_token",)

    def __init__(self, config: GBMConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.tokens = ServiceAccountToken(ctx, config.service_account, SCOPE, product=PRODUCT)
        self.api = GoogleAPI(
            ctx, self.tokens, PRODUCT, secrets=lambda: [config.client_token.get_secret_value()]
        )

    @classmethod
    def check_config(cls, config: GBMConfig) -> list[str]:
        if not config.client_token.get_secret_value():
            raise ValueError("client_token is required to verify the webhook and its X-Goog-Signature")
        check_key(config.service_account, config.api_base_url)  # refuses a missing or broken key at start
        return ["Google Business Messages was shut down on 31 July 2024: only legacy agents still answer"]

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        return verification_answer(request, self.config.client_token)

    def authenticate(self, request: WebhookRequest) -> Verified:
        check_signature(request.body, request.header(SIGNATURE_HEADER), self.config.client_token)
        return Verified(request.body)

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        return inbound.parse(request, verified.body, self.config.agent_id)

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        return render_reply(messages, ctx, self.config)

    async def send(self, outbound: Outbound) -> SendResult:
        return await api.send(self.api, self.config.api_base_url, outbound)
