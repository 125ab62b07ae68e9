"""A turn is answered once, even when its worker outlives the conversation's lease.

A worker whose turn ran past its lease (a bot slower than ``lease_seconds``, a stalled process) used to
commit its answer unconditionally, while another replica that had re-claimed the expired lease answered
the same turn: two replies. Now a running turn renews its lease in the background, and a turn commits only
while it is pending and its worker still holds the lease (the commit is fenced, like delivery.py's sends).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from channelgate.channels.base import Outbound
from channelgate.store import NewOutbound, Store
from channelgate.store.inbox import LeaseLost
from channelgate.testing import ChannelHarness

from .relay_peer import SECRET, RelayPeer, deliver, event
from .test_pipeline import RecordingBot
from .test_store import message


async def test_a_worker_that_lost_its_lease_cannot_commit_the_turn(store: Store) -> None:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("t1")])
    conversation = accepted.new_turns[0][1]
    stale = await store.inbox.claim_conversation(conversation, "a", 0.05)
    assert stale is not None
    await asyncio.sleep(0.1)  # a's lease expires; b claims the same turn
    fresh = await store.inbox.claim_conversation(conversation, "b", 30)
    assert fresh is not None and fresh["id"] == stale["id"]
    assert not await store.conversations.renew_lease(conversation, "a", 30)
    reply = [NewOutbound(Outbound({"text": "late"}))]
    with pytest.raises(LeaseLost):
        await store.inbox.complete_turn(stale["id"], conversation, "relay", "main", reply, owner="a")
    assert [r["status"] for r in await store.inbox.rows(conversation)] == ["pending"]
    assert await store.conversations.renew_lease(conversation, "b", 30)
    ids, _ = await store.inbox.complete_turn(fresh["id"], conversation, "relay", "main", reply, owner="b")
    assert len(ids) == 1
    with pytest.raises(LeaseLost):  # done: nobody finishes it again, not even its owner
        await store.inbox.complete_turn(fresh["id"], conversation, "relay", "main", reply)


async def test_a_turn_slower_than_the_lease_is_answered_once_by_two_replicas(
    peer: RelayPeer, pg_url: str
) -> None:
    # The bot takes 1.5 s under a 0.6 s lease; the other replica polls every 50 ms for expired leases.
    settings = {"secret": SECRET, "send_url": f"{peer.url}/send"}  # type: ignore[attr-defined]
    config = {"pipeline": {"poll_interval": 0.05, "lease_seconds": 0.6}}
    first_bot, second_bot = RecordingBot(), RecordingBot()
    first_bot.delay = second_bot.delay = 1.5
    async with (
        ChannelHarness("relay", settings, label="main", bot=first_bot, store=pg_url, config=config) as gw,
        ChannelHarness("relay", settings, label="main", bot=second_bot, store=pg_url, config=config),
    ):
        async with httpx.AsyncClient() as client:
            response = await deliver(client, gw.webhook_url("relay", "main"), event("e1", "u1", "hi"))
            assert response.status_code == 200
        await peer.wait_for(1, timeout=10)
        await asyncio.sleep(2.0)  # time for a second answer to arrive
    assert Counter(r["to"] for r in peer.received) == {"u1": 1}
    assert len(first_bot.turns) + len(second_bot.turns) == 1
