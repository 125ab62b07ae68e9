"""The rows the pipeline and the delivery worker read, typed by column so mypy checks every ``row["name"]``.

TypedDicts rather than dataclasses: callers keep reading ``row["column"]`` (what the hot statements return
is a plain dict, and a SQLAlchemy ``RowMapping`` becomes one with ``dict(row)``). ``tests/core/
test_store_rows.py`` holds each of them to its table's columns, so a column added to tables.py and
forgotten here fails a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict, cast

from channelgate.channels.base import OutboundKind

#: an outbox row goes to the platform (an ``Outbound``'s kind) or to a hand-off's agent desk
RowKind = OutboundKind | Literal["desk"]


#: who answers a conversation's user now: the bot, or a person (the hand-off, store/handoffs.py)
Holder = Literal["bot", "agent"]


class ConversationRow(TypedDict):
    """One user of one integration (table ``conversations``)."""

    id: str
    channel: str
    label: str
    user_id: str
    user_name: str | None
    locale: str
    profile_fetched: bool
    last_inbound_at: float | None
    last_platform_message_id: str | None
    lease_owner: str | None
    lease_until: float | None
    state: dict[str, Any] | None
    created_at: float
    updated_at: float


class TurnRow(TypedDict):
    """One accepted event: a turn to run, or a status receipt already applied (table ``inbox``)."""

    id: int
    channel: str
    label: str
    dedup_key: str
    conversation_id: str
    kind: str  # message | status | event
    input: dict[str, Any] | None
    raw: Any
    platform_message_id: str | None
    locale_hint: str | None
    status: str  # pending | done | failed
    attempts: int
    next_attempt_at: float
    error: str | None
    created_at: float
    done_at: float | None


class NewDelivery(TypedDict):
    """The values of a message to queue: an outbox row before the database gives it its id."""

    conversation_id: str
    channel: str
    label: str
    inbox_id: int | None
    request_id: str | None
    idempotency_key: str | None
    kind: RowKind
    best_effort: bool
    body: dict[str, Any]
    fallback: dict[str, Any] | None
    summary: str | None
    #: best-effort actions sent just before this message (outbox.fold), each {"kind", "body", "summary"}
    before: list[dict[str, Any]] | None
    status: str
    attempts: int
    next_attempt_at: float
    reason: str | None
    created_at: float
    updated_at: float


class DeliveryRow(NewDelivery):
    """One outbound message, in its conversation's line (table ``outbox``); dead letters are these too."""

    id: int
    lease_owner: str | None
    lease_until: float | None
    platform_message_id: str | None
    sent_at: float | None
    retry_since: float | None


def _plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The hot statements return dicts already (kept as they are); a ``RowMapping`` is copied into one."""
    return row if isinstance(row, dict) else dict(row)


def conversation_row(row: Mapping[Any, Any]) -> ConversationRow:
    return cast(ConversationRow, _plain(row))


def turn_row(row: Mapping[Any, Any]) -> TurnRow:
    return cast(TurnRow, _plain(row))


def delivery_row(row: Mapping[Any, Any]) -> DeliveryRow:
    return cast(DeliveryRow, _plain(row))
