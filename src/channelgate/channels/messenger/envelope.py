"""Rendered Messenger messages → Send API calls: the recipient, the ``messaging_type`` the 24-hour window
asks for, and the read mark and typing indicator before a reply.

The 24-hour standard messaging window is counted from the user's last message: inside it replies are
``RESPONSE`` and proactive sends ``UPDATE``; outside it a send needs a message tag (``options.tag``) or it is
refused before it is sent, with the reason.
"""

from __future__ import annotations

from typing import Any

from channelgate.channels.base import Outbound, RenderContext, SendRefused
from channelgate.channels.messenger.render import MessengerRenderer
from channelgate.channels.meta.render import DAY
from channelgate.channels.meta.webhook import obj
from channelgate.messages import UniversalMessage

#: Message tags allowed outside the 24-hour window, with how long after the user's last message they work
#: (None: no limit of their own).
MESSAGE_TAGS: dict[str, float | None] = {
    "HUMAN_AGENT": 7 * DAY,
    "ACCOUNT_UPDATE": None,
    "CONFIRMED_EVENT_UPDATE": None,
    "POST_PURCHASE_UPDATE": None,
}


def render(
    messages: list[UniversalMessage],
    ctx: RenderContext,
    *,
    renderer_class: type[MessengerRenderer] = MessengerRenderer,
    tags: dict[str, float | None] = MESSAGE_TAGS,
) -> list[Outbound]:
    """One Send API call per rendered body, each in its message's envelope; a reply inside the window
    starts with the read mark and the typing indicator (best effort). Instagram's Send API is the same
    envelope: it passes its renderer and the one tag it allows."""
    renderer = renderer_class(ctx)
    outbounds: list[Outbound] = []
    for index, message in enumerate(messages):
        envelope = {
            "recipient": {"id": ctx.user_id},
            **messaging_type(message, ctx, index, tags=tags, product=renderer.product),
        }
        for body in renderer.render(message):
            outbounds.append(Outbound(body={**envelope, "message": body}, summary=summarise(body)))
    if outbounds and ctx.reply_to is not None and ctx.within(DAY):
        outbounds[:0] = [sender_action(ctx.user_id, "mark_seen"), sender_action(ctx.user_id, "typing_on")]
    return outbounds


def sender_action(user_id: str, action: str) -> Outbound:
    return Outbound(
        body={"recipient": {"id": user_id}, "sender_action": action},
        kind="action",
        best_effort=True,
        summary=action,
    )


def messaging_type(
    message: UniversalMessage,
    ctx: RenderContext,
    index: int,
    *,
    tags: dict[str, float | None] = MESSAGE_TAGS,
    product: str = "Messenger",
) -> dict[str, str]:
    """``messaging_type`` (and ``tag``) for a message, or SendRefused when the platform would refuse it."""
    if ctx.within(DAY):
        return {"messaging_type": "UPDATE" if ctx.proactive else "RESPONSE"}
    since = _since(ctx)
    tag = ctx.option(message, "tag")
    if not tag:
        raise SendRefused(
            f"message {index + 1}: {product}'s 24-hour window has closed ({since}); a message tag is needed "
            f"(options.tag: {', '.join(tags)})"
        )
    tag = str(tag).upper()
    if tag not in tags:
        raise SendRefused(
            f"message {index + 1}: unknown {product} message tag {tag!r} (allowed: {', '.join(tags)})"
        )
    limit = tags[tag]
    if limit is not None and not ctx.within(limit):
        raise SendRefused(
            f"message {index + 1}: the {tag} tag only works up to {int(limit // DAY)} days after the user's "
            f"last message ({since})"
        )
    return {"messaging_type": "MESSAGE_TAG", "tag": tag}


def _since(ctx: RenderContext) -> str:
    if ctx.last_inbound_at is None:
        return "the user has not written yet"
    hours = (ctx.now - ctx.last_inbound_at) / 3600
    return (
        f"the user last wrote {hours:.0f} hours ago"
        if hours < 72
        else f"the user last wrote {hours / 24:.0f} days ago"
    )


def summarise(message: dict[str, Any]) -> str:
    if "text" in message:
        text = str(message["text"])
        return text if len(text) <= 60 else text[:59] + "…"
    attachment = message.get("attachment")
    if isinstance(attachment, dict):
        payload = obj(attachment.get("payload"))
        if attachment.get("type") == "template":
            kind = payload.get("template_type")
            count = len(payload.get("elements") or payload.get("buttons") or [])
            return f"[{kind} template, {count} {'elements' if kind == 'generic' else 'buttons'}]"
        return f"[{attachment.get('type')}] {payload.get('url', '')}".strip()
    return "[message]"
