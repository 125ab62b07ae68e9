"""What the send endpoints share: finding the integration and the conversation, rendering with the channel's
window rules, and idempotency keys.

Rendering happens before anything is stored, with ``reply_to=None`` (a proactive send), so a message the
platform would refuse (a closed 24-hour window without a tag or template) is answered 422 with the
channel's reason instead of being queued to fail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

from channelgate.api.errors import ApiError, check_json
from channelgate.api.policy import check_public_media
from channelgate.channels.base import Channel
from channelgate.messages import MessageOptions, UniversalMessage, dump_messages
from channelgate.store import NewOutbound
from channelgate.store.admin import Idempotency
from channelgate.store.statements import Row

if TYPE_CHECKING:
    from channelgate.gateway import Gateway


@dataclass(frozen=True, slots=True)
class Target:
    """Who a proactive message goes to. ``conversation`` is None on first contact (it is created when the
    messages are queued, not before: a refused send leaves nothing behind)."""

    channel: Channel[Any]
    user_id: str
    locale: str
    conversation: Row | None


def live_channel(gateway: Gateway, channel: str, label: str) -> Channel[Any]:
    found = gateway.channel(channel, label)
    if found is None:
        if channel not in gateway.registry.channels:
            raise ApiError(404, f"unknown channel {channel!r}")
        raise ApiError(404, f"no integration {channel}/{label}")
    return found


def default_locale(gateway: Gateway, channel: Channel[Any]) -> str:
    integration = gateway.integrations.get((channel.name, channel.ctx.label))
    return integration.locale if integration is not None else channel.ctx.locale


async def conversation_or_404(gateway: Gateway, conversation_id: str) -> Row:
    row = await gateway.store.conversations.get(conversation_id)
    if row is None:
        raise ApiError(404, f"no conversation {conversation_id}")
    return row


async def target_for(
    gateway: Gateway,
    *,
    channel: str | None,
    label: str | None,
    user_id: str | None,
    conversation_id: str | None,
) -> Target:
    if conversation_id is not None:
        row = await conversation_or_404(gateway, conversation_id)
        if (channel and channel != row["channel"]) or (label and label != row["label"]):
            raise ApiError(
                400,
                f"conversation {conversation_id} is on {row['channel']}/{row['label']}, "
                f"not {channel}/{label}",
            )
        live = live_channel(gateway, row["channel"], row["label"])
        return Target(live, row["user_id"], row["locale"], row)
    assert channel is not None and label is not None and user_id is not None
    live = live_channel(gateway, channel, label)
    found = await gateway.store.conversations.find(channel, label, user_id)
    locale = found["locale"] if found is not None else default_locale(gateway, live)
    return Target(live, user_id, locale, found)


def render(
    gateway: Gateway, target: Target, messages: list[UniversalMessage], options: dict[str, Any]
) -> list[NewOutbound]:
    """The platform payloads, or 422 with the channel's reason when it would refuse them."""
    check_public_media(dump_messages(messages))
    conversation = target.conversation
    if conversation is None:
        # First contact: no row yet, so the window rules see a user who has never written.
        conversation = {"id": "(new)", "user_id": target.user_id, "last_inbound_at": None}
    items = gateway.turns.render(
        target.channel,
        conversation,
        messages,
        target.locale,
        reply_to=None,
        options=MessageOptions(**{k: v for k, v in options.items() if v is not None}),
    )
    refused = [item.reason or "refused" for item in items if item.status == "failed"]
    if refused:
        raise ApiError(422, f"{target.channel.name} refuses this send: " + "; ".join(refused))
    if not items:
        raise ApiError(
            422,
            f"nothing to send on {target.channel.name}: every message is channel-specific without an entry "
            "for this channel or a fallback",
        )
    return items


def body_hash(model: BaseModel, exclude: Any = None, **context: Any) -> str:
    """A digest of the request (without its idempotency key, plus ``context`` such as a path parameter):
    a retry must match it to get the first answer."""
    data = {"body": model.model_dump(mode="json", exclude=exclude), **context}
    check_json(data)
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def idempotency(kind: str, header: str | None, in_body: str | None, digest: str) -> Idempotency | None:
    """The request's idempotency key (the ``Idempotency-Key`` header or the body's field), namespaced."""
    if header is not None and in_body is not None and header != in_body:
        raise ApiError(400, "the Idempotency-Key header and the body's idempotency_key differ")
    key = in_body if in_body is not None else header
    if key is None:
        return None
    if not (1 <= len(key) <= 255) or not key.isascii() or not key.isprintable() or " " in key:
        raise ApiError(400, "an idempotency key is 1-255 printable ASCII characters without spaces")
    return Idempotency(f"{kind}:{key}", digest)
