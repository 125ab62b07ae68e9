"""Conversations: one row per user of an integration, created on first contact, and the lease that lets
exactly one worker (of any replica) run a conversation's turns at a time.

Every path that needs a user's conversation (a webhook, the send API, a broadcast, the console's test
send) gets it from :func:`ids`, so "first contact" means the same thing everywhere. The module-level
functions take a synchronous connection: they run inside the caller's transaction (a writer job, or
``AsyncConnection.run_sync`` in an admin transaction).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from channelgate.store.database import Database
from channelgate.store.rows import ConversationRow, Holder, conversation_row
from channelgate.store.statements import Sql
from channelgate.store.tables import conversations

FIND_CONVERSATION_ID = Sql(
    "SELECT id FROM conversations WHERE channel = :channel AND label = :label AND user_id = :user_id"
)
INSERT_CONVERSATION = Sql(
    """INSERT INTO conversations
         (id, channel, label, user_id, user_name, locale, profile_fetched, created_at, updated_at)
       VALUES (:id, :channel, :label, :user_id, :user_name, :locale, FALSE, :now, :now)
       ON CONFLICT (channel, label, user_id) DO NOTHING"""
)
CONVERSATION = Sql(
    "SELECT * FROM conversations WHERE id = :id", json=("state",), booleans=("profile_fetched",)
)
#: a turn's read: the conversation and who holds it (the hand-off, store/handoffs.py) in one statement
CONVERSATION_FOR_TURN = Sql(
    """SELECT conversations.*, handoffs.holder AS handoff_holder
       FROM conversations LEFT JOIN handoffs ON handoffs.conversation_id = conversations.id
       WHERE conversations.id = :id""",
    json=("state",),
    booleans=("profile_fetched",),
)
TOUCH_INBOUND = Sql(
    """UPDATE conversations SET last_inbound_at = :now, updated_at = :now,
         last_platform_message_id = COALESCE(:platform_message_id, last_platform_message_id),
         user_name = COALESCE(:user_name, user_name)
       WHERE id = :id"""
)
CLAIM_CONVERSATION = Sql(
    """UPDATE conversations SET lease_owner = :owner, lease_until = :until
       WHERE id = :id AND (lease_until IS NULL OR lease_until < :now OR lease_owner = :owner)"""
)
RELEASE_CONVERSATION = Sql(
    "UPDATE conversations SET lease_owner = NULL, lease_until = NULL WHERE id = :id AND lease_owner = :owner"
)


# --- inside a transaction ---


def ids(
    conn: Connection, channel: str, label: str, users: dict[str, tuple[str | None, str]], now: float
) -> dict[str, str]:
    """Conversation ids for these users (user id → (name, locale)), creating the missing ones. Atomic under
    concurrency: when another transaction creates the same user's first, its id wins."""
    found_ids: dict[str, str] = {}
    for user_id, (name, locale) in users.items():
        key = {"channel": channel, "label": label, "user_id": user_id}
        found = FIND_CONVERSATION_ID.first(conn, key)
        if found is None:  # a new user; under a concurrent insert, the other one's id wins
            new = {**key, "id": uuid.uuid4().hex, "user_name": name, "locale": locale, "now": now}
            INSERT_CONVERSATION.execute(conn, new)
            found = FIND_CONVERSATION_ID.first(conn, key)
            assert found is not None
        found_ids[user_id] = str(found["id"])
    return found_ids


def find_id(conn: Connection, channel: str, label: str, user_id: str) -> str | None:
    """The user's conversation id, without creating it."""
    found = FIND_CONVERSATION_ID.first(conn, {"channel": channel, "label": label, "user_id": user_id})
    return None if found is None else str(found["id"])


def touch_inbound(
    conn: Connection, conversation_id: str, now: float, platform_message_id: str | None, user_name: str | None
) -> None:
    """Remember the user's last message: it opens the platforms' customer-service windows."""
    TOUCH_INBOUND.execute(
        conn,
        {
            "id": conversation_id,
            "now": now,
            "platform_message_id": platform_message_id,
            "user_name": user_name,
        },
    )


def set_values(conn: Connection, conversation_id: str, values: dict[str, Any], now: float) -> None:
    """What a turn changed (locale, state, profile): written in the turn's own transaction."""
    conn.execute(
        update(conversations).where(conversations.c.id == conversation_id).values(**values, updated_at=now)
    )


def claim(conn: Connection, conversation_id: str, owner: str, until: float, now: float) -> bool:
    """Take the conversation's lease unless another worker holds a live one."""
    params = {"id": conversation_id, "owner": owner, "until": until, "now": now}
    return bool(CLAIM_CONVERSATION.execute(conn, params))


def release(conn: Connection, conversation_id: str, owner: str) -> None:
    RELEASE_CONVERSATION.execute(conn, {"id": conversation_id, "owner": owner})


# --- the repository ---


class Conversations:
    """Conversation rows: created on first contact, read, changed by turns, leased to one worker."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def for_user(
        self, channel: str, label: str, user_id: str, locale: str, name: str | None = None
    ) -> str:
        users = {user_id: (name, locale)}
        async with self.db.tx() as conn:
            found = await conn.run_sync(lambda c: ids(c, channel, label, users, time.time()))
        return found[user_id]

    async def get(self, conversation_id: str) -> ConversationRow | None:
        row = await self.db.run(lambda conn: CONVERSATION.first(conn, {"id": conversation_id}))
        return None if row is None else conversation_row(row)

    async def for_turn(self, conversation_id: str) -> tuple[ConversationRow, Holder] | None:
        """The conversation and who holds it, read once per turn: the hand-off's holder comes with the
        row (a LEFT JOIN) instead of a second statement on the hot path."""
        row = await self.db.run(lambda conn: CONVERSATION_FOR_TURN.first(conn, {"id": conversation_id}))
        if row is None:
            return None
        holder: Holder = "agent" if row.pop("handoff_holder", None) == "agent" else "bot"
        return conversation_row(row), holder

    async def find(self, channel: str, label: str, user_id: str) -> ConversationRow | None:
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(conversations).where(
                    conversations.c.channel == channel,
                    conversations.c.label == label,
                    conversations.c.user_id == user_id,
                )
            )
            row = result.mappings().first()
        return None if row is None else conversation_row(row)

    async def update(self, conversation_id: str, **values: Any) -> None:
        values["updated_at"] = time.time()
        async with self.db.tx() as conn:
            await conn.execute(
                update(conversations).where(conversations.c.id == conversation_id).values(**values)
            )

    async def renew_lease(self, conversation_id: str, owner: str, lease: float) -> bool:
        """Extend ``owner``'s lease; False when it no longer holds it (another worker claimed the
        conversation after the lease expired, or it was released): the caller must not commit its turn."""
        async with self.db.tx() as conn:
            result = await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id, conversations.c.lease_owner == owner)
                .values(lease_until=time.time() + lease)
            )
            return bool(result.rowcount)

    async def release(self, conversation_id: str, owner: str) -> None:
        await self.db.run(lambda conn: release(conn, conversation_id, owner))

    async def page(
        self,
        *,
        channel: str | None = None,
        label: str | None = None,
        user_id: str | None = None,
        query: str | None = None,
        limit: int = 50,
        after: tuple[float, str] | None = None,
    ) -> list[ConversationRow]:
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
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(conversations).where(*where).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
            )
            return [conversation_row(row) for row in result.mappings()]

    async def user_ids(
        self, channel: str, label: str, *, locale: str | None, active_since: float | None, limit: int
    ) -> list[str]:
        """User ids of an integration's conversations matching a broadcast's filter (oldest first)."""
        c = conversations.c
        where: list[ColumnElement[bool]] = [c.channel == channel, c.label == label]
        if locale:
            where.append(c.locale == locale)
        if active_since is not None:
            where.append(c.last_inbound_at >= active_since)
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(c.user_id).where(*where).order_by(c.created_at, c.id).limit(limit)
            )
            return [r[0] for r in result]
