"""The console's store module on SQLite and PostgreSQL: operators, sessions (operator and API key), the
integration activity counts, and discarding dead letters."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from channelgate.channels.base import InboundMessage, Outbound
from channelgate.store import NewOutbound, Store, admin, operators
from channelgate.store.tables import outbox
from channelgate.turns import TextInput, User


async def test_operators_and_their_sessions(store: Store) -> None:
    assert not await operators.has_operators(store)
    assert await operators.add_operator(store, "alice", "first-password", "full")
    assert await operators.has_operators(store)
    alice = await operators.authenticate(store, "alice", "first-password")
    assert alice == operators.Operator("alice", "full")
    token, session = await operators.open_session(store, alice)
    found = await operators.find_session(store, token)
    assert found is not None and found.operator == alice and found.csrf == session.csrf
    assert await operators.find_session(store, token + "x") is None

    # a new password or role ends the operator's sessions
    assert not await operators.add_operator(store, "alice", "second-password", "read")
    assert await operators.find_session(store, token) is None
    assert await operators.authenticate(store, "alice", "first-password") is None
    assert await operators.authenticate(store, "alice", "second-password") == operators.Operator(
        "alice", "read"
    )

    expired, _ = await operators.open_session(store, operators.Operator("alice", "read"), ttl=-1)
    assert await operators.find_session(store, expired) is None
    token, _ = await operators.open_session(store, operators.Operator("alice", "read"))
    await operators.close_session(store, token)
    assert await operators.find_session(store, token) is None
    token, _ = await operators.open_session(store, operators.Operator("alice", "read"))
    assert await operators.remove_operator(store, "alice")
    assert await operators.find_session(store, token) is None
    assert not await operators.has_operators(store)


async def test_an_api_key_session_follows_the_key(store: Store) -> None:
    key, _ = await admin.create_key(store, "dashboard", "read")
    token, _ = await operators.open_session(store, operators.key_operator(key), key=key)
    found = await operators.find_session(store, token)
    assert found is not None and found.operator.role == "read" and found.operator.name.startswith("dashboard")
    await admin.revoke_key(store, key.id)
    assert await operators.find_session(store, token) is None


async def test_activity_counts_and_discarding_dead_letters(store: Store) -> None:
    now = time.time()
    messages = [
        InboundMessage(dedup_key=f"m{i}", user=User(id="u1"), input=TextInput(text="hi")) for i in range(3)
    ]
    accepted = await store.inbox.accept("relay", "main", "en-US", messages, now=now)
    conversation_id = accepted.new_turns[0][1]
    activity = await operators.inbound_activity(store, now - 1)
    assert activity[("relay", "main")].count == 3
    assert activity[("relay", "main")].last_at == pytest.approx(now)
    assert (await operators.inbound_activity(store, now + 10))[("relay", "main")].count == 0

    outbounds = [NewOutbound(Outbound(body={"text": t}, summary=t)) for t in ("a", "b")]
    await store.outbox.enqueue(conversation_id, "relay", "main", outbounds, request_id="r1")
    rows = await operators.conversation_outbox(store, conversation_id, 0)
    assert [r["summary"] for r in rows] == ["a", "b"]
    async with store.tx() as conn:
        await conn.execute(update(outbox).values(status="dead", reason="Graph API error 2"))
    discarded = await operators.discard_dead(store, [int(r["id"]) for r in rows] + [10**9], "alice")
    assert discarded == sorted(int(r["id"]) for r in rows)
    row = await admin.outbox_row(store, discarded[0])
    assert row is not None and row["status"] == "failed"
    assert row["reason"] == "discarded by alice: Graph API error 2"
    assert await operators.discard_dead(store, discarded, "alice") == []  # not dead any more
    counts = await operators.outbound_counts(store, now - 60)
    assert counts[("relay", "main")].get("failed") == len(discarded)
