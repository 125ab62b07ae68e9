"""``/conversations``: find conversations, read their transcripts, and start proactive turns.

A transcript interleaves what the user sent (the inbox: inputs as the bot got them) with what the gateway
sent (the outbox: payloads with their delivery status and failure reason), in time order, paged.

``DELETE /conversations/{id}`` answers a privacy request: the conversation and every row about it go,
queued and dead messages included (nothing of the user is kept or sent afterwards). While a turn of it runs
the answer is 409 with Retry-After: the turn would write its reply back after the delete.

``POST /conversations/{id}/events`` hands the bot an event input (``order_shipped`` with data) as a turn of
its own. The turn has no user message to answer, so its reply is rendered as a proactive message: the
channel's window rules apply, and a refused reply shows in the transcript as failed with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from sqlalchemy.engine import RowMapping

from channelgate.api.deps import GatewayDep, errors, public_status
from channelgate.api.errors import ApiError
from channelgate.api.models import (
    CHANNEL_PATTERN,
    ID_PATTERN,
    IDEMPOTENCY_PATTERN,
    LABEL_PATTERN,
    USER_PATTERN,
    ConversationDeleted,
    ConversationDetail,
    ConversationPage,
    EventAccepted,
    EventRequest,
)
from channelgate.api.paging import decode_cursor, encode_cursor
from channelgate.api.sending import body_hash, conversation_or_404, idempotency, live_channel
from channelgate.gateway import Gateway
from channelgate.store import admin, retention
from channelgate.store.statements import Row
from channelgate.turns import EventInput

router = APIRouter(tags=["conversations"])

ConversationPath = Annotated[str, Path(pattern=ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(min_length=1, max_length=512)]


def conversation_out(row: Row, handled_by: str = "bot") -> dict[str, Any]:
    return {
        "id": row["id"],
        "channel": row["channel"],
        "label": row["label"],
        "user_id": row["user_id"],
        "user_name": row["user_name"],
        "locale": row["locale"],
        "last_inbound_at": row["last_inbound_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "handled_by": handled_by,
    }


def transcript_entry(rank: int, row: RowMapping) -> dict[str, Any]:
    if rank == 0:
        return {
            "direction": "in",
            "id": int(row["id"]),
            "at": row["created_at"],
            "kind": row["kind"],
            "status": row["status"],
            "reason": row["error"],
            "input": row["input"],
            "platform_message_id": row["platform_message_id"],
        }
    return {
        "direction": "out",
        "id": int(row["id"]),
        "at": row["created_at"],
        "kind": row["kind"],
        "status": public_status(row["status"]),
        "reason": row["reason"],
        "summary": row["summary"],
        "body": row["body"],
        "request_id": row["request_id"],
        "platform_message_id": row["platform_message_id"],
    }


@router.get("/conversations", response_model=ConversationPage, operation_id="list_conversations")
async def list_conversations(
    gateway: GatewayDep,
    channel: Annotated[str | None, Query(pattern=CHANNEL_PATTERN)] = None,
    label: Annotated[str | None, Query(pattern=LABEL_PATTERN)] = None,
    user_id: Annotated[str | None, Query(pattern=USER_PATTERN)] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=255, description="Part of a user id or name")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Newest first; filter by channel, label and user, or search user ids and names with ``q``."""
    after = decode_cursor(cursor, float, str)
    rows = await admin.list_conversations(
        gateway.store,
        channel=channel,
        label=label,
        user_id=user_id,
        query=q,
        limit=limit,
        after=(after[0], after[1]) if after else None,
    )
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if len(rows) == limit else None
    holders = await gateway.store.handoffs.holders([r["id"] for r in rows])
    items = [conversation_out(r, holders.get(r["id"], "bot")) for r in rows]
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationDetail,
    responses=errors(404),
    operation_id="get_conversation",
)
async def get_conversation(
    conversation_id: ConversationPath, gateway: GatewayDep, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    """The conversation and a page of its transcript, oldest first."""
    row = await conversation_or_404(gateway, conversation_id)
    after = decode_cursor(cursor, float, int, int)
    position = (after[0], after[1], after[2]) if after else None
    entries = await admin.transcript(gateway.store, conversation_id, limit=limit, after=position)
    next_cursor = None
    if len(entries) == limit:
        rank, last = entries[-1]
        next_cursor = encode_cursor(last["created_at"], rank, int(last["id"]))
    return {
        **conversation_out(row, await gateway.store.handoffs.holder(conversation_id)),
        "transcript": [transcript_entry(rank, r) for rank, r in entries],
        "next_cursor": next_cursor,
    }


@router.delete(
    "/conversations/{conversation_id}",
    response_model=ConversationDeleted,
    responses=errors(404, 409),
    operation_id="delete_conversation",
)
async def delete_conversation(conversation_id: ConversationPath, gateway: GatewayDep) -> dict[str, Any]:
    """Delete a conversation and everything stored about it (a privacy request): its transcript, its queued,
    held and dead messages, its broadcast recipient rows. Retention does not apply: it is gone at once."""
    try:
        deleted = await retention.forget_conversation(gateway.store, conversation_id)
    except retention.ConversationBusy:
        raise ApiError(
            409, "a turn of this conversation is running; try again in a few seconds", {"Retry-After": "5"}
        ) from None
    if deleted is None:
        raise ApiError(404, f"no conversation {conversation_id}")
    return {"id": conversation_id, "deleted": deleted}


@router.post(
    "/conversations/{conversation_id}/events",
    status_code=202,
    response_model=EventAccepted,
    responses=errors(404, 409, 503),
    operation_id="send_event",
)
async def send_event(
    conversation_id: ConversationPath,
    body: EventRequest,
    gateway: GatewayDep,
    idempotency_key: Annotated[str | None, Header(pattern=IDEMPOTENCY_PATTERN)] = None,
) -> dict[str, Any]:
    """Give the bot an event (e.g. ``order_shipped`` with data); its reply goes out as a proactive message."""
    digest = body_hash(body, {"idempotency_key"}, conversation_id=conversation_id)
    idem = idempotency("events", idempotency_key, body.idempotency_key, digest)
    try:
        previous = await admin.remembered(gateway.store, idem)
    except admin.KeyReused:
        raise ApiError(409, "this idempotency key was used with a different request") from None
    if previous is not None:
        return previous
    row = await conversation_or_404(gateway, conversation_id)
    channel = live_channel(gateway, row["channel"], row["label"])
    _room_for_a_turn(gateway)
    event = EventInput(name=body.name, data=body.data)
    answer, new = await admin.add_event(
        gateway.store,
        conversation_id=conversation_id,
        channel=channel.name,
        label=channel.ctx.label,
        input_json=event.model_dump(mode="json", exclude_none=True),
        idem=idem,
    )
    if new:
        gateway.turns.accepted([conversation_id])
    return answer


def _room_for_a_turn(gateway: Gateway) -> None:
    if gateway.turns.full:
        raise ApiError(503, "too many turns are waiting for the bot; try again later", {"Retry-After": "5"})
