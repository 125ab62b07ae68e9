"""``/broadcasts``: one message (usually a template) to many users, paced, observable and cancellable.

The audience is a recipient list (each with its own template parameters) or a filter over the
integration's conversations, resolved when the broadcast is created. The broadcast worker queues the
recipients a chunk at a time; progress and per-recipient results (queued, sent, delivered, read, failed
with the reason, cancelled) are read back at ``GET /broadcasts/{id}``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request

from channelgate.api.broadcaster import Broadcaster
from channelgate.api.deps import RANK, GatewayDep, errors, public_status
from channelgate.api.errors import ApiError
from channelgate.api.models import (
    ID_PATTERN,
    IDEMPOTENCY_PATTERN,
    BroadcastAccepted,
    BroadcastList,
    BroadcastOut,
    BroadcastRequest,
)
from channelgate.api.paging import decode_cursor, encode_cursor
from channelgate.api.policy import check_public_media
from channelgate.api.sending import body_hash, idempotency, live_channel
from channelgate.gateway import Gateway
from channelgate.messages import Template, dump_message
from channelgate.store import admin

router = APIRouter(tags=["broadcasts"])

BroadcastId = Annotated[str, Path(pattern=ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(min_length=1, max_length=512)]
#: A filter resolves to at most this many recipients; larger audiences are sent in several broadcasts.
FILTER_MAX = 100_000


def broadcaster_of(request: Request) -> Broadcaster:
    worker: Broadcaster = request.app.state.broadcaster
    return worker


def recipient_state(
    status: str, reason: str | None, message_ids: list[int], messages: dict[int, tuple[str, str | None]]
) -> tuple[str, str | None]:
    """A recipient's status as the API shows it: the worker's progress, then its messages' delivery."""
    if status in ("pending", "cancelled"):
        return status, reason
    if status == "refused":
        return "failed", reason
    states = [messages.get(i, ("queued", None)) for i in message_ids]
    for state, why in states:
        if state in ("failed", "dead"):
            return "failed", why
    if not states:
        return "queued", reason
    return min((public_status(s) for s, _ in states), key=lambda s: RANK.get(s, 1)), None


async def broadcast_out(gateway: Gateway, row: Any, limit: int, cursor: str | None) -> dict[str, Any]:
    store = gateway.store
    after = decode_cursor(cursor, int)
    messages = await admin.message_states(store, row["id"])
    counts = dict.fromkeys(("pending", "queued", "sent", "delivered", "read", "failed", "cancelled"), 0)
    for status, ids in await admin.broadcast_recipient_states(store, row["id"]):
        state, _ = recipient_state(status, None, ids, messages)
        counts[state] += 1
    page = await admin.recipients_page(store, row["id"], limit=limit, after_id=after[0] if after else None)
    recipients = []
    for r in page:
        ids = [int(i) for i in r["message_ids"] or []]
        state, reason = recipient_state(r["status"], r["reason"], ids, messages)
        recipients.append(
            {
                "id": int(r["id"]),
                "user_id": r["user_id"],
                "conversation_id": r["conversation_id"],
                "status": state,
                "reason": reason,
                "message_ids": ids,
            }
        )
    return {
        **summary(row),
        "message": row["message"],
        "counts": counts,
        "recipients": recipients,
        "next_cursor": encode_cursor(int(page[-1]["id"])) if len(page) == limit else None,
    }


def summary(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "channel": row["channel"],
        "label": row["label"],
        "status": row["status"],
        "total": row["total"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "finished_at": row["finished_at"],
    }


async def _audience(gateway: Gateway, body: BroadcastRequest) -> list[admin.Recipient]:
    if body.recipients is not None:
        unique: dict[str, admin.Recipient] = {}
        for r in body.recipients:  # a user listed twice (a CRM export...) gets the broadcast once
            unique.setdefault(r.user_id, admin.Recipient(r.user_id, r.parameters))
        return list(unique.values())
    assert body.filter is not None
    since = time.time() - body.filter.active_within if body.filter.active_within else None
    users = await admin.conversation_users(
        gateway.store,
        body.channel,
        body.label,
        locale=body.filter.locale,
        active_since=since,
        limit=FILTER_MAX + 1,
    )
    if len(users) > FILTER_MAX:
        raise ApiError(400, f"the filter matches more than {FILTER_MAX} conversations; narrow it")
    return [admin.Recipient(u) for u in users]


@router.post(
    "/broadcasts",
    status_code=202,
    response_model=BroadcastAccepted,
    responses=errors(404, 409),
    operation_id="create_broadcast",
)
async def create_broadcast(
    body: BroadcastRequest,
    request: Request,
    gateway: GatewayDep,
    idempotency_key: Annotated[str | None, Header(pattern=IDEMPOTENCY_PATTERN)] = None,
) -> dict[str, Any]:
    """Start a broadcast; it runs in the background at the integration's pace."""
    digest = body_hash(body, {"options": {"idempotency_key"}})
    idem = idempotency("broadcasts", idempotency_key, body.options.idempotency_key, digest)
    try:
        previous = await admin.remembered(gateway.store, idem)
    except admin.KeyReused:
        raise ApiError(409, "this idempotency key was used with a different request") from None
    if previous is not None:
        return previous
    live_channel(gateway, body.channel, body.label)
    check_public_media([dump_message(body.message)], where="message")
    personal = body.recipients is not None and any(r.parameters is not None for r in body.recipients)
    if personal and not isinstance(body.message, Template) and body.options.template_fallback is None:
        raise ApiError(400, "per-recipient parameters need a template message or options.template_fallback")
    recipients = await _audience(gateway, body)
    options = body.options.model_dump(mode="json", exclude={"idempotency_key"}, exclude_none=True)
    answer, new = await admin.create_broadcast(
        gateway.store,
        channel=body.channel,
        label=body.label,
        message=dump_message(body.message),
        options=options or None,
        recipients=recipients,
        idem=idem,
    )
    if new:
        broadcaster_of(request).kick(answer["id"])
    return answer


@router.get("/broadcasts", response_model=BroadcastList, operation_id="list_broadcasts")
async def list_broadcasts(gateway: GatewayDep, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    """Broadcasts, newest first."""
    before = decode_cursor(cursor, float, str)
    rows = await admin.list_broadcasts(
        gateway.store, limit=limit, before=(before[0], before[1]) if before else None
    )
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if len(rows) == limit else None
    return {"items": [summary(r) for r in rows], "next_cursor": next_cursor}


@router.get(
    "/broadcasts/{broadcast_id}",
    response_model=BroadcastOut,
    responses=errors(404),
    operation_id="get_broadcast",
)
async def get_broadcast(
    broadcast_id: BroadcastId, gateway: GatewayDep, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    """Progress counts and a page of per-recipient results."""
    row = await admin.broadcast(gateway.store, broadcast_id)
    if row is None:
        raise ApiError(404, f"no broadcast {broadcast_id}")
    return await broadcast_out(gateway, row, limit, cursor)


@router.post(
    "/broadcasts/{broadcast_id}/cancel",
    response_model=BroadcastOut,
    responses=errors(404, 409),
    operation_id="cancel_broadcast",
)
async def cancel_broadcast(broadcast_id: BroadcastId, gateway: GatewayDep) -> dict[str, Any]:
    """Stop a broadcast: recipients not yet handed to the platform are cancelled (idempotent)."""
    row = await admin.broadcast(gateway.store, broadcast_id)
    if row is None:
        raise ApiError(404, f"no broadcast {broadcast_id}")
    if row["status"] == "completed" and not await admin.backlog(gateway.store, broadcast_id):
        raise ApiError(
            409, f"broadcast {broadcast_id} has finished: every message was handed to the platform"
        )
    await admin.cancel_broadcast(gateway.store, broadcast_id)
    row = await admin.broadcast(gateway.store, broadcast_id)
    return await broadcast_out(gateway, row, 100, None)
