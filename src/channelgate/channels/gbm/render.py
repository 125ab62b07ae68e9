"""Universal messages → Business Messages API calls: the shared agent-message renderer for GBM's dialect,
and what GBM wraps around each message (a UUID ``messageId``, the ``representative``, the ``fallback`` text
of a rich message, typing events around a reply, the 30-day window of a proactive send)."""

from __future__ import annotations

from typing import Any, ClassVar

from channelgate.channels.base import Outbound, RenderContext, SendRefused
from channelgate.channels.gbm.config import GBMConfig
from channelgate.channels.gbm.fallback import fallback_text, is_rich
from channelgate.channels.google.fields import new_id
from channelgate.channels.google.render import AgentRenderer, Rendered
from channelgate.messages import Media, UniversalMessage

#: agents may message a user up to 30 days after the user's last message
WINDOW_SECONDS = 30 * 24 * 3600.0


class GBMRenderer(AgentRenderer):
    """GBM's dialect: 13 chips, images only (wrapped as ``image.contentInfo``), alt text on card media."""

    channel: ClassVar[str] = "gbm"
    product: ClassVar[str] = "gbm"
    suggestions_max: ClassVar[int] = 13
    alt_text: ClassVar[bool] = True

    def media_content(self, info: dict[str, Any]) -> dict[str, Any]:
        return {"image": {"contentInfo": info}}

    def media(self, message: Media) -> list[Rendered]:
        if message.kind == "image":
            return super().media(message)
        self.ctx.note(f"{message.kind} cannot be sent on gbm (images only): sent as a link")
        label = message.caption or message.filename or ""
        return self.texts(f"{label}\n{message.url}" if label else message.url)


def render_reply(messages: list[UniversalMessage], ctx: RenderContext, config: GBMConfig) -> list[Outbound]:
    """The calls for one reply (or proactive send) to the conversation ``ctx.user_id``."""
    if ctx.proactive and not ctx.within(WINDOW_SECONDS):
        raise SendRefused(window_reason(ctx))
    representative = _representative(config)
    outbounds = [
        _message(ctx.user_id, body, representative, ctx) for body in GBMRenderer(ctx).render_all(messages)
    ]
    if outbounds and not ctx.proactive:
        outbounds = [
            _event(ctx.user_id, "TYPING_STARTED", representative),
            *outbounds,
            _event(ctx.user_id, "TYPING_STOPPED", representative),
        ]
    return outbounds


def window_reason(ctx: RenderContext) -> str:
    if ctx.last_inbound_at is None:
        return "Google Business Messages only lets an agent write to a user who has written first"
    days = (ctx.now - ctx.last_inbound_at) / 86400
    return (
        "Google Business Messages only allows messages within 30 days of the user's last message "
        f"(the last one was {days:.0f} days ago)"
    )


def _representative(config: GBMConfig) -> dict[str, Any]:
    representative: dict[str, Any] = {"representativeType": "BOT"}
    if config.representative_name:
        representative["displayName"] = config.representative_name
    if config.representative_avatar:
        representative["avatarImage"] = config.representative_avatar
    return representative


def _message(
    conversation_id: str, body: Rendered, representative: dict[str, Any], ctx: RenderContext
) -> Outbound:
    message: dict[str, Any] = {"messageId": new_id(), "representative": dict(representative)}
    message.update({k: v for k, v in body.content.items() if k not in ("messageId", "name")})
    if is_rich(message) and not message.get("fallback"):
        message["fallback"] = fallback_text(message, ctx.gettext)
    return Outbound(body={"conversationId": conversation_id, "message": message}, summary=body.summary)


def _event(conversation_id: str, event_type: str, representative: dict[str, Any]) -> Outbound:
    body = {
        "conversationId": conversation_id,
        "eventId": new_id(),
        "event": {"eventType": event_type, "representative": dict(representative)},
    }
    return Outbound(body=body, kind="action", best_effort=True, summary=event_type.lower().replace("_", " "))
