"""The Python client's hand-off methods against the real API: take a conversation, answer as an agent
(idempotently), give it back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from channelgate.client import ApiError, AsyncClient, Client
from channelgate.store import admin
from channelgate.testing.graph import GraphSimulator
from channelgate.turns import EventInput

from .conftest import DeskBot, Running, conversation_id, say, texts_to_user, user_gets


async def test_client_hands_off_answers_and_hands_back(running: Running, graph: GraphSimulator) -> None:
    bot = DeskBot()
    async with running(bot, desk=False) as gw:
        _, key = await admin.create_key(gw.store, "ops", "full")
        await say(gw, graph, "hi")
        await user_gets(graph, "You said: hi")
        cid = await conversation_id(gw)

        def sync_work() -> dict[str, Any]:
            with Client(gw.url, key) as client:
                with pytest.raises(ApiError) as early:
                    client.send_agent_messages(cid, text="too early")
                assert early.value.status == 409
                taken = client.hand_off(cid, note="asked twice about a refund")
                sent = client.send_agent_messages(cid, text="Ann here", idempotency_key="a-1")
                assert client.send_agent_messages(cid, text="Ann here", idempotency_key="a-1") == sent
                with pytest.raises(ApiError) as reused:
                    client.send_agent_messages(cid, text="other words", idempotency_key="a-1")
                assert reused.value.status == 409
                return {"taken": taken, "sent": sent}

        done = await asyncio.to_thread(sync_work)
        assert done["taken"] == {"id": cid, "handled_by": "agent", "changed": True}
        assert len(done["sent"]["message_ids"]) == 1
        await user_gets(graph, "Ann here")

        async with AsyncClient(gw.url, key) as client:
            media = {"type": "media", "kind": "image", "url": "https://cdn.example.com/receipt.png"}
            more = await client.send_agent_messages(cid, text="Here is your receipt", messages=[media])
            assert len(more["message_ids"]) == 2
            back = await client.hand_back(cid)
            assert back == {"id": cid, "handled_by": "bot", "changed": True}
            assert (await client.hand_off(cid))["changed"] is True
            assert (await client.hand_back(cid))["changed"] is True
        await user_gets(graph, "Welcome back")
        assert EventInput(name="handoff_ended", data={"reason": "released"}) in bot.inputs()
    assert texts_to_user(graph).count("Ann here") == 1 and "other words" not in texts_to_user(graph)
