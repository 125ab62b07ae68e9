"""Queries of the admin API: keys, stored integrations, idempotent requests, conversations, transcripts,
dead letters and broadcasts.

They run on the same :class:`~channelgate.store.Store` as the pipeline and use its transactions, so on
SQLite they queue behind the single writer like everything else. Where a request must be all-or-nothing
(messages queued *and* the idempotent answer remembered), it is one transaction.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, delete, false, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from channelgate.api_rules import api_refusal
from channelgate.channels.registry import ChannelRegistry
from channelgate.config import ConfigError, Integration, build_integration
from channelgate.store.admin_tables import (
    api_keys,
    api_requests,
    broadcast_recipients,
    broadcasts,
    stored_integrations,
)
from channelgate.store.secret_box import SecretKeyError
from channelgate.store.store import NewOutbound, Store
from channelgate.store.tables import conversations, inbox, kv, outbox

log = logging.getLogger("channelgate.store.admin")

KEY_PREFIX = "cg_"
PENDING_OUTBOX = ("held", "queued", "sending")


# --- API keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scope: str  # read | full
    prefix: str
    created_at: float
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ApiKey:
        return cls(row["id"], row["name"], row["scope"], row["prefix"], row["created_at"], row["revoked_at"])


def hash_key(secret: str) -> str:
    """The SHA-256 of a key: keys are long random strings, so a plain hash is enough (no salt needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(store: Store, name: str, scope: str = "full") -> tuple[ApiKey, str]:
    """A new key; the secret is returned once and never stored."""
    if scope not in ("read", "full"):
        raise ValueError("scope is read or full")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(uuid.uuid4().hex[:12], name, scope, secret[:10], time.time())
    async with store.tx() as conn:
        await conn.execute(
            api_keys.insert().values(
                id=key.id,
                name=name,
                key_hash=hash_key(secret),
                prefix=key.prefix,
                scope=scope,
                created_at=key.created_at,
            )
        )
    return key, secret


async def list_keys(store: Store) -> list[ApiKey]:
    async with store.engine.connect() as conn:
        result = await conn.execute(select(api_keys).order_by(api_keys.c.created_at))
        return [ApiKey.from_row(r) for r in result.mappings()]


async def revoke_key(store: Store, id_or_name: str) -> list[ApiKey]:
    """Revoke the key with this id, else every live key with this name; the keys revoked."""
    now = time.time()
    async with store.tx() as conn:
        result = await conn.execute(
            select(api_keys).where(api_keys.c.id == id_or_name, api_keys.c.revoked_at.is_(None))
        )
        rows = list(result.mappings())
        if not rows:
            result = await conn.execute(
                select(api_keys).where(api_keys.c.name == id_or_name, api_keys.c.revoked_at.is_(None))
            )
            rows = list(result.mappings())
        ids = [r["id"] for r in rows]
        if ids:
            await conn.execute(update(api_keys).where(api_keys.c.id.in_(ids)).values(revoked_at=now))
    return [ApiKey.from_row({**r, "revoked_at": now}) for r in rows]


async def find_key(store: Store, secret: str) -> ApiKey | None:
    """The key whose hash matches, revoked or not (the caller tells 401 from 403)."""
    async with store.engine.connect() as conn:
        result = await conn.execute(select(api_keys).where(api_keys.c.key_hash == hash_key(secret)))
        row = result.mappings().first()
    return ApiKey.from_row(row) if row is not None else None


# --- stored integrations --------------------------------------------------------------------------------


#: A stored integration's settings are kept as ``{"$sealed": "fernet:..."}``: all of them, secrets
#: included, encrypted with the store's key (see store/secret_box.py).
SEALED = "$sealed"


def seal_config(store: Store, config: Mapping[str, Any]) -> dict[str, Any]:
    return {SEALED: store.secrets.seal(orjson.dumps(dict(config)).decode())}


def open_config(store: Store, stored: Any) -> dict[str, Any]:
    """The settings of a stored row; a row written before encryption existed is read as it is."""
    if isinstance(stored, dict) and isinstance(stored.get(SEALED), str):
        opened = orjson.loads(store.secrets.open(stored[SEALED]))
        return opened if isinstance(opened, dict) else {}
    return dict(stored or {})


def _opened(store: Store, row: RowMapping) -> dict[str, Any]:
    return {**row, "config": open_config(store, row["config"])}


def integration_mapping(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored integration as the mapping ``build_integration`` validates (the config file's shape)."""
    return {
        **(row["config"] or {}),
        "channel": row["channel"],
        "label": row["label"],
        "locale": row["locale"],
    }


async def _stored_rows(store: Store) -> list[RowMapping]:
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(stored_integrations).order_by(stored_integrations.c.channel, stored_integrations.c.label)
        )
        return list(result.mappings())


async def stored_integration_rows(store: Store) -> list[dict[str, Any]]:
    """Every stored integration, its settings decrypted (SecretKeyError when the key does not fit)."""
    return [_opened(store, row) for row in await _stored_rows(store)]


async def stored_integration(store: Store, channel: str, label: str) -> dict[str, Any] | None:
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(stored_integrations).where(
                stored_integrations.c.channel == channel, stored_integrations.c.label == label
            )
        )
        row = result.mappings().first()
    return _opened(store, row) if row is not None else None


async def insert_integration(
    store: Store, channel: str, label: str, locale: str, config: dict[str, Any]
) -> bool:
    """Store a new integration; False when one with this channel and label exists already."""
    now = time.time()
    async with store.tx() as conn:
        result = await conn.execute(
            _insert(store, stored_integrations)
            .values(
                channel=channel,
                label=label,
                locale=locale,
                config=seal_config(store, config),
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel", "label"])
            .returning(stored_integrations.c.channel)
        )
        return result.first() is not None


async def update_integration(
    store: Store, channel: str, label: str, locale: str, config: dict[str, Any]
) -> None:
    async with store.tx() as conn:
        await conn.execute(
            update(stored_integrations)
            .where(stored_integrations.c.channel == channel, stored_integrations.c.label == label)
            .values(locale=locale, config=seal_config(store, config), updated_at=time.time())
        )


async def delete_integration(store: Store, channel: str, label: str) -> bool:
    async with store.tx() as conn:
        result = await conn.execute(
            delete(stored_integrations).where(
                stored_integrations.c.channel == channel, stored_integrations.c.label == label
            )
        )
        return bool(result.rowcount)


async def load_stored_integrations(
    store: Store,
    registry: ChannelRegistry,
    skip: Iterable[tuple[str, str]] = (),
    allowed_hosts: Iterable[str] | None = None,
) -> list[Integration]:
    """The integrations created through the API, validated again (a channel package may have changed).
    One that no longer validates is logged and left out, never fatal: the rest of the gateway must start.
    ``skip``: keys the config file defines, which win over a stored integration of the same name.
    ``allowed_hosts``: the server's ``admin_api.allowed_hosts``; given, one the API would refuse today (an
    endpoint elsewhere, a security check off: stored by an earlier version, or before the list was
    narrowed) is left out too, until it is changed or deleted through the API."""
    taken = set(skip)
    out: list[Integration] = []
    for sealed in await _stored_rows(store):
        key = (sealed["channel"], sealed["label"])
        if key in taken:
            log.warning(
                "stored integration %s/%s is shadowed by the config file's integration of the same name", *key
            )
            continue
        try:
            row = _opened(store, sealed)
            integration, warnings = build_integration(
                integration_mapping(row), registry, "stored integration", source="store"
            )
        except SecretKeyError as exc:
            log.error("stored integration %s/%s cannot start: %s", *key, exc)
            continue
        except ConfigError as exc:
            log.error("stored integration %s/%s cannot start: %s", row["channel"], row["label"], exc)
            continue
        refusal = api_refusal(integration.config, allowed_hosts) if allowed_hosts is not None else None
        if refusal is not None:
            log.error(
                "stored integration %s/%s is not started: %s (change it with PATCH or remove it with DELETE "
                "on /api/v1/integrations/%s/%s)",
                *key,
                refusal,
                *key,
            )
            continue
        for warning in warnings:
            log.warning(warning)
        out.append(integration)
    return out


async def rotate_secrets(store: Store, namespaces: Iterable[str]) -> dict[str, int]:
    """Re-encrypt every stored secret with the first key (``channelgate secrets rotate``), and encrypt
    those an earlier version stored in clear: stored integrations, and key-values sealed already or under
    a channel's namespace (``<channel>:``, where channels keep theirs). One transaction: a key that does
    not open one value changes nothing."""
    prefixes = tuple(f"{name}:" for name in namespaces)
    counts = {"integrations": 0, "key_values": 0}
    async with store.tx() as conn:
        rows = (await conn.execute(select(stored_integrations))).mappings().all()
        for row in rows:
            stored = row["config"]
            if isinstance(stored, dict) and isinstance(stored.get(SEALED), str):
                new = {SEALED: store.secrets.rotate(stored[SEALED])}
            else:
                new = seal_config(store, stored or {})
            await conn.execute(
                update(stored_integrations)
                .where(
                    stored_integrations.c.channel == row["channel"],
                    stored_integrations.c.label == row["label"],
                )
                .values(config=new)
            )
            counts["integrations"] += 1
        for key, value in (await conn.execute(select(kv.c.key, kv.c.value))).all():
            if not value or not (store.secrets.sealed(value) or str(key).startswith(prefixes)):
                continue
            await conn.execute(update(kv).where(kv.c.key == key).values(value=store.secrets.rotate(value)))
            counts["key_values"] += 1
    return counts


# --- idempotency ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An idempotency key (namespaced by the kind of request) and the hash of the request it came with."""

    key: str
    body_hash: str


class KeyReused(Exception):
    """The idempotency key was used before with a different request."""


class _Taken(Exception):
    """Another request with the same key committed first; this transaction is rolled back."""


async def remembered(store: Store, idem: Idempotency | None) -> dict[str, Any] | None:
    """The answer given before to this key, or None; KeyReused when the request differs."""
    if idem is None:
        return None
    async with store.engine.connect() as conn:
        result = await conn.execute(select(api_requests).where(api_requests.c.key == idem.key))
        row = result.mappings().first()
    if row is None:
        return None
    if row["body_hash"] != idem.body_hash:
        raise KeyReused(idem.key)
    return dict(row["response"])


async def _remember(store: Store, conn: AsyncConnection, idem: Idempotency, response: dict[str, Any]) -> None:
    result = await conn.execute(
        _insert(store, api_requests)
        .values(key=idem.key, body_hash=idem.body_hash, response=response, created_at=time.time())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(api_requests.c.key)
    )
    if result.first() is None:
        raise _Taken()


async def _after_race(store: Store, idem: Idempotency) -> dict[str, Any]:
    previous = await remembered(store, idem)
    if previous is None:  # pragma: no cover - the row was committed before our insert saw it
        raise RuntimeError("idempotent request vanished")
    return previous


# --- queueing proactive messages ------------------------------------------------------------------------


def _insert(store: Store, table: Any) -> Any:
    """``INSERT`` with the dialect's ``ON CONFLICT`` support."""
    return (sqlite.insert if store.is_sqlite else postgresql.insert)(table)


async def _conversation_id(
    store: Store, conn: AsyncConnection, channel: str, label: str, user_id: str, locale: str, now: float
) -> str:
    """The user's conversation, created on first contact (atomic under concurrency, as the webhook's)."""
    await conn.execute(
        _insert(store, conversations)
        .values(
            id=uuid.uuid4().hex,
            channel=channel,
            label=label,
            user_id=user_id,
            locale=locale,
            profile_fetched=False,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["channel", "label", "user_id"])
    )
    result = await conn.execute(
        select(conversations.c.id).where(
            conversations.c.channel == channel,
            conversations.c.label == label,
            conversations.c.user_id == user_id,
        )
    )
    return str(result.scalar_one())


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
    try:
        async with store.tx() as conn:
            if conversation_id is None:
                conversation_id = await _conversation_id(store, conn, channel, label, user_id, locale, now)
            ids = await _insert_outbox(
                store, conn, conversation_id, channel, label, items, request_id, idem, now
            )
            response = {"request_id": request_id, "conversation_id": conversation_id, "message_ids": ids}
            if idem is not None:
                await _remember(store, conn, idem, response)
    except _Taken:
        assert idem is not None
        return await _after_race(store, idem)
    return response


async def _insert_outbox(
    store: Store,
    conn: AsyncConnection,
    conversation_id: str,
    channel: str,
    label: str,
    items: Sequence[NewOutbound],
    request_id: str,
    idem: Idempotency | None,
    now: float,
) -> list[int]:
    key = idem.key.partition(":")[2] if idem is not None else None
    rows = [
        store.outbox_row(conversation_id, channel, label, item, now, None, request_id, key) for item in items
    ]
    return await conn.run_sync(lambda c: store.insert_outbox(c, rows))


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
        turn_id = await store.add_event_turn(
            conversation_id, channel, label, input_json, f"api:{uuid.uuid4().hex}"
        )
        return {"conversation_id": conversation_id, "turn_id": str(turn_id)}, True
    now = time.time()
    try:
        async with store.tx() as conn:
            inserted = await conn.execute(
                _insert(store, inbox)
                .values(
                    channel=channel,
                    label=label,
                    dedup_key=f"api:{idem.key}",
                    conversation_id=conversation_id,
                    kind="event",
                    input=input_json,
                    raw=None,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["channel", "label", "dedup_key"])
                .returning(inbox.c.id)
            )
            turn_id = inserted.scalar()
            if turn_id is None:
                raise _Taken()
            response = {"conversation_id": conversation_id, "turn_id": str(turn_id)}
            await _remember(store, conn, idem, response)
    except _Taken:
        return await _after_race(store, idem), False
    return response, True


# --- reading messages, conversations and transcripts ----------------------------------------------------


async def outbox_row(store: Store, message_id: int) -> RowMapping | None:
    async with store.engine.connect() as conn:
        result = await conn.execute(select(outbox).where(outbox.c.id == message_id))
        return result.mappings().first()


async def list_conversations(
    store: Store,
    *,
    channel: str | None = None,
    label: str | None = None,
    user_id: str | None = None,
    query: str | None = None,
    limit: int = 50,
    after: tuple[float, str] | None = None,
) -> list[RowMapping]:
    """Newest first by creation, paged by ``after`` = (created_at, id) of the last row seen."""
    c = conversations.c
    where: list[ColumnElement[bool]] = []
    if channel:
        where.append(c.channel == channel)
    if label:
        where.append(c.label == label)
    if user_id:
        where.append(c.user_id == user_id)
    if query:
        pattern = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            or_(
                func.lower(c.user_id).like(pattern, escape="\\"),
                func.lower(c.user_name).like(pattern, escape="\\"),
            )
        )
    if after is not None:
        where.append(or_(c.created_at < after[0], and_(c.created_at == after[0], c.id < after[1])))
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(conversations).where(*where).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        )
        return list(result.mappings())


def _after(table: Any, rank: int, after: tuple[float, int, int] | None) -> ColumnElement[bool]:
    """Rows of ``table`` (of rank ``rank`` in the transcript's order) that come after ``after``."""
    if after is None:
        return true()
    at, after_rank, after_id = after
    same_time = true() if rank > after_rank else (table.c.id > after_id if rank == after_rank else false())
    return or_(table.c.created_at > at, and_(table.c.created_at == at, same_time))


async def transcript(
    store: Store, conversation_id: str, *, limit: int, after: tuple[float, int, int] | None = None
) -> list[tuple[int, RowMapping]]:
    """Inbound inputs (rank 0) and outbound messages (rank 1) in time order, ``limit`` at a time, after the
    position ``after`` = (created_at, rank, id)."""
    async with store.engine.connect() as conn:
        ins = await conn.execute(
            select(inbox)
            .where(inbox.c.conversation_id == conversation_id, _after(inbox, 0, after))
            .order_by(inbox.c.created_at, inbox.c.id)
            .limit(limit)
        )
        outs = await conn.execute(
            select(outbox)
            .where(outbox.c.conversation_id == conversation_id, _after(outbox, 1, after))
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(limit)
        )
        entries = [(0, r) for r in ins.mappings()] + [(1, r) for r in outs.mappings()]
    entries.sort(key=lambda e: (e[1]["created_at"], e[0], e[1]["id"]))
    return entries[:limit]


# --- dead letters ---------------------------------------------------------------------------------------


async def dead_letters(
    store: Store, *, channel: str | None, label: str | None, limit: int, after_id: int | None
) -> list[RowMapping]:
    where: list[ColumnElement[bool]] = [outbox.c.status == "dead"]
    if channel:
        where.append(outbox.c.channel == channel)
    if label:
        where.append(outbox.c.label == label)
    if after_id is not None:
        where.append(outbox.c.id > after_id)
    async with store.engine.connect() as conn:
        result = await conn.execute(select(outbox).where(*where).order_by(outbox.c.id).limit(limit))
        return list(result.mappings())


async def replay_dead(store: Store, message_id: int) -> bool:
    """Queue a dead-lettered message again, in its conversation's order; False if it is not dead (any
    more). See ``Store.replay_dead_letter``."""
    return await store.replay_dead_letter(message_id)


# --- broadcasts -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: str
    parameters: list[Any] | None = None


async def create_broadcast(
    store: Store,
    *,
    channel: str,
    label: str,
    message: dict[str, Any],
    options: dict[str, Any] | None,
    recipients: Sequence[Recipient],
    idem: Idempotency | None,
) -> tuple[dict[str, Any], bool]:
    """Record a broadcast and its recipients (pending). Returns the answer and whether it is new."""
    now = time.time()
    broadcast_id = uuid.uuid4().hex
    try:
        async with store.tx() as conn:
            await conn.execute(
                broadcasts.insert().values(
                    id=broadcast_id,
                    channel=channel,
                    label=label,
                    status="running",
                    message=message,
                    options=options,
                    total=len(recipients),
                    created_at=now,
                    updated_at=now,
                )
            )
            if recipients:
                await conn.execute(
                    broadcast_recipients.insert(),
                    [
                        {
                            "broadcast_id": broadcast_id,
                            "user_id": r.user_id,
                            "parameters": r.parameters,
                            "status": "pending",
                            "updated_at": now,
                        }
                        for r in recipients
                    ],
                )
            response = {"id": broadcast_id, "status": "running", "total": len(recipients)}
            if idem is not None:
                await _remember(store, conn, idem, response)
    except _Taken:
        assert idem is not None
        return await _after_race(store, idem), False
    return response, True


async def conversation_users(
    store: Store, channel: str, label: str, *, locale: str | None, active_since: float | None, limit: int
) -> list[str]:
    """User ids of an integration's conversations matching a broadcast's filter (oldest first)."""
    c = conversations.c
    where: list[ColumnElement[bool]] = [c.channel == channel, c.label == label]
    if locale:
        where.append(c.locale == locale)
    if active_since is not None:
        where.append(c.last_inbound_at >= active_since)
    async with store.engine.connect() as conn:
        result = await conn.execute(select(c.user_id).where(*where).order_by(c.created_at, c.id).limit(limit))
        return [r[0] for r in result]


async def broadcast(store: Store, broadcast_id: str) -> RowMapping | None:
    async with store.engine.connect() as conn:
        result = await conn.execute(select(broadcasts).where(broadcasts.c.id == broadcast_id))
        return result.mappings().first()


async def list_broadcasts(store: Store, *, limit: int, before: tuple[float, str] | None) -> list[RowMapping]:
    b = broadcasts.c
    where: list[ColumnElement[bool]] = []
    if before is not None:
        where.append(or_(b.created_at < before[0], and_(b.created_at == before[0], b.id < before[1])))
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(broadcasts).where(*where).order_by(b.created_at.desc(), b.id.desc()).limit(limit)
        )
        return list(result.mappings())


async def running_broadcasts(store: Store) -> list[str]:
    async with store.engine.connect() as conn:
        result = await conn.execute(select(broadcasts.c.id).where(broadcasts.c.status == "running"))
        return [r[0] for r in result]


async def pending_recipients(store: Store, broadcast_id: str, limit: int) -> list[RowMapping]:
    r = broadcast_recipients.c
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(broadcast_recipients)
            .where(r.broadcast_id == broadcast_id, r.status == "pending")
            .order_by(r.id)
            .limit(limit)
        )
        return list(result.mappings())


async def queue_recipient(
    store: Store,
    recipient: RowMapping,
    *,
    channel: str,
    label: str,
    locale: str,
    items: Sequence[NewOutbound],
) -> bool:
    """Queue one recipient's messages and mark it queued, in one transaction; False (and nothing queued)
    when the recipient is no longer pending (cancelled, or handled by another replica)."""
    now = time.time()
    try:
        async with store.tx() as conn:
            conversation_id = await _conversation_id(
                store, conn, channel, label, recipient["user_id"], locale, now
            )
            ids = await _insert_outbox(
                store, conn, conversation_id, channel, label, items, recipient["broadcast_id"], None, now
            )
            result = await conn.execute(
                update(broadcast_recipients)
                .where(
                    broadcast_recipients.c.id == recipient["id"], broadcast_recipients.c.status == "pending"
                )
                .values(status="queued", conversation_id=conversation_id, message_ids=ids, updated_at=now)
            )
            if not result.rowcount:
                raise _Taken()
    except _Taken:
        return False
    return True


async def refuse_recipient(store: Store, recipient_id: int, reason: str, conversation_id: str | None) -> None:
    async with store.tx() as conn:
        await conn.execute(
            update(broadcast_recipients)
            .where(broadcast_recipients.c.id == recipient_id, broadcast_recipients.c.status == "pending")
            .values(status="refused", reason=reason, conversation_id=conversation_id, updated_at=time.time())
        )


async def backlog(store: Store, request_id: str) -> int:
    """Messages of a broadcast still waiting to be sent."""
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.request_id == request_id, outbox.c.status.in_(PENDING_OUTBOX))
        )
        return int(result.scalar_one())


async def finish_broadcast(store: Store, broadcast_id: str, status: str = "completed") -> None:
    now = time.time()
    async with store.tx() as conn:
        await conn.execute(
            update(broadcasts)
            .where(broadcasts.c.id == broadcast_id, broadcasts.c.status == "running")
            .values(status=status, updated_at=now, finished_at=now)
        )


CANCELLED = "cancelled by the API before it was sent"


async def cancel_broadcast(store: Store, broadcast_id: str) -> int:
    """Stop a broadcast: pending recipients and messages not yet handed to the platform are cancelled.
    Returns how many recipients were stopped (0: nothing was left to stop)."""
    now = time.time()
    r = broadcast_recipients.c
    async with store.tx() as conn:
        await conn.execute(
            update(broadcasts)
            .where(broadcasts.c.id == broadcast_id, broadcasts.c.status != "cancelled")
            .values(status="cancelled", updated_at=now, finished_at=now)
        )
        pending = await conn.execute(
            update(broadcast_recipients)
            .where(r.broadcast_id == broadcast_id, r.status == "pending")
            .values(status="cancelled", reason=CANCELLED, updated_at=now)
        )
        stopped = int(pending.rowcount)
        # Only rows still ``queued`` are taken back: one the delivery worker holds (``sending``) goes out.
        taken = await conn.execute(
            update(outbox)
            .where(outbox.c.request_id == broadcast_id, outbox.c.status.in_(["queued", "held"]))
            .values(status="failed", reason=CANCELLED, updated_at=now)
            .returning(outbox.c.id)
        )
        taken_ids = {int(row[0]) for row in taken}
        if taken_ids:
            queued = await conn.execute(
                select(r.id, r.message_ids).where(r.broadcast_id == broadcast_id, r.status == "queued")
            )
            hit = [row.id for row in queued if taken_ids.intersection(row.message_ids or [])]
            if hit:
                await conn.execute(
                    update(broadcast_recipients)
                    .where(r.id.in_(hit))
                    .values(status="cancelled", reason=CANCELLED, updated_at=now)
                )
            stopped += len(hit)
    return stopped


async def recipients_page(
    store: Store, broadcast_id: str, *, limit: int, after_id: int | None
) -> list[RowMapping]:
    r = broadcast_recipients.c
    where: list[ColumnElement[bool]] = [r.broadcast_id == broadcast_id]
    if after_id is not None:
        where.append(r.id > after_id)
    async with store.engine.connect() as conn:
        result = await conn.execute(select(broadcast_recipients).where(*where).order_by(r.id).limit(limit))
        return list(result.mappings())


async def broadcast_recipient_states(store: Store, broadcast_id: str) -> list[tuple[str, list[int]]]:
    """(status, message ids) of every recipient, for the progress counts."""
    r = broadcast_recipients.c
    async with store.engine.connect() as conn:
        result = await conn.execute(select(r.status, r.message_ids).where(r.broadcast_id == broadcast_id))
        return [(row.status, list(row.message_ids or [])) for row in result]


async def message_states(store: Store, request_id: str) -> dict[int, tuple[str, str | None]]:
    """(status, reason) of every outbox row of a request (a send call or a broadcast), by id."""
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(outbox.c.id, outbox.c.status, outbox.c.reason).where(outbox.c.request_id == request_id)
        )
        return {int(row.id): (row.status, row.reason) for row in result}
