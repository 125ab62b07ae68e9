"""Rendered WhatsApp contents → Cloud API calls, under the 24-hour customer service window.

Outside the window only templates can be sent. A message with ``options.template_fallback`` is replaced by
that template; without one it is refused before sending. Inside the window the fallback template rides
along as ``Outbound.fallback``, sent if the API still answers 131047. Before a reply the user's message is
marked as read with a typing indicator (best effort). With ``options.quote`` the first payload of a message
quotes the user's message (``context.message_id``).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from channelgate.channels.base import Outbound, RenderContext, SendRefused
from channelgate.channels.meta.render import DAY
from channelgate.channels.meta.webhook import obj
from channelgate.channels.whatsapp.render import Content, WhatsAppRenderer, template_content
from channelgate.messages import ChannelSpecific, Template, UniversalMessage, dump_message

_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9.]+$")
_ENVELOPE_KEYS = frozenset({"messaging_product", "to", "recipient"})


def render(messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
    renderer = WhatsAppRenderer(ctx)
    in_window = ctx.within(DAY)
    outbounds: list[Outbound] = []
    fallbacks_used: set[bytes] = set()
    for index, message in enumerate(messages):
        fallback: Template | None = ctx.option(message, "template_fallback")
        key = _template_key(fallback)
        contents = _window_contents(renderer, message, in_window)
        if contents is None:
            if fallback is None:
                raise SendRefused(
                    f"message {index + 1}: WhatsApp's 24-hour customer service window has closed "
                    f"({_since(ctx)}); only templates can be sent (set options.template_fallback)"
                )
            if key in fallbacks_used:
                ctx.note(f"message {index + 1}: window closed, its fallback template was already sent")
                continue
            fallbacks_used.add(key)
            ctx.note(f"message {index + 1}: window closed, sent template {fallback.name!r} instead")
            contents, fallback = [template_content(fallback)], None
        fallback_body = None
        if fallback is not None and key not in fallbacks_used:
            fallbacks_used.add(key)
            fallback_body = envelope(template_content(fallback), ctx.user_id)
        quote = ctx.reply_to if ctx.option(message, "quote") else None
        for i, content in enumerate(contents):
            body = envelope(content, ctx.user_id)
            if i == 0 and quote:
                body["context"] = {"message_id": quote}
            outbounds.append(
                Outbound(body=body, fallback=fallback_body if i == 0 else None, summary=summarise(content))
            )
    if outbounds and ctx.reply_to is not None:
        outbounds.insert(0, mark_read(ctx.reply_to))
    return outbounds


def _window_contents(
    renderer: WhatsAppRenderer, message: UniversalMessage, in_window: bool
) -> list[Content] | None:
    """The message's contents, or None when the window is closed and they are not all templates."""
    if not in_window and not isinstance(message, Template | ChannelSpecific):
        return None  # not even rendered: its degradation notes would describe nothing that is sent
    contents = renderer.render(message)
    if not in_window and any(c.get("type") != "template" for c in contents):
        return None
    return contents


def envelope(content: Content, user_id: str) -> dict[str, Any]:
    """The call's body: the content addressed to the user (by phone number, else by BSUID)."""
    base: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    base["recipient" if _BSUID.fullmatch(user_id) else "to"] = user_id
    return {**base, **{k: v for k, v in content.items() if k not in _ENVELOPE_KEYS}}


def mark_read(message_id: str) -> Outbound:
    body = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id,
        "typing_indicator": {"type": "text"},
    }
    return Outbound(body=body, kind="action", best_effort=True, summary="mark read, typing")


def _template_key(template: Template | None) -> bytes:
    """Identical fallback templates are sent (or attached) once per render."""
    if template is None:
        return b""
    return orjson.dumps(dump_message(template), option=orjson.OPT_SORT_KEYS)


def _since(ctx: RenderContext) -> str:
    if ctx.last_inbound_at is None:
        return "the user has not written yet"
    return f"the user last wrote {(ctx.now - ctx.last_inbound_at) / 3600:.0f} hours ago"


def summarise(content: Content) -> str:
    kind = str(content.get("type"))
    body = obj(content.get(kind))
    if kind == "text":
        text = str(body.get("body", ""))
        return text if len(text) <= 60 else text[:59] + "…"
    if kind == "interactive":
        return (
            f"[interactive {body.get('type')}] {str((body.get('body') or {}).get('text', ''))[:40]}".strip()
        )
    if kind == "template":
        return f"[template {body.get('name')}]"
    return f"[{kind}]"
