"""Console operators and their sessions, plus the few read queries only the console needs.

Passwords are hashed with argon2id (argon2-cffi's defaults: a salt per hash, memory-hard), and verified in
a worker thread so a sign-in does not stall the event loop for the ~50 ms a hash takes. A session is a
random token in an HttpOnly cookie; the store keeps only its SHA-256, so reading the database does not let
anyone sign in.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import RowMapping

from channelgate.store.admin import ApiKey
from channelgate.store.admin_tables import api_keys, console_sessions, operators
from channelgate.store.store import Store
from channelgate.store.tables import inbox, outbox

ROLES = ("read", "full")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
#: A session lasts this long after sign-in (seconds), then the operator signs in again.
SESSION_TTL = 12 * 3600.0
MIN_PASSWORD = 8

_hasher = PasswordHasher()
#: Verified when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    role: str  # read | full

    @property
    def can_write(self) -> bool:
        return self.role == "full"


@dataclass(frozen=True, slots=True)
class Session:
    operator: Operator
    csrf: str
    expires_at: float


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ValueError(
            "a name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise ValueError("a password has at most 1024 characters")
    return password


async def add_operator(store: Store, name: str, password: str, role: str = "full") -> bool:
    """Create the operator, or set a new password and role for an existing one; True when it was new."""
    if role not in ROLES:
        raise ValueError("role is read or full")
    check_name(name)
    check_password(password)
    digest = await asyncio.to_thread(_hasher.hash, password)
    now = time.time()
    async with store.tx() as conn:
        result = await conn.execute(
            update(operators)
            .where(operators.c.name == name)
            .values(password_hash=digest, role=role, updated_at=now)
        )
        if result.rowcount:
            # a changed password or role ends the operator's open sessions
            await conn.execute(delete(console_sessions).where(console_sessions.c.operator == name))
            return False
        await conn.execute(
            operators.insert().values(
                name=name, password_hash=digest, role=role, created_at=now, updated_at=now
            )
        )
    return True


async def remove_operator(store: Store, name: str) -> bool:
    async with store.tx() as conn:
        await conn.execute(delete(console_sessions).where(console_sessions.c.operator == name))
        result = await conn.execute(delete(operators).where(operators.c.name == name))
        return bool(result.rowcount)


async def list_operators(store: Store) -> list[Operator]:
    async with store.engine.connect() as conn:
        result = await conn.execute(select(operators.c.name, operators.c.role).order_by(operators.c.name))
        return [Operator(r["name"], r["role"]) for r in result.mappings()]


async def has_operators(store: Store) -> bool:
    async with store.engine.connect() as conn:
        result = await conn.execute(select(operators.c.name).limit(1))
        return result.first() is not None


async def authenticate(store: Store, name: str, password: str) -> Operator | None:
    """The operator when the password matches; None otherwise (taking as long either way)."""
    async with store.engine.connect() as conn:
        result = await conn.execute(select(operators).where(operators.c.name == name))
        row = result.mappings().first()
    digest = row["password_hash"] if row is not None else _DUMMY_HASH
    try:
        await asyncio.to_thread(_hasher.verify, digest, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    return Operator(row["name"], row["role"])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: Sessions opened with an API key name their key as ``key:<id>`` (operator names cannot hold ':').
KEY_SESSION = "key:"


def key_operator(key: ApiKey) -> Operator:
    """The console identity of an API key: its name, and its scope as the role."""
    return Operator(f"{key.name} (API key {key.prefix}…)", "full" if key.scope == "full" else "read")


async def open_session(
    store: Store, operator: Operator, ttl: float = SESSION_TTL, *, key: ApiKey | None = None
) -> tuple[str, Session]:
    """A new session (for an operator, or for an API key); the token (for the cookie) is returned once and
    only its hash is stored."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    session = Session(operator, secrets.token_urlsafe(32), now + ttl)
    async with store.tx() as conn:
        await conn.execute(console_sessions.delete().where(console_sessions.c.expires_at < now))
        await conn.execute(
            console_sessions.insert().values(
                token_hash=_token_hash(token),
                operator=KEY_SESSION + key.id if key is not None else operator.name,
                csrf=session.csrf,
                created_at=now,
                expires_at=session.expires_at,
            )
        )
    return token, session


async def find_session(store: Store, token: str) -> Session | None:
    """The live session of this token, with its operator's current role (or its API key's current scope:
    revoking the key ends the session); None when unknown, expired, or its operator or key is gone."""
    query = (
        select(
            console_sessions.c.csrf,
            console_sessions.c.expires_at,
            console_sessions.c.operator,
            operators.c.role,
        )
        .outerjoin(operators, operators.c.name == console_sessions.c.operator)
        .where(console_sessions.c.token_hash == _token_hash(token))
    )
    async with store.engine.connect() as conn:
        row = (await conn.execute(query)).mappings().first()
        if row is None or row["expires_at"] < time.time():
            return None
        if row["role"] is not None:
            return Session(Operator(row["operator"], row["role"]), row["csrf"], row["expires_at"])
        if not str(row["operator"]).startswith(KEY_SESSION):
            return None
        found = await conn.execute(
            select(api_keys).where(api_keys.c.id == row["operator"][len(KEY_SESSION) :])
        )
        key_row = found.mappings().first()
    if key_row is None or key_row["revoked_at"] is not None:
        return None
    return Session(key_operator(ApiKey.from_row(key_row)), row["csrf"], row["expires_at"])


async def close_session(store: Store, token: str) -> None:
    async with store.tx() as conn:
        await conn.execute(
            delete(console_sessions).where(console_sessions.c.token_hash == _token_hash(token))
        )


# --- read queries the console shows ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Activity:
    """An integration's webhooks: the time of the last one, and how many arrived since ``since``."""

    last_at: float | None
    count: int


async def inbound_activity(store: Store, since: float) -> dict[tuple[str, str], Activity]:
    """Per integration: the last inbound event's time and the inbound events since ``since``."""
    last = select(inbox.c.channel, inbox.c.label, func.max(inbox.c.created_at).label("last_at")).group_by(
        inbox.c.channel, inbox.c.label
    )
    counted = (
        select(inbox.c.channel, inbox.c.label, func.count().label("n"))
        .where(inbox.c.created_at >= since)
        .group_by(inbox.c.channel, inbox.c.label)
    )
    async with store.engine.connect() as conn:
        lasts = {(r["channel"], r["label"]): r["last_at"] for r in (await conn.execute(last)).mappings()}
        counts = {(r["channel"], r["label"]): int(r["n"]) for r in (await conn.execute(counted)).mappings()}
    return {key: Activity(lasts.get(key), counts.get(key, 0)) for key in lasts.keys() | counts.keys()}


async def outbound_counts(store: Store, since: float) -> dict[tuple[str, str], dict[str, int]]:
    """Per integration: messages (not typing indicators) created since ``since``, by outbox status."""
    query = (
        select(outbox.c.channel, outbox.c.label, outbox.c.status, func.count().label("n"))
        .where(outbox.c.created_at >= since, outbox.c.kind == "message")
        .group_by(outbox.c.channel, outbox.c.label, outbox.c.status)
    )
    out: dict[tuple[str, str], dict[str, int]] = {}
    async with store.engine.connect() as conn:
        for r in (await conn.execute(query)).mappings():
            out.setdefault((r["channel"], r["label"]), {})[r["status"]] = int(r["n"])
    return out


async def discard_dead(store: Store, message_ids: Sequence[int], by: str) -> list[int]:
    """Give up on dead letters (see ``DeadLetters.discard``); the ids that were dead letters."""
    return await store.dead_letters.discard(message_ids, by)


async def conversation_outbox(store: Store, conversation_id: str, since_id: int) -> list[RowMapping]:
    """The conversation's outbox rows after ``since_id``, oldest first (what a test send got back)."""
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(outbox)
            .where(outbox.c.conversation_id == conversation_id, outbox.c.id > since_id)
            .order_by(outbox.c.id)
        )
        return list(result.mappings())
