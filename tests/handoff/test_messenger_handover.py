"""Messenger's handover protocol end to end through the Graph simulator: the bot hands over, the gateway
passes thread control to the Page inbox, the user's messages (standby) do not reach the bot, the inbox
passes control back and the bot gets ``handoff_ended``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from channelgate.handoff.settings import PAGE_INBOX_APP_ID, IntegrationHandoff
from channelgate.store.transcript import transcript
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from channelgate.turns import EventInput, TextInput

from .conftest import DeskBot

PSID = "7001002003"
OTHER_APP = "555000111222333"


@pytest.fixture
def messenger() -> GraphSimulator:
    return GraphSimulator(kind="messenger", access_token="EAAG-handover", app_secret="handover-secret")


@pytest.fixture
async def messenger_url(messenger: GraphSimulator) -> AsyncIterator[str]:
    async with serve_app(messenger.app) as url:
        yield messenger.api_base_url(url)


def config(sim: GraphSimulator, url: str, handoff: dict[str, Any]) -> dict[str, Any]:
    return {
        "integrations": [
            {
                "channel": "messenger",
                "label": "page",
                "locale": "en-US",
                "verify_token": sim.verify_token,
                "app_secret": sim.app_secret,
                "page_access_token": sim.access_token,
                "api_base_url": url,
                "page_id": sim.page_id,
                "handoff": handoff,
            }
        ],
        "pipeline": {"poll_interval": 0.05, "max_backoff": 0.5},
    }


def texts(sim: GraphSimulator) -> list[str]:
    return [str(s.body["message"]["text"]) for s in sim.sent if "text" in s.body.get("message", {})]


async def deliver(gw: RunningGateway, sim: GraphSimulator, payload: dict[str, Any]) -> None:
    answer = await sim.deliver(gw.webhook_url("messenger", "page"), payload)
    assert answer.status_code == 200


async def holder(gw: RunningGateway) -> str | None:
    row = await gw.store.conversations.find("messenger", "page", PSID)
    return None if row is None else str(await gw.store.handoffs.holder(row["id"]))


def test_the_setting_names_the_target_app() -> None:
    assert IntegrationHandoff().thread_target() is None
    assert IntegrationHandoff(messenger_inbox=True).thread_target() == PAGE_INBOX_APP_ID == "263902037430900"
    assert IntegrationHandoff(messenger_app_id=OTHER_APP).thread_target() == OTHER_APP


async def test_pass_to_the_page_inbox_and_back(messenger: GraphSimulator, messenger_url: str) -> None:
    bot = DeskBot()
    async with run_gateway(config(messenger, messenger_url, {"messenger_inbox": True}), bot=bot) as gw:
        await deliver(gw, messenger, messenger.messenger_text(PSID, "refund"))
        await wait_until(lambda: "Let me find someone" in texts(messenger))
        await wait_until(lambda: len(messenger.thread_calls) == 1)
        [call] = messenger.thread_calls
        assert call == {
            "op": "pass_thread_control",
            "recipient": {"id": PSID},
            "target_app_id": PAGE_INBOX_APP_ID,
            "metadata": "wants a refund for order 42",
        }
        assert messenger.thread_owner[PSID] == PAGE_INBOX_APP_ID
        assert await holder(gw) == "agent"
        # the pass stands in the conversation's own line, after the bot's message (which needs the thread)
        row = await gw.store.conversations.find("messenger", "page", PSID)
        line = [e for rank, e in await transcript(gw.store, row["id"], limit=100) if rank == 1]
        kinds = [e["kind"] for e in line if e["kind"] in ("message", "desk")]
        assert kinds[-2:] == ["message", "desk"]

        # while the inbox holds the thread, the user's messages come as standby, or (a late webhook) as
        # messaging: neither reaches the bot
        await deliver(gw, messenger, messenger.messenger_standby_text(PSID, "are you there?"))
        await deliver(gw, messenger, messenger.messenger_text(PSID, "hello?"))
        row = await gw.store.conversations.find("messenger", "page", PSID)

        async def recorded() -> bool:  # "hello?" is a turn of the transcript, done without the bot
            entries = await transcript(gw.store, row["id"], limit=100)
            said = [e["input"] for rank, e in entries if rank == 0 and e["status"] == "done"]
            return {"type": "text", "text": "hello?"} in said

        await wait_until(recorded)
        assert bot.inputs() == [TextInput(text="refund")]

        # the person marks it done in the inbox: the inbox passes the thread back
        payload = messenger.messenger_pass_thread_control(
            PSID, from_app_id=PAGE_INBOX_APP_ID, metadata="done"
        )
        await deliver(gw, messenger, payload)
        await wait_until(lambda: "Welcome back" in texts(messenger))
        assert bot.turns[-1].input == EventInput(name="handoff_ended", data={"reason": "resolved"})
        assert await holder(gw) == "bot"
        assert len(messenger.thread_calls) == 1  # the thread came back by itself: nothing to take

        await deliver(gw, messenger, messenger.messenger_text(PSID, "thanks"))
        await wait_until(lambda: "You said: thanks" in texts(messenger))
        assert TextInput(text="hello?") not in bot.inputs()


async def test_the_inbox_takes_the_thread_and_an_operator_gives_it_back(
    messenger: GraphSimulator, messenger_url: str
) -> None:
    bot = DeskBot()
    async with run_gateway(config(messenger, messenger_url, {"messenger_inbox": True}), bot=bot) as gw:
        await deliver(gw, messenger, messenger.messenger_text(PSID, "hi"))
        await wait_until(lambda: "You said: hi" in texts(messenger))
        payload = messenger.messenger_take_thread_control(PSID, by_app_id=PAGE_INBOX_APP_ID)
        await deliver(gw, messenger, payload)

        async def held() -> bool:
            return await holder(gw) == "agent"

        await wait_until(held)
        assert messenger.thread_calls == []  # the inbox has it already
        assert [i for i in bot.inputs() if isinstance(i, EventInput)] == []

        row = await gw.store.conversations.find("messenger", "page", PSID)
        assert await gw.gateway.handoffs.hand_back(row["id"], "released")
        await wait_until(lambda: len(messenger.thread_calls) == 1)
        assert messenger.thread_calls[0]["op"] == "take_thread_control"
        assert messenger.thread_calls[0]["recipient"] == {"id": PSID}
        assert PSID not in messenger.thread_owner
        await wait_until(lambda: "Welcome back" in texts(messenger))


async def test_a_request_from_the_configured_app_hands_over(
    messenger: GraphSimulator, messenger_url: str
) -> None:
    bot = DeskBot()
    handoff = {"messenger_app_id": OTHER_APP}
    async with run_gateway(config(messenger, messenger_url, handoff), bot=bot) as gw:
        await deliver(gw, messenger, messenger.messenger_text(PSID, "hi"))
        await wait_until(lambda: "You said: hi" in texts(messenger))
        payload = messenger.messenger_request_thread_control(PSID, by_app_id="999", metadata="me!")
        await deliver(gw, messenger, payload)
        payload = messenger.messenger_request_thread_control(PSID, by_app_id=OTHER_APP, metadata="mine")
        await deliver(gw, messenger, payload)
        await wait_until(lambda: len(messenger.thread_calls) == 1)
        assert messenger.thread_calls[0]["target_app_id"] == OTHER_APP
        assert messenger.thread_calls[0]["metadata"] == "mine"
        assert await holder(gw) == "agent"
        assert [i for i in bot.inputs() if isinstance(i, EventInput)] == []


async def test_without_the_setting_the_events_reach_the_bot(
    messenger: GraphSimulator, messenger_url: str
) -> None:
    bot = DeskBot()
    async with run_gateway(config(messenger, messenger_url, {}), bot=bot) as gw:
        payload = messenger.messenger_pass_thread_control(PSID, from_app_id=PAGE_INBOX_APP_ID)
        await deliver(gw, messenger, payload)
        await wait_until(lambda: len(bot.turns) == 1)
        assert bot.inputs()[0].name == "pass_thread_control"
        await deliver(gw, messenger, messenger.messenger_text(PSID, "refund"))
        await wait_until(lambda: "Let me find someone" in texts(messenger))
        assert await holder(gw) == "agent"
        assert messenger.thread_calls == []
