"""Hand-off end to end through the simulators: a WhatsApp user (the Graph simulator) and agents in
Chatwoot (the Chatwoot simulator), with the real gateway between them over loopback."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import generate_latest

from channelgate.testing.chatwoot import ChatwootSimulator
from channelgate.testing.gateway import wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.turns import EventInput, TextInput

from .conftest import DeskBot, Running, conversation_id, holder, say, texts_to_user, user_gets


async def test_user_asks_agent_answers_resolving_gives_it_back(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    bot = DeskBot()
    async with running(bot) as gw:
        await say(gw, graph, "hi")
        await user_gets(graph, "You said: hi")

        await say(gw, graph, "Human!")  # the trigger phrase, any case, punctuation ignored
        await user_gets(graph, "A person will answer you here shortly.")
        await chatwoot.wait_for(
            lambda: len(chatwoot.conversations) == 1 and chatwoot.only_conversation().messages
        )
        desk = chatwoot.only_conversation()
        assert desk.inbox_id == chatwoot.inbox_id
        [note] = desk.texts(private=True)
        assert "The user asked for a person." in note
        assert "hi" in note and "You said: hi" in note and "Human!" in note
        assert await holder(gw) == "agent"
        assert bot.inputs() == [TextInput(text="hi")]  # the request did not reach the bot

        answer = await chatwoot.agent_reply(desk.id, "Hello, I am Ann from support")
        assert answer.status_code == 200
        await user_gets(graph, "Hello, I am Ann from support")

        await say(gw, graph, "my order is late")
        await say(gw, graph, "it was due Monday")
        await chatwoot.wait_for(lambda: len(desk.texts("incoming")) == 2)
        assert desk.texts("incoming") == ["my order is late", "it was due Monday"]
        assert bot.inputs() == [TextInput(text="hi")]  # still only the first message

        assert (await chatwoot.resolve(desk.id)).status_code == 200
        await user_gets(graph, "Welcome back")
        assert bot.turns[-1].input == EventInput(name="handoff_ended", data={"reason": "resolved"})
        assert await holder(gw) == "bot"

        await say(gw, graph, "thanks")
        await user_gets(graph, "You said: thanks")
        assert desk.texts("incoming") == ["my order is late", "it was due Monday"]

        metrics = generate_latest(gw.gateway.metrics.registry).decode()
        assert 'channelgate_handoffs_total{channel="whatsapp",label="shop",reason="user"} 1.0' in metrics
        assert (
            'channelgate_handoffs_ended_total{channel="whatsapp",label="shop",reason="resolved"} 1.0'
            in metrics
        )
        assert (
            'channelgate_handoff_first_agent_reply_seconds_count{channel="whatsapp",label="shop"} 1.0'
            in metrics
        )


async def test_bot_hands_off_with_a_note_after_its_messages(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    bot = DeskBot()
    async with running(bot) as gw:
        await say(gw, graph, "refund")
        await user_gets(graph, "Let me find someone")
        await chatwoot.wait_for(
            lambda: bool(chatwoot.conversations) and chatwoot.only_conversation().messages
        )
        [note] = chatwoot.only_conversation().texts(private=True)
        assert "The bot handed this conversation over." in note
        assert "Note: wants a refund for order 42" in note
        assert await holder(gw) == "agent"
        await say(gw, graph, "hello?")
        await chatwoot.wait_for(lambda: chatwoot.only_conversation().texts("incoming") == ["hello?"])
        assert [t.input for t in bot.turns] == [TextInput(text="refund")]
        metrics = generate_latest(gw.gateway.metrics.registry).decode()
        assert 'channelgate_handoffs_total{channel="whatsapp",label="shop",reason="bot"} 1.0' in metrics


async def test_chatwoot_down_during_a_handoff_loses_nothing(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    bot = DeskBot()
    async with running(bot) as gw:
        chatwoot.outage(60)
        await say(gw, graph, "agent")
        await user_gets(graph, "A person will answer you here shortly.")  # the user's line is not held up
        for text in ("one", "two", "three"):
            await say(gw, graph, text)
        await wait_until(lambda: chatwoot.refused >= 2, timeout=10)
        assert chatwoot.conversations == {}
        chatwoot.outage(0)
        await chatwoot.wait_for(
            lambda: (
                bool(chatwoot.conversations)
                and chatwoot.only_conversation().texts("incoming") == ["one", "two", "three"]
            ),
            timeout=15,
        )
        assert len(chatwoot.only_conversation().texts(private=True)) == 1
        assert bot.inputs() == []


async def test_private_notes_stay_private(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    async with running(DeskBot()) as gw:
        await say(gw, graph, "human")
        await chatwoot.wait_for(
            lambda: bool(chatwoot.conversations) and chatwoot.only_conversation().messages
        )
        desk = chatwoot.only_conversation()
        assert (await chatwoot.private_note(desk.id, "internal: VIP customer")).status_code == 200
        await chatwoot.agent_reply(desk.id, "Hi, how can I help?")
        await user_gets(graph, "Hi, how can I help?")
        assert "internal: VIP customer" not in texts_to_user(graph)
        rows = await gw.store.outbox.rows(await conversation_id(gw))
        assert all("VIP" not in (r["summary"] or "") for r in rows)


async def test_a_forged_webhook_is_refused_and_changes_nothing(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    async with running(DeskBot()) as gw:
        await say(gw, graph, "human")
        await chatwoot.wait_for(
            lambda: bool(chatwoot.conversations) and chatwoot.only_conversation().messages
        )
        desk = chatwoot.only_conversation()
        assert chatwoot.webhook_url is not None
        good = chatwoot.webhook_url
        wrong = good.rsplit("/", 1)[0] + "/" + "0" * 40
        forged = {
            "event": "message_created",
            "id": 999,
            "content": "send me your password",
            "message_type": "outgoing",
            "private": False,
            "conversation": {"id": desk.id},
        }
        assert (await chatwoot.post_webhook(forged, wrong)).status_code == 403
        resolve = {"event": "conversation_status_changed", "id": desk.id, "status": "resolved"}
        assert (await chatwoot.post_webhook(resolve, wrong)).status_code == 403
        other = good.replace("/whatsapp/shop/", "/whatsapp/nope/")
        assert (await chatwoot.post_webhook(forged, other)).status_code == 404
        await asyncio.sleep(0.3)
        assert "send me your password" not in texts_to_user(graph)
        assert await holder(gw) == "agent"


async def test_signed_webhooks_need_the_signature(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    chatwoot.webhook_secret = "inbox-webhook-secret"
    async with running(DeskBot()) as gw:
        await say(gw, graph, "human")
        await chatwoot.wait_for(lambda: bool(chatwoot.conversations))
        desk = chatwoot.only_conversation()
        signed = await chatwoot.agent_reply(desk.id, "signed hello")
        assert signed.status_code == 200, signed.text
        await user_gets(graph, "signed hello")
        chatwoot.webhook_secret = "not-the-secret"
        assert (await chatwoot.agent_reply(desk.id, "forged hello")).status_code == 403
        await asyncio.sleep(0.3)
        assert "forged hello" not in texts_to_user(graph)
        assert gw is not None


async def test_idle_timeout_hands_back_and_closes_the_desk_conversation(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    bot = DeskBot()
    async with running(bot, idle_timeout=0.5, sweep_interval=0.1) as gw:
        await say(gw, graph, "human")
        await chatwoot.wait_for(lambda: bool(chatwoot.conversations))
        await user_gets(graph, "Welcome back", timeout=10)
        assert bot.turns[-1].input == EventInput(name="handoff_ended", data={"reason": "idle"})
        assert await holder(gw) == "bot"
        await chatwoot.wait_for(lambda: chatwoot.only_conversation().status == "resolved")


async def test_a_refused_token_turns_readyz_degraded_and_nothing_is_lost(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    async with running(DeskBot()) as gw:
        chatwoot.api_access_token = "rotated-in-chatwoot"
        await say(gw, graph, "human")
        await say(gw, graph, "are you there?")

        async def degraded() -> bool:
            async with httpx.AsyncClient() as http:
                body = (await http.get(f"{gw.url}/readyz")).json()
            problem = body["problems"].get("handoff desk whatsapp/shop", "")
            return body["status"] == "degraded" and "Chatwoot refused the credentials" in problem

        await wait_until(degraded, timeout=10)
        chatwoot.api_access_token = "cw-simulated-token"
        await chatwoot.wait_for(
            lambda: (
                bool(chatwoot.conversations)
                and chatwoot.only_conversation().texts("incoming") == ["are you there?"]
            ),
            timeout=15,
        )
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{gw.url}/readyz")).json()["status"] == "ready"


async def test_an_agent_writing_after_the_hand_back_takes_it_again(
    running: Running, graph: GraphSimulator, chatwoot: ChatwootSimulator
) -> None:
    bot = DeskBot()
    async with running(bot) as gw:
        await say(gw, graph, "human")
        await chatwoot.wait_for(
            lambda: bool(chatwoot.conversations) and chatwoot.only_conversation().messages
        )
        desk = chatwoot.only_conversation()
        await chatwoot.resolve(desk.id)
        await user_gets(graph, "Welcome back")
        assert await holder(gw) == "bot"

        await chatwoot.agent_reply(desk.id, "One more thing: your parcel left today")
        await user_gets(graph, "One more thing: your parcel left today")
        assert await holder(gw) == "agent"
        await say(gw, graph, "great, thanks")
        await chatwoot.wait_for(lambda: desk.texts("incoming") == ["great, thanks"])
        assert len(chatwoot.conversations) == 1  # the same desk conversation, not a new one
        metrics = generate_latest(gw.gateway.metrics.registry).decode()
        assert 'channelgate_handoffs_total{channel="whatsapp",label="shop",reason="agent"} 1.0' in metrics
