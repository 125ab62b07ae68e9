"""From universal messages to outbox items for one conversation: what a turn's reply and an API send share.

Rendering is pure (the channel decides, nothing is sent): the turn runner stores the items with its turn,
the admin API's sends store them directly. A render the channel refuses (a closed window, a type it cannot
send) or that raises becomes a ``failed`` item with the reason, so it is recorded, never dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from channelgate.channels.base import Channel, Outbound, RenderContext, SendRefused
from channelgate.i18n import gettext_for
from channelgate.messages import ChannelSpecific, UniversalMessage
from channelgate.store import NewOutbound
from channelgate.store.statements import Row

log = logging.getLogger("channelgate.pipeline")


def resolve_channel_specific(
    messages: list[UniversalMessage], channel: str, notes: list[str]
) -> list[UniversalMessage]:
    """Keep channel-specific messages that have an entry for this channel, replace the others by their
    fallback, or skip them with a note: channels then only render their own raw payloads."""
    out: list[UniversalMessage] = []
    for message in messages:
        while isinstance(message, ChannelSpecific) and channel not in message.payloads:
            if message.fallback is None:
                notes.append(f"channel-specific message has no {channel!r} entry and no fallback: skipped")
                break
            message = message.fallback
        else:
            out.append(message)
    return out


def render_outbound(
    channel: Channel[Any],
    conversation: Row,
    messages: list[UniversalMessage],
    locale: str,
    *,
    reply_to: str | None,
    options: Any = None,
) -> list[NewOutbound]:
    """Render messages for a conversation; a refused or failed render is recorded, never dropped."""
    ctx = RenderContext(
        user_id=conversation["user_id"],
        locale=locale,
        now=time.time(),
        reply_to=reply_to,
        last_inbound_at=conversation["last_inbound_at"],
        options=options,
        gettext=gettext_for(locale),
    )
    messages = resolve_channel_specific(messages, channel.name, ctx.notes)
    try:
        outbounds = channel.render(messages, ctx) if messages else []
        items = [NewOutbound(o) for o in outbounds]
    except SendRefused as exc:
        items = [NewOutbound(Outbound(body={}, summary="refused"), status="failed", reason=exc.reason)]
        log.warning("conversation %s: send refused: %s", conversation["id"], exc.reason)
    except Exception as exc:
        log.exception("conversation %s: %s could not render the reply", conversation["id"], channel.name)
        items = [
            NewOutbound(
                Outbound(body={}, summary="render error"),
                status="failed",
                reason=f"render error: {type(exc).__name__}: {exc}",
            )
        ]
    for note in ctx.notes:
        log.info("conversation %s: %s: %s", conversation["id"], channel.name, note)
    return items


__all__ = ["render_outbound", "resolve_channel_specific"]
