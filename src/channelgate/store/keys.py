"""API keys of the admin API: only the SHA-256 of a key is stored, and its secret is shown once.

Keys are long random strings, so a plain hash is enough; the console's operators sign in with passwords
instead (operators.py).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from channelgate.store.admin_tables import api_keys
from channelgate.store.database import Database

KEY_PREFIX = "cg_"


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


async def create_key(store: Database, name: str, scope: str = "full") -> tuple[ApiKey, str]:
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


async def list_keys(store: Database) -> list[ApiKey]:
    async with store.engine.connect() as conn:
        result = await conn.execute(select(api_keys).order_by(api_keys.c.created_at))
        return [ApiKey.from_row(r) for r in result.mappings()]


async def revoke_key(store: Database, id_or_name: str) -> list[ApiKey]:
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


async def find_key(store: Database, secret: str) -> ApiKey | None:
    """The key whose hash matches, revoked or not (the caller tells 401 from 403)."""
    async with store.engine.connect() as conn:
        result = await conn.execute(select(api_keys).where(api_keys.c.key_hash == hash_key(secret)))
        row = result.mappings().first()
    return ApiKey.from_row(row) if row is not None else None
