"""Telegram, through the Bot API: a bot created with @BotFather, webhooks authenticated by their secret
token, replies sent with the bot's token.

Inbound: Telegram posts one update per request with ``X-Telegram-Bot-Api-Secret-Token`` set to the
``secret_token`` given to ``setWebhook``; it is compared in constant time before the body is read (missing:
401, wrong: 403). What each update becomes: ``inbound.py``. Outbound: ``render.py`` (rendering),
``api.py`` (the calls and their errors), ``pacing.py`` (per-chat flood limits), ``callbacks.py`` (button
payloads over 64 bytes). :meth:`TelegramChannel.connect` is step 3 of the setup done by API.
"""

from __future__ import annotations

import hmac
import mimetypes
from typing import Any, ClassVar

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
    Unauthorized,
    Verified,
    WebhookRequest,
)
from channelgate.channels.inbound import each
from channelgate.channels.telegram.api import TelegramAPI
from channelgate.channels.telegram.callbacks import TTL, store_key
from channelgate.channels.telegram.config import TelegramConfig
from channelgate.channels.telegram.inbound import Update, decode, parse_update
from channelgate.channels.telegram.pacing import chat_pacer
from channelgate.channels.telegram.render import TEXT_MAX, TelegramRenderer, summarise
from channelgate.messages import UniversalMessage

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name

#: The update types ``connect`` asks for: what a conversation is made of. Others can be added by calling
#: setWebhook by hand; whatever arrives is read (``inbound.py``).
ALLOWED_UPDATES = (
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "message_reaction",
)


class TelegramChannel(Channel[TelegramConfig]):
    name: ClassVar[str] = "telegram"
    title: ClassVar[str] = "Telegram"
    Config: ClassVar[type[ChannelConfig]] = TelegramConfig
    # ~30 messages/s per bot for bulk sends (Bot API FAQ); replies to users' messages are the same calls
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=TEXT_MAX, quick_replies_max=100, buttons_max=100, send_rate=30.0, send_concurrency=32
    )
    setup_fields: ClassVar[tuple[str, ...]] = ("secret_token",)

    def __init__(self, config: TelegramConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.api = TelegramAPI(ctx.http, ctx.health, config.api_base_url, config.bot_token.get_secret_value())
        self.pacer = chat_pacer()

    # --- inbound ---

    def authenticate(self, request: WebhookRequest) -> Verified:
        """The secret header, compared in constant time before anything is parsed; then the update."""
        given = request.header(SECRET_HEADER)
        if not given:
            raise Unauthorized(f"missing {SECRET_HEADER} header")
        expected = self.config.secret_token.get_secret_value()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Forbidden(f"{SECRET_HEADER} does not match the integration's secret_token")
        return Verified(request.body, content=decode(request.body))

    async def check_replay(self, request: WebhookRequest, verified: Verified) -> None:
        """Telegram has no replay window (a redelivery is the same ``update_id``, deduplicated by the store).
        This async step, the one before parsing, reads back a tapped button's mapped payload."""
        update = _update(verified)
        data = update.mapped_callback()
        if data is None:
            return
        payload = await self.ctx.kv.get(store_key(data))
        if payload is None:
            self.ctx.log.warning(
                "telegram %s: a button's payload %r is no longer in the store; the tap reaches the bot as a "
                "callback_query event",
                self.ctx.label,
                data,
            )
            return
        update.callbacks[data] = payload

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        return each(request, [_update(verified)], parse_update, "update")

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        outbounds = [
            Outbound(body=b, summary=summarise(b)) for b in TelegramRenderer(ctx).render_all(messages)
        ]
        if outbounds and ctx.reply_to is not None and ctx.reply_to.startswith("callback:"):
            # answered before the reply, so the spinner on the tapped button stops (Bot API: the client
            # shows a progress bar until answerCallbackQuery is called)
            answer = {"method": "answerCallbackQuery", "callback_query_id": ctx.reply_to.split(":", 1)[1]}
            outbounds.insert(
                0, Outbound(body=answer, kind="action", best_effort=True, summary="answerCallbackQuery")
            )
        return outbounds

    async def send(self, outbound: Outbound) -> SendResult:
        params = dict(outbound.body)
        method = str(params.pop("method"))
        mapped: dict[str, str] = params.pop("_callbacks", None) or {}
        for data, payload in mapped.items():  # before the keyboard can be tapped
            await self.ctx.kv.set(store_key(data), payload, ttl=TTL)
        if outbound.kind == "message" and "chat_id" in params:
            await self._pace(str(params["chat_id"]))
        result = await self.api.call(method, params)
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return SendResult(str(message_id) if message_id is not None else None)

    async def _pace(self, chat_id: str) -> None:
        await self.pacer.wait(chat_id, f"pacing chat {chat_id}: Telegram allows about one message a second")

    async def download_media(self, media_id: str) -> MediaContent:
        """A file the user sent: ``getFile`` gives its path, then the file URL (which carries the token, so
        the bot gets the bytes through the gateway, never the URL)."""
        info = await self.api.call("getFile", {"file_id": media_id})
        path = info.get("file_path") if isinstance(info, dict) else None
        if not isinstance(path, str) or not path:
            raise Rejected(
                f"Telegram gives no file_path for {media_id!r}: bots cannot download files over 20 MB"
            )
        response = await self.api.download(path)
        mime = response.headers.get("content-type", "").split(";")[0].strip()
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return MediaContent(response.content, mime)

    # --- setup, step 3 ---

    async def connect(self) -> Connection:
        """Set this integration's callback URL as the bot's webhook, with the secret token, then read back
        ``getWebhookInfo`` and say what Telegram reports (its last delivery error, if any). Raises the
        SendError Telegram's answer means (an invalid token, a URL Telegram refuses)."""
        url = self.ctx.callback_url
        await self.api.call(
            "setWebhook",
            {
                "url": url,
                "secret_token": self.config.secret_token.get_secret_value(),
                "allowed_updates": list(ALLOWED_UPDATES),
            },
        )
        info = await self.api.call("getWebhookInfo")
        info = info if isinstance(info, dict) else {}
        return Connection(info.get("url") == url, describe_webhook(info, url))


def describe_webhook(info: dict[str, Any], url: str) -> str:
    """``getWebhookInfo`` in a sentence or two for the operator."""
    lines = [f"Telegram webhook set to {info.get('url') or url}"]
    pending = info.get("pending_update_count")
    if isinstance(pending, int) and pending:
        lines.append(f"{pending} update(s) waiting to be delivered")
    error = info.get("last_error_message")
    if error:
        lines.append(
            f"Telegram's last delivery error: {error} (at {info.get('last_error_date', '?')}, Unix time)"
        )
    else:
        lines.append("no delivery error reported")
    return "; ".join(lines)


def _update(verified: Verified) -> Update:
    if not isinstance(verified.content, Update):
        raise TypeError("a Telegram webhook is parsed after authenticate, which decodes its update")
    return verified.content
