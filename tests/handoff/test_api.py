"""The admin API's hand-off endpoints and ``handled_by``, over the real gateway with the simulators."""

from __future__ import annotations

import httpx

from channelgate.store import admin
from channelgate.testing.chatwoot import ChatwootSimulator
from channelgate.testing.gateway import RunningGateway, wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.turns import EventInput, TextInput

from .conftest import DeskBot, Running, conversation_id, say, texts_to_user, user_gets


def api(gw: RunningGateway, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{gw.url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


async def test_operator_takes_answers_and_hands_back(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    bot = DeskBot()
    async with running(bot) as gw:
        _, key = await admin.create_key(gw.store, "ops", "full")
        _, read = await admin.create_key(gw.store, "dash", "read")
        await say(gw, graph, "hi")
        await user_gets(graph, "You said: hi")
        cid = await conversation_id(gw)
        async with api(gw, key) as http, api(gw, read) as reader:
            assert (await http.get(f"/conversations/{cid}")).json()["handled_by"] == "bot"
            text = {"messages": [{"type": "text", "text": "Hi from the API"}]}
            refused = await http.post(f"/conversations/{cid}/agent-messages", json=text)
            assert refused.status_code == 409 and "hand it off first" in refused.json()["error"]
            assert (await reader.post(f"/conversations/{cid}/handoff", json={})).status_code == 403

            taken = await http.post(f"/conversations/{cid}/handoff", json={"note": "VIP, be quick"})
            assert taken.status_code == 200
            assert taken.json() == {"id": cid, "handled_by": "agent", "changed": True}
            again = await http.post(f"/conversations/{cid}/handoff")
            assert again.json()["changed"] is False
            assert (await http.get(f"/conversations/{cid}")).json()["handled_by"] == "agent"
            listed = (await http.get("/conversations", params={"channel": "whatsapp"})).json()["items"]
            assert [c["handled_by"] for c in listed] == ["agent"]
            await chatwoot.wait_for(
                lambda: bool(chatwoot.conversations) and chatwoot.only_conversation().messages
            )
            [note] = chatwoot.only_conversation().texts(private=True)
            assert "An operator took this conversation." in note and "Note: VIP, be quick" in note

            metrics = (await httpx.AsyncClient().get(f"{gw.url}/metrics")).text
            assert 'channelgate_handoffs_held{channel="whatsapp",label="shop"} 1.0' in metrics

            headers = {"Idempotency-Key": "reply-1"}
            sent = await http.post(f"/conversations/{cid}/agent-messages", json=text, headers=headers)
            assert sent.status_code == 202, sent.text
            repeat = await http.post(f"/conversations/{cid}/agent-messages", json=text, headers=headers)
            assert repeat.json()["message_ids"] == sent.json()["message_ids"]
            await user_gets(graph, "Hi from the API")

            await say(gw, graph, "thanks, and my refund?")
            await chatwoot.wait_for(
                lambda: chatwoot.only_conversation().texts("incoming") == ["thanks, and my refund?"]
            )
            assert bot.inputs() == [TextInput(text="hi")]

            back = await http.post(f"/conversations/{cid}/handback")
            assert back.json() == {"id": cid, "handled_by": "bot", "changed": True}
            assert (await http.post(f"/conversations/{cid}/handback")).json()["changed"] is False
            await user_gets(graph, "Welcome back")
            assert bot.turns[-1].input == EventInput(name="handoff_ended", data={"reason": "released"})
            await chatwoot.wait_for(lambda: chatwoot.only_conversation().status == "resolved")
            missing = await http.post(f"/conversations/{'0' * 32}/handoff")
            assert missing.status_code == 404
        assert texts_to_user(graph).count("Hi from the API") == 1


async def test_without_a_desk_agents_answer_through_the_api(running: Running, graph: GraphSimulator) -> None:
    bot = DeskBot()
    async with running(bot, desk=False) as gw:
        _, key = await admin.create_key(gw.store, "ops", "full")
        await say(gw, graph, "operator")  # users may ask: the integration has a handoff: key
        await user_gets(graph, "A person will answer you here shortly.")
        cid = await conversation_id(gw)
        await say(gw, graph, "hello?")

        async def recorded() -> bool:
            return len(await gw.store.inbox.rows(cid)) == 2

        await wait_until(recorded)
        assert bot.inputs() == []
        async with api(gw, key) as http:
            text = {"messages": [{"type": "text", "text": "Here I am"}]}
            assert (await http.post(f"/conversations/{cid}/agent-messages", json=text)).status_code == 202
            await user_gets(graph, "Here I am")
            await http.post(f"/conversations/{cid}/handback")
        await user_gets(graph, "Welcome back")


async def test_deleting_a_conversation_forgets_its_handoff_and_desk_rows(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    chatwoot.outage(60)  # the desk's rows stay queued
    async with running(DeskBot()) as gw:
        _, key = await admin.create_key(gw.store, "ops", "full")
        await say(gw, graph, "human")
        cid = await conversation_id(gw)

        async def held() -> bool:
            return await gw.store.handoffs.holder(cid) == "agent"

        await wait_until(held)
        desk_line = (await gw.store.handoffs.get(cid))["desk_line"]
        assert await gw.store.outbox.rows(desk_line)
        async with api(gw, key) as http:
            deleted = await http.delete(f"/conversations/{cid}")
            assert deleted.status_code == 200, deleted.text
        assert await gw.store.handoffs.get(cid) is None
        assert await gw.store.outbox.rows(desk_line) == []


async def test_agent_messages_idempotency_key_replays_or_refuses_another_body(
    running: Running, graph: GraphSimulator
) -> None:
    async with running(DeskBot(), desk=False) as gw:
        _, key = await admin.create_key(gw.store, "ops", "full")
        await say(gw, graph, "operator")
        cid = await conversation_id(gw)
        await user_gets(graph, "A person will answer you here shortly.")
        async with api(gw, key) as http:
            url = f"/conversations/{cid}/agent-messages"
            first = {"messages": [{"type": "text", "text": "One moment"}], "idempotency_key": "turn-7"}
            sent = await http.post(url, json=first)
            assert sent.status_code == 202, sent.text
            other = {"messages": [{"type": "text", "text": "Something else"}]}
            reused = await http.post(url, json=other, headers={"Idempotency-Key": "turn-7"})
            assert reused.status_code == 409
            assert "idempotency key was used with a different request" in reused.json()["error"]
            differ = await http.post(url, json=first, headers={"Idempotency-Key": "turn-8"})
            assert differ.status_code == 400
            await user_gets(graph, "One moment")
            assert (await http.post(f"/conversations/{cid}/handback")).status_code == 200
            replay = await http.post(url, json=first)  # the first answer, though the bot holds it now
            assert replay.status_code == 202 and replay.json() == sent.json()
        assert texts_to_user(graph).count("One moment") == 1
        assert "Something else" not in texts_to_user(graph)
