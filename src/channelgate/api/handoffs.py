"""Hand-off endpoints: take a conversation for a person, give it back to the bot, and answer as an agent.

``POST /conversations/{id}/handoff`` (optional ``note`` for the agents) hands it over as an operator: the
bot stops getting the user's messages, and the integration's desk (Chatwoot) opens a conversation with
the recent transcript. ``POST /conversations/{id}/handback`` gives it back (the bot gets
``handoff_ended`` with ``reason: released``). ``POST /conversations/{id}/agent-messages`` sends an
agent's messages to the user, rendered like the bot's with the channel's window rules (a refused send is
422 with the channel's reason; Messenger and Instagram replies outside 24 hours carry the ``HUMAN_AGENT``
tag). Both changes answer 200 with who holds the conversation now; repeating one changes nothing. An agent
send with an idempotency key (header or body) is remembered with what it queued, in the same transaction:
the same key and body replay the first answer, the same key with another body is 409.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path

from channelgate.api.deps import GatewayDep, errors
from channelgate.api.errors import ApiError
from channelgate.api.models import (
    ID_PATTERN,
    IDEMPOTENCY_PATTERN,
    AgentMessagesAccepted,
    AgentMessagesRequest,
    HandoffRequestBody,
    HandoffState,
)
from channelgate.api.policy import check_public_media
from channelgate.api.sending import body_hash, conversation_or_404, idempotency, live_channel
from channelgate.gateway import Gateway
from channelgate.messages import dump_messages
from channelgate.store import admin

router = APIRouter(tags=["handoff"])

ConversationPath = Annotated[str, Path(pattern=ID_PATTERN)]


@router.post(
    "/conversations/{conversation_id}/handoff",
    response_model=HandoffState,
    responses=errors(404),
    operation_id="hand_off",
)
async def hand_off(
    conversation_id: ConversationPath, gateway: GatewayDep, body: HandoffRequestBody | None = None
) -> dict[str, Any]:
    """Hand the conversation to a person (an operator's decision)."""
    row = await conversation_or_404(gateway, conversation_id)
    live_channel(gateway, row["channel"], row["label"])
    note = body.note if body is not None else None
    changed = await gateway.handoffs.take(row, reason="operator", note=note)
    return {"id": conversation_id, "handled_by": "agent", "changed": changed}


@router.post(
    "/conversations/{conversation_id}/handback",
    response_model=HandoffState,
    responses=errors(404),
    operation_id="hand_back",
)
async def hand_back(conversation_id: ConversationPath, gateway: GatewayDep) -> dict[str, Any]:
    """Give the conversation back to the bot; it gets ``handoff_ended`` (``reason: released``)."""
    await conversation_or_404(gateway, conversation_id)
    changed = await gateway.handoffs.hand_back(conversation_id, "released")
    return {"id": conversation_id, "handled_by": "bot", "changed": changed}


@router.post(
    "/conversations/{conversation_id}/agent-messages",
    status_code=202,
    response_model=AgentMessagesAccepted,
    responses=errors(404, 409, 422),
    operation_id="send_agent_messages",
)
async def send_agent_messages(
    conversation_id: ConversationPath,
    body: AgentMessagesRequest,
    gateway: GatewayDep,
    idempotency_key: Annotated[str | None, Header(pattern=IDEMPOTENCY_PATTERN)] = None,
) -> dict[str, Any]:
    """Send an agent's messages to the user of a conversation a person holds."""
    digest = body_hash(body, {"idempotency_key"}, conversation_id=conversation_id)
    # per conversation, as the request id below: one key may be used once in each conversation
    idem = idempotency(f"agent-messages:{conversation_id}", idempotency_key, body.idempotency_key, digest)
    previous = await _replayed(gateway, idem)
    if previous is not None:
        return previous
    row = await conversation_or_404(gateway, conversation_id)
    channel = live_channel(gateway, row["channel"], row["label"])
    if await gateway.store.handoffs.holder(conversation_id) != "agent":
        raise ApiError(409, "the bot holds this conversation: hand it off first (POST .../handoff)")
    key = body.idempotency_key or idempotency_key
    scope = f"{conversation_id}:{key}" if key is not None else uuid.uuid4().hex
    request_id = "agent:" + hashlib.sha256(scope.encode()).hexdigest()[:40]
    messages = list(body.messages)
    check_public_media(dump_messages(messages))
    items = gateway.handoffs.render_agent(channel, row, messages)
    refused = [item.reason or "refused" for item in items if item.status == "failed"]
    if refused:
        raise ApiError(422, f"{channel.name} refuses this send: " + "; ".join(refused))
    if not items:
        raise ApiError(422, f"nothing to send on {channel.name}")
    try:
        ids = await gateway.handoffs.agent_reply(row, messages, request_id=request_id, items=items, idem=idem)
    except admin.Taken:  # the same key, committed first by a concurrent request
        ids = None
    if ids is None:  # queued before: the first answer (409 when it came with another body)
        previous = await _replayed(gateway, idem)
        if previous is not None:
            return previous
        ids = await gateway.store.handoffs.request_rows(request_id)
    return {"conversation_id": conversation_id, "request_id": request_id, "message_ids": ids}


async def _replayed(gateway: Gateway, idem: admin.Idempotency | None) -> dict[str, Any] | None:
    """The answer remembered under the key, or None; 409 when the key came with another request."""
    try:
        return await admin.remembered(gateway.store, idem)
    except admin.KeyReused:
        raise ApiError(
            409, "this idempotency key was used with a different request in this conversation"
        ) from None
