"""Operations: dead letters (deliveries that failed after their last try) and media for bots.

A dead letter is a message the platform kept failing (5xx, network, throttling) for the retry budget;
fix the cause, then replay it: it is queued again with a fresh budget, in its conversation's order
(``DeadLetters.replay``).

``GET /media/{channel}/{label}/{media_id}`` lets a bot fetch what a user sent when the platform only gives a
media id (WhatsApp, WeChat voice): the gateway downloads it with the integration's credentials and streams
it back, so platform tokens never reach the bot.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from channelgate.api.deps import GatewayDep, errors, message_status
from channelgate.api.errors import ApiError
from channelgate.api.models import CHANNEL_PATTERN, LABEL_PATTERN, DeadLetterPage, MessageStatus
from channelgate.api.paging import decode_cursor, encode_cursor
from channelgate.api.sending import live_channel
from channelgate.channels.base import InvalidCredentials, Rejected, SendError
from channelgate.store import admin

log = logging.getLogger("channelgate.api.operations")
router = APIRouter()

MessageId = Annotated[int, Path(ge=1, le=2**62)]


@router.get(
    "/dead-letters", response_model=DeadLetterPage, tags=["dead letters"], operation_id="list_dead_letters"
)
async def list_dead_letters(
    gateway: GatewayDep,
    channel: Annotated[str | None, Query(pattern=CHANNEL_PATTERN)] = None,
    label: Annotated[str | None, Query(pattern=LABEL_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
) -> dict[str, Any]:
    """Messages that failed after their last try, oldest first."""
    after = decode_cursor(cursor, int)
    rows = await admin.dead_letters(
        gateway.store, channel=channel, label=label, limit=limit, after_id=after[0] if after else None
    )
    items = [
        {
            "id": int(r["id"]),
            "conversation_id": r["conversation_id"],
            "channel": r["channel"],
            "label": r["label"],
            "request_id": r["request_id"],
            "summary": r["summary"],
            "reason": r["reason"],
            "attempts": int(r["attempts"]),
            "body": r["body"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
        }
        for r in rows
    ]
    return {"items": items, "next_cursor": encode_cursor(int(rows[-1]["id"])) if len(rows) == limit else None}


@router.post(
    "/dead-letters/{message_id}/replay",
    status_code=202,
    response_model=MessageStatus,
    responses=errors(404, 409),
    tags=["dead letters"],
    operation_id="replay_dead_letter",
)
async def replay_dead_letter(message_id: MessageId, gateway: GatewayDep) -> MessageStatus:
    """Queue a dead-lettered message again, with a fresh retry budget, in its conversation's order."""
    row = await admin.outbox_row(gateway.store, message_id)
    if row is None:
        raise ApiError(404, f"no message {message_id}")
    replayed = await admin.replay_dead(gateway.store, message_id)
    if replayed is None:
        raise ApiError(409, f"message {message_id} is not a dead letter (it is {row['status']})")
    # the answer is the message as the replay's own transaction left it: read any later, delivery (woken
    # here, or polling on its own) may already have sent it
    gateway.wake_delivery()
    return message_status(replayed)


@router.get(
    "/media/{channel}/{label}/{media_id}",
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The media, with the platform's content type",
        },
        **errors(404, 502),
    },
    tags=["media"],
    operation_id="get_media",
)
async def get_media(
    channel: Annotated[str, Path(pattern=CHANNEL_PATTERN)],
    label: Annotated[str, Path(pattern=LABEL_PATTERN)],
    media_id: Annotated[str, Path(min_length=1, max_length=512)],
    gateway: GatewayDep,
) -> Response:
    """Media a user sent, fetched with the integration's credentials (which the caller never sees)."""
    live = live_channel(gateway, channel, label)
    try:
        media = await live.download_media(media_id)
    except NotImplementedError:
        raise ApiError(404, f"{channel} does not serve media by id") from None
    except Rejected as exc:
        raise ApiError(404, f"media {media_id} is not available: {exc.reason}") from None
    except InvalidCredentials as exc:
        raise ApiError(502, f"{channel} refused the integration's credentials: {exc.reason}") from None
    except SendError as exc:
        raise ApiError(502, f"{channel} failed to give the media: {exc.reason}") from None
    except Exception as exc:
        log.warning("%s/%s: media %s could not be fetched: %s", channel, label, media_id, type(exc).__name__)
        raise ApiError(502, f"{channel} failed to give the media ({type(exc).__name__})") from None
    return Response(
        media.content,
        media_type=media.mime_type,
        # User-supplied bytes on our origin: never let a browser render them as a page.
        headers={
            "Content-Disposition": "attachment",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
