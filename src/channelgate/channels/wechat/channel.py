"""WeChat Official Account (公众号): the channel, wiring the parts each in its own module.

* ``config.py``: the account's settings (AppID, AppSecret, Token, EncodingAESKey, encryption mode).
* ``callback.py``: signatures, the clock check and decryption, once per callback (``authenticate``).
* ``inbound.py``: the authentic XML as inputs (``parse``).
* ``render.py``: universal messages as customer-service API bodies, on the toolkit's ``Renderer``.
* ``passive.py``: the first reply as the XML answer of the callback itself.
* ``api.py``: the API through the toolkit's ``PlatformAPI`` and ``SharedToken``.
* ``crypto.py``, ``xml.py``: WeChat's cipher and its XML, both ways.

What ``authenticate`` opened travels on: in ``Verified.content`` to ``check_replay`` and ``parse``, and in
the request's notes to ``passive_reply``, so a safe-mode callback is decrypted once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from channelgate.channels.base import (
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Forbidden,
    InboundEvent,
    MediaContent,
    Outbound,
    RenderContext,
    SendResult,
    Verified,
    WebhookError,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.wechat.api import WeChatAPI
from channelgate.channels.wechat.callback import Callback, CallbackOpener
from channelgate.channels.wechat.config import WeChatConfig
from channelgate.channels.wechat.inbound import parse_fields
from channelgate.channels.wechat.passive import TRANSFER_CUSTOMER_SERVICE, PassiveReplies
from channelgate.channels.wechat.render import MENU_ITEMS_MAX, TEXT_MAX_BYTES, render
from channelgate.messages import UniversalMessage

#: where ``authenticate`` leaves the opened callback in ``WebhookRequest.notes`` for ``passive_reply``
_NOTE = "wechat.callback"


class WeChatChannel(Channel[WeChatConfig]):
    name: ClassVar[str] = "wechat"
    title: ClassVar[str] = "WeChat Official Account"
    Config: ClassVar[type[ChannelConfig]] = WeChatConfig
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=TEXT_MAX_BYTES, quick_replies_max=MENU_ITEMS_MAX, buttons_max=MENU_ITEMS_MAX
    )
    setup_fields: ClassVar[tuple[str, ...]] = ("token",)

    def __init__(self, config: WeChatConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        if ctx.replay is None:
            raise ValueError("the WeChat channel needs the store's replay cache (ChannelContext.replay)")
        self.passive_reply_budget = config.passive_reply_budget
        #: the clock used for timestamps and token expiry; tests pin it for fixed vectors
        self.clock: Callable[[], float] = time.time
        now = lambda: self.clock()  # noqa: E731 - the parts follow a clock replaced after construction
        self.callbacks = CallbackOpener(config, now)
        self.replies = PassiveReplies(self.callbacks.crypto, now)
        self.api = WeChatAPI(
            config, http=ctx.http, kv=ctx.kv, health=ctx.health, clock=now, log=ctx.log, label=ctx.label
        )

    @classmethod
    def check_config(cls, config: WeChatConfig) -> list[str]:
        if config.encryption_mode == "plaintext":
            return [
                "plaintext mode: WeChat's signature covers only the timestamp and nonce, not the message, so "
                "message bodies are not authenticated; set an encoding_aes_key and use safe mode"
            ]
        return []

    # --- inbound ---

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        return self.callbacks.handshake(request)

    def authenticate(self, request: WebhookRequest) -> Verified:
        callback = self.callbacks.open(request)
        request.notes[_NOTE] = callback
        return Verified(request.body, callback)

    async def check_replay(self, request: WebhookRequest, verified: Verified) -> None:
        """Bind the callback's signed (timestamp, nonce) to the message it carried, in the store's replay
        cache shared by every replica. The same pair with another message is a forgery on a captured URL
        (403). The same pair with the same message is let through: it is what WeChat's own retry of an
        unanswered callback looks like, and the dedup answers it once (``success``, no second turn, no
        passive reply to whoever sent it). The message is compared by its authentic fields (decrypted in
        compatible and safe mode), so a re-encryption of the same message is still the same message."""
        assert self.ctx.replay is not None  # __init__ refuses a context without one
        callback = _callback(verified)
        fingerprint = callback.fingerprint()
        now = self.clock()
        first = await self.ctx.replay.first_seen(
            callback.timestamp,
            callback.nonce,
            fingerprint,
            now=now,
            until=max(now, callback.timestamp) + self.config.max_clock_skew + 1,
        )
        if first is not None and first != fingerprint:
            raise Forbidden(
                "this timestamp and nonce already came with another message: a replayed callback URL"
            )

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        callback = _callback(verified)
        fields = callback.fields
        expected = self.config.original_id
        if expected is not None and fields.get("ToUserName") != expected:
            # one callback URL per account: a message for another account was not sent here by WeChat
            raise Forbidden(
                f"the message is addressed to {fields.get('ToUserName', '')[:64]!r}, not this account "
                f"({expected})"
            )
        return parse_fields(fields, callback.tree, where=f"wechat/{self.ctx.label}")

    def ack(self, request: WebhookRequest, events: list[InboundEvent]) -> WebhookResponse:
        return WebhookResponse(200, b"success", media_type="text/plain")

    def passive_reply(
        self, request: WebhookRequest, outbounds: list[Outbound]
    ) -> tuple[WebhookResponse, int]:
        """The first payload as the callback's XML answer when WeChat allows it (text or one-article news),
        encrypted and signed when the callback was; otherwise ``success`` and nothing carried."""
        if not outbounds:
            return self.ack(request, []), 0
        callback = request.notes.get(_NOTE)
        if not isinstance(callback, Callback):  # not authenticated by us (a caller skipping the route)
            try:
                callback = self.callbacks.open(request)
            except WebhookError:
                return self.ack(request, []), 0
        answer = self.replies.answer(callback, outbounds[0])
        if answer is None:
            return self.ack(request, []), 0
        return answer, 1

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        return render(messages, ctx)

    async def send(self, outbound: Outbound) -> SendResult:
        if outbound.body.get("msgtype") == TRANSFER_CUSTOMER_SERVICE:
            # only a callback's answer can transfer (the request stopped waiting): the user's next message
            # is answered with the transfer while an agent holds the conversation
            self.ctx.log.info(
                "wechat %s: the transfer to customer service missed its callback; the next message "
                "carries it",
                self.ctx.label,
            )
            return SendResult(None)
        return await self.api.send(outbound)

    @staticmethod
    def transfer_to_customer_service(user_id: str) -> Outbound:
        """The passive reply that gives the user's message to WeChat's customer-service tools."""
        body = {"touser": user_id, "msgtype": TRANSFER_CUSTOMER_SERVICE}
        return Outbound(body=body, summary="transfer to customer service")

    async def download_media(self, media_id: str) -> MediaContent:
        return await self.api.download_media(media_id)


def _callback(verified: Verified) -> Callback:
    """What ``authenticate`` opened; anything else is a caller that skipped it (a bug, not bad input)."""
    if not isinstance(verified.content, Callback):
        raise TypeError("WeChatChannel.parse and check_replay take what WeChatChannel.authenticate returned")
    return verified.content
