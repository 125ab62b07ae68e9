"""A turn reads its conversation and who holds it in one statement (a LEFT JOIN on ``handoffs``), not two:
counted on every SQLite connection the gateway opens, as bench/instrument.py counts them."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from channelgate.testing.gateway import wait_until
from channelgate.testing.graph import GraphSimulator

from .conftest import DeskBot, Running, conversation_id, say, user_gets


def trace_sqlite(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement run by the sqlite3 connections opened from now on (the writer's and aiosqlite's)."""
    seen: list[str] = []
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        con = real(*args, **kwargs)
        con.set_trace_callback(lambda sql: seen.append(" ".join(sql.split())))
        return con

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect)
    return seen


def holder_reads(seen: list[str]) -> int:
    return sum(s.startswith("SELECT holder FROM handoffs WHERE conversation_id") for s in seen)


def turn_reads(seen: list[str]) -> int:
    return sum("FROM conversations LEFT JOIN handoffs" in s for s in seen)


async def test_a_turn_reads_the_holder_with_its_conversation(
    running: Running, graph: GraphSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = trace_sqlite(monkeypatch)
    async with running(DeskBot(), desk=False) as gw:
        for n in range(3):  # the bot holds the conversation
            await say(gw, graph, f"hi {n}")
            await user_gets(graph, f"You said: hi {n}")
        assert (turn_reads(seen), holder_reads(seen)) == (3, 0)

        await say(gw, graph, "human")  # now a person holds it: the turn knows from the same read
        await user_gets(graph, "A person will answer you here shortly.")
        await say(gw, graph, "still there?")
        cid = await conversation_id(gw)

        async def recorded() -> bool:
            return len(await gw.store.inbox.rows(cid)) == 5

        await wait_until(recorded)
        await wait_until(lambda: turn_reads(seen) == 5)
    assert holder_reads(seen) == 0
