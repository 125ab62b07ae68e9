"""Queries of the admin API: keys, stored integrations, idempotent requests, conversations, transcripts,
dead letters and broadcasts.

Each lives in the repository of what it stores (keys.py, integrations.py, idempotency.py, broadcasts.py,
conversations.py, outbox.py, dead_letters.py, transcript.py); this module gathers them under the names the
API and the CLI call, and composes the two requests that touch several: queueing messages for a user
(:func:`enqueue_messages`) and adding an event turn (:func:`add_event`), each with its idempotent answer in
the same transaction. A conversation is created, a turn or a message inserted, by the same functions the
webhooks use (``conversations.ids``, ``inbox.insert_event``, ``outbox.queue``).

They run on the same :class:`~channelgate.store.Store` as the pipeline and use its transactions, so on
SQLite they queue behind the single writer like everything else.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import RowMapping

from channelgate.store import inbox as inbox_rows
from channelgate.store import outbox as outbox_rows
from channelgate.store.broadcasts import (
    CANCELLED,
    Recipient,
    broadcast,
    broadcast_recipient_states,
    cancel_broadcast,
    create_broadcast,
    finish_broadcast,
    list_broadcasts,
    pending_recipients,
    queue_recipient,
    recipients_page,
    refuse_recipient,
    running_broadcasts,
)
from channelgate.store.idempotency import Idempotency, KeyReused, Taken, after_race, remember, remembered
from channelgate.store.integrations import (
    SEALED,
    delete_integration,
    insert_integration,
    integration_mapping,
    load_stored_integrations,
    open_config,
    rotate_secrets,
    seal_config,
    stored_integration,
    stored_integration_rows,
    update_integration,
)
from channelgate.store.keys import KEY_PREFIX, ApiKey, create_key, find_key, hash_key, list_keys, revoke_key
from channelgate.store.outbox import PENDING as PENDING_OUTBOX
from channelgate.store.outbox import NewOutbound
from channelgate.store.rows import ConversationRow
from channelgate.store.store import Store
from channelgate.store.transcript import transcript

__all__ = [
    "CANCELLED",
    "KEY_PREFIX",
    "PENDING_OUTBOX",
    "SEALED",
    "ApiKey",
    "Idempotency",
    "KeyReused",
    "Recipient",
    "Taken",
    "add_event",
    "backlog",
    "broadcast",
    "broadcast_recipient_states",
    "cancel_broadcast",
    "conversation_users",
    "create_broadcast",
    "create_key",
    "dead_letters",
    "delete_integration",
    "enqueue_messages",
    "find_key",
    "finish_broadcast",
    "hash_key",
    "insert_integration",
    "integration_mapping",
    "list_broadcasts",
    "list_conversations",
    "list_keys",
    "load_stored_integrations",
    "message_states",
    "open_config",
    "outbox_row",
    "pending_recipients",
    "queue_recipient",
    "recipients_page",
    "refuse_recipient",
    "remembered",
    "replay_dead",
    "revoke_key",
    "rotate_secrets",
    "running_broadcasts",
    "seal_config",
    "stored_integration",
    "stored_integration_rows",
    "transcript",
    "update_integration",
]


# --- requests that touch several tables -----------------------------------------------------------------


async def enqueue_messages(
    store: Store,
    *,
    channel: str,
    label: str,
    conversation_id: str | None,
    user_id: str,
    locale: str,
    items: Sequence[NewOutbound],
    idem: Idempotency | None,
) -> dict[str, Any]:
    """Queue a send call's payloads (creating the conversation on first contact) and remember the answer
    under the idempotency key, all in one transaction. Returns ``{"request_id", "conversation_id",
    "message_ids"}``; with a key used concurrently, the answer of the request that won."""
    now = time.time()
    request_id = uuid.uuid4().hex
    key = idem.key.partition(":")[2] if idem is not None else None
    try:
        async with store.tx() as conn:
            conversation_id, ids = await conn.run_sync(
                lambda c: outbox_rows.queue(
                    c,
                    channel=channel,
                    label=label,
                    user_id=user_id,
                    locale=locale,
                    conversation_id=conversation_id,
                    items=items,
                    request_id=request_id,
                    idempotency_key=key,
                    now=now,
                )
            )
            response = {"request_id": request_id, "conversation_id": conversation_id, "message_ids": ids}
            if idem is not None:
                await remember(store, conn, idem, response)
    except Taken:
        assert idem is not None
        return await after_race(store, idem)
    return response


async def add_event(
    store: Store,
    *,
    conversation_id: str,
    channel: str,
    label: str,
    input_json: dict[str, Any],
    idem: Idempotency | None,
) -> tuple[dict[str, Any], bool]:
    """A proactive event turn, remembered under the idempotency key in the same transaction. Returns the
    answer and whether a new turn was added (False for a repeated request)."""
    if idem is None:
        turn_id = await store.inbox.add_event_turn(
            conversation_id, channel, label, input_json, f"api:{uuid.uuid4().hex}"
        )
        return {"conversation_id": conversation_id, "turn_id": str(turn_id)}, True
    now = time.time()
    dedup_key = f"api:{idem.key}"
    try:
        async with store.tx() as conn:
            turn_id = await conn.run_sync(
                lambda c: inbox_rows.insert_event(
                    c, conversation_id, channel, label, input_json, dedup_key, now
                )
            )
            if turn_id is None:
                raise Taken()
            response = {"conversation_id": conversation_id, "turn_id": str(turn_id)}
            await remember(store, conn, idem, response)
    except Taken:
        return await after_race(store, idem), False
    return response, True


# --- reading: each from its repository ------------------------------------------------------------------


async def outbox_row(store: Store, message_id: int) -> RowMapping | None:
    return await store.outbox.message(message_id)


async def message_states(store: Store, request_id: str) -> dict[int, tuple[str, str | None]]:
    """(status, reason) of every outbox row of a request (a send call or a broadcast), by id."""
    return await store.outbox.states(request_id)


async def backlog(store: Store, request_id: str) -> int:
    """Messages of a broadcast still waiting to be sent."""
    return await store.outbox.backlog(request_id)


async def list_conversations(
    store: Store,
    *,
    channel: str | None = None,
    label: str | None = None,
    user_id: str | None = None,
    query: str | None = None,
    limit: int = 50,
    after: tuple[float, str] | None = None,
) -> list[ConversationRow]:
    """Newest first by creation, paged by ``after`` = (created_at, id) of the last row seen."""
    return await store.conversations.page(
        channel=channel, label=label, user_id=user_id, query=query, limit=limit, after=after
    )


async def conversation_users(
    store: Store, channel: str, label: str, *, locale: str | None, active_since: float | None, limit: int
) -> list[str]:
    """User ids of an integration's conversations matching a broadcast's filter (oldest first)."""
    return await store.conversations.user_ids(
        channel, label, locale=locale, active_since=active_since, limit=limit
    )


async def dead_letters(
    store: Store, *, channel: str | None, label: str | None, limit: int, after_id: int | None
) -> list[RowMapping]:
    return await store.dead_letters.page(channel=channel, label=label, limit=limit, after_id=after_id)


async def replay_dead(store: Store, message_id: int) -> RowMapping | None:
    """Queue a dead-lettered message again, in its conversation's order: the message as the replay left
    it, or None if it is not dead (any more). See ``DeadLetters.replay``."""
    return await store.dead_letters.replay(message_id)
