"""Small pieces the routes share: the gateway of the request, documented error responses, status names."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.engine import RowMapping

from channelgate.api.errors import ErrorBody
from channelgate.api.models import MessageStatus
from channelgate.gateway import Gateway

_DESCRIPTIONS = {
    400: "The request is malformed; the reason names the field",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "The body is too large",
    422: "The channel's rules refuse this send (e.g. a closed messaging window)",
    502: "The platform failed",
    503: "Unavailable; try again later",
}

#: Outbox states as the API shows them: a message is queued until the platform has it.
PUBLIC_STATUS = {
    "held": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "dead": "failed",
}
RANK = {"queued": 1, "sent": 3, "delivered": 4, "read": 5}


def the_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(the_gateway)]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all ``{"error": reason}``."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS.get(code, "Error")} for code in codes}


def public_status(status: str) -> str:
    return PUBLIC_STATUS.get(status, "queued")


def message_status(row: RowMapping) -> MessageStatus:
    return MessageStatus(
        id=int(row["id"]),
        request_id=row["request_id"],
        conversation_id=row["conversation_id"],
        channel=row["channel"],
        label=row["label"],
        kind=row["kind"],
        status=public_status(row["status"]),
        reason=row["reason"],
        dead_letter=row["status"] == "dead",
        summary=row["summary"],
        attempts=int(row["attempts"]),
        platform_message_id=row["platform_message_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        sent_at=row["sent_at"],
    )
