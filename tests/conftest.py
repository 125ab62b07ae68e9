"""Shared fixtures: store URLs for both engines."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import AsyncIterator

import pytest

PG_URL = os.environ.get("CHANNELGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _pg_available() -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_URL.replace("postgresql://", "postgres://"), timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[str]:
    """A fresh store on each engine. PostgreSQL gets its own schema-less database namespace by using a
    unique table prefix-free approach: a new database per test would be slow, so tables are dropped."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store-{uuid.uuid4().hex[:8]}.db"
        return
    problem = await _pg_available()
    if problem:
        warnings.warn(f"PostgreSQL tests skipped: no server at {PG_URL} ({problem})", stacklevel=1)
        pytest.skip(f"PostgreSQL not available: {problem}")
    from sqlalchemy.ext.asyncio import create_async_engine

    from channelgate.store import async_url
    from channelgate.store.tables import metadata

    engine = create_async_engine(async_url(PG_URL))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
    await engine.dispose()
    yield PG_URL
