"""The RCS for Business channel (RBM, formerly RCS Business Messaging): Google's remaining business-messaging
API. It uses the same agent-message model as Google Business Messages, so the two share their rendering
(``channels.google``); a GBM integration moves here by changing ``channel: gbm`` to ``channel: rbm`` and the
config keys. Users are phone numbers (E.164).

* Webhook verification: a POST ``{"clientToken": ..., "secret": ...}``; answered ``200`` with the secret as
  plain text when the client token matches, else ``403`` (Google's webhook guide).
* Authenticity: ``X-Goog-Signature`` is the base64 HMAC-SHA512 of the **decoded** ``message.data`` bytes
  keyed with the client token (the published Node.js sample in the webhook guide decodes ``message.data``
  and signs those bytes). It is checked before the event is parsed: missing → 401, wrong or uncheckable →
  403. The decoded bytes travel to ``parse`` in ``Verified.content``: decoded once.
* Inbound: ``inbound.py``; outbound: ``render.py`` and ``api.py``.
"""

from __future__ import annotations

from typing import ClassVar

from channelgate.channels.base import (
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Forbidden,
    InboundEvent,
    Outbound,
    RenderContext,
    SendResult,
    Unauthorized,
    Verified,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.google.api import GoogleAPI
from channelgate.channels.google.credentials import check_key
from channelgate.channels.google.token import ServiceAccountToken
from channelgate.channels.google.webhook import SIGNATURE_HEADER, check_signature, verification_answer
from channelgate.channels.rbm import api, inbound
from channelgate.channels.rbm.config import PRODUCT, SCOPE, RBMConfig
from channelgate.channels.rbm.render import render_reply
from channelgate.messages import UniversalMessage


class RBMChannel(Channel[RBMConfig]):
    name: ClassVar[str] = "rbm"
    title: ClassVar[str] = "RCS for Business"
    Config: ClassVar[type[ChannelConfig]] = RBMConfig
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=3072, quick_replies_max=11, buttons_max=4, send_rate=20.0, send_concurrency=16
    )

    def __init__(self, config: RBMConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.tokens = ServiceAccountToken(ctx, config.service_account, SCOPE, product=PRODUCT)
        self.api = GoogleAPI(
            ctx, self.tokens, PRODUCT, secrets=lambda: [config.client_token.get_secret_value()]
        )

    @classmethod
    def check_config(cls, config: RBMConfig) -> list[str]:
        if not config.client_token.get_secret_value():
            raise ValueError("client_token is required to verify the webhook and its X-Goog-Signature")
        check_key(config.service_account, config.api_base_url)
        return []

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        return verification_answer(request, self.config.client_token)

    def authenticate(self, request: WebhookRequest) -> Verified:
        header = request.header(SIGNATURE_HEADER)
        if not header:
            raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
        data = inbound.push_data(request.body)
        if data is None:
            raise Forbidden(f"{SIGNATURE_HEADER} cannot be checked: the body carries no base64 message.data")
        check_signature(data, header, self.config.client_token)
        return Verified(request.body, content=data)

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        return inbound.parse(request, verified.content, self.config.agent_id)

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        return render_reply(messages, ctx)

    async def send(self, outbound: Outbound) -> SendResult:
        return await api.send(self.api, self.config.api_base_url, self.config.agent_id, outbound)
