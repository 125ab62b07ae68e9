"""``/messages``: proactive sends (notifications, purchase updates) and their delivery status.

``POST /messages`` renders the messages for the conversation at once, with the channel's window rules, and
queues the payloads in the durable outbox; the delivery worker sends them with the integration's rate
limit, retries and dead letters. 202 means "durably queued", not "delivered": poll
``GET /messages/{id}`` (queued → sent → delivered → read, or failed with the reason).

With an idempotency key (``options.idempotency_key`` or the ``Idempotency-Key`` header), a retry of the
same request gets the first answer and queues nothing; the same key with a different body is a 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path

from channelgate.api.deps import GatewayDep, errors, message_status
from channelgate.api.errors import ApiError
from channelgate.api.models import IDEMPOTENCY_PATTERN, MessageStatus, SendAccepted, SendRequest
from channelgate.api.sending import body_hash, idempotency, render, target_for
from channelgate.store import admin

router = APIRouter(tags=["messages"])

MessageId = Annotated[int, Path(ge=1, le=2**62)]


@router.post(
    "/messages",
    status_code=202,
    response_model=SendAccepted,
    responses=errors(404, 409, 422),
    operation_id="send_messages",
)
async def send_messages(
    body: SendRequest,
    gateway: GatewayDep,
    idempotency_key: Annotated[str | None, Header(pattern=IDEMPOTENCY_PATTERN)] = None,
) -> dict[str, Any]:
    """Queue messages for one user (by platform user id) or one conversation."""
    digest = body_hash(body, {"options": {"idempotency_key"}})
    idem = idempotency("messages", idempotency_key, body.options.idempotency_key, digest)
    try:
        previous = await admin.remembered(gateway.store, idem)
    except admin.KeyReused:
        raise ApiError(409, "this idempotency key was used with a different request") from None
    if previous is not None:
        return previous
    target = await target_for(
        gateway,
        channel=body.channel,
        label=body.label,
        user_id=body.user_id,
        conversation_id=body.conversation_id,
    )
    items = render(gateway, target, list(body.messages), body.options.render_options())
    answer = await admin.enqueue_messages(
        gateway.store,
        channel=target.channel.name,
        label=target.channel.ctx.label,
        conversation_id=target.conversation["id"] if target.conversation is not None else None,
        user_id=target.user_id,
        locale=target.locale,
        items=items,
        idem=idem,
    )
    gateway.wake_delivery()
    return answer


@router.get(
    "/messages/{message_id}", response_model=MessageStatus, responses=errors(404), operation_id="get_message"
)
async def get_message(message_id: MessageId, gateway: GatewayDep) -> MessageStatus:
    """Where a message is: queued, sent, delivered, read, or failed with the reason."""
    row = await admin.outbox_row(gateway.store, message_id)
    if row is None:
        raise ApiError(404, f"no message {message_id}")
    return message_status(row)
