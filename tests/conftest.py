"""Shared fixtures: a fresh store on each engine.

PostgreSQL tests use the server on 127.0.0.1:5432 (trust auth, as `.ci/run` sets it up), each in a
throwaway database so that test runs never see each other's rows. When no server answers, they are
skipped with a printed warning, as the README promises.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from channelgate.store import Store

PG_ADMIN_URL = os.environ.get("CHANNELGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _dsn(url: str) -> str:
    return url.replace("postgresql://", "postgres://", 1)


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards; skips the test when no server answers."""
    import asyncpg

    try:
        admin = await asyncpg.connect(_dsn(PG_ADMIN_URL), timeout=3)
    except Exception as exc:
        warnings.warn(f"PostgreSQL tests skipped: no server at {PG_ADMIN_URL} ({exc})", stacklevel=1)
        pytest.skip(f"PostgreSQL not available: {exc}")
    name = f"cg_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


#: A PostgreSQL store needs a key for the secrets it encrypts (SQLite makes one beside its file): the
#: same for every test and every process a test starts, as replicas would share it.
PG_SECRET_KEY = "pQ2t5S3tV8n0Jt6cWm7qS5n7yQ0bWm0i3VfH4xJk6nE="


@pytest.fixture
async def pg_url(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setenv("CHANNELGATE_SECRET_KEY", PG_SECRET_KEY)
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """A fresh store on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    monkeypatch.setenv("CHANNELGATE_SECRET_KEY", PG_SECRET_KEY)
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A fresh store with its schema, on each engine, closed afterwards."""
    s = Store(store_url)
    await s.create_schema()
    yield s
    await s.close()


# --- CI cannot pass without its hard parts -----------------------------------------------------------------
#: what a skip in CI may not hide: the database server and the browser are part of what CI must prove
_REQUIRED_IN_CI = ("PostgreSQL", "chromium", "Chromium")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """With ``CI=true``, a test skipped because PostgreSQL or Chromium is missing fails instead.

    Locally a missing server or browser is a warning and a skip, as the README promises; in CI the same
    skip would let a run go green without its PostgreSQL and browser tests ever running."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") != "true" or not report.skipped or not isinstance(report.longrepr, tuple):
        return
    reason = str(report.longrepr[2])
    if any(word in reason for word in _REQUIRED_IN_CI):
        report.outcome = "failed"
        report.longrepr = f"CI=true and this test could not run: {reason}"
