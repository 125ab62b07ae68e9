"""WeChat's transfer to customer service end to end through the WeChat simulator: on an integration with
``handoff: {wechat_customer_service: true}``, a hand-off answers the user's message with the passive reply
``transfer_customer_service`` (so WeChat's own customer-service tools take it), so does every message while
an agent holds the conversation, and closing the customer-service session gives it back to the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from channelgate.channels.wechat.passive import passive_fields
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.server import serve_app
from channelgate.testing.wechat import WeChatSimulator
from channelgate.turns import EventInput, TextInput

from ..wechat.helpers import gateway_config, simulator
from .conftest import DeskBot

USER = "oUserHandoff1"


@pytest.fixture
def sim() -> WeChatSimulator:
    return simulator(callback_timeout=2.0)


@pytest.fixture
async def api_url(sim: WeChatSimulator) -> AsyncIterator[str]:
    async with serve_app(sim.app) as url:
        yield url


def config(api_url: str, handoff: dict[str, Any]) -> dict[str, Any]:
    settings = gateway_config(api_url, "safe")
    settings["integrations"][0]["handoff"] = handoff
    return settings


async def say(gw: RunningGateway, sim: WeChatSimulator, xml: str) -> dict[str, str] | None:
    delivery = await sim.deliver(gw.webhook_url("wechat", "shop"), xml, mode="safe")
    assert delivery.response is not None and delivery.response.status_code == 200
    return sim.read_reply(delivery.response)


def api_texts(sim: WeChatSimulator) -> list[str]:
    return [s.body["text"]["content"] for s in sim.sent if s.body.get("msgtype") == "text"]


async def holder(gw: RunningGateway) -> str:
    row = await gw.store.conversations.find("wechat", "shop", USER)
    return str(await gw.store.handoffs.holder(row["id"]))


async def all_sent(gw: RunningGateway) -> None:
    row = await gw.store.conversations.find("wechat", "shop", USER)

    async def done() -> bool:
        return not await gw.store.outbox.unsent_before(row["id"], 2**62)

    await wait_until(done)


def test_the_passive_reply_is_wechats_transfer() -> None:
    body = {"touser": USER, "msgtype": "transfer_customer_service"}
    assert passive_fields(body) == {"MsgType": "transfer_customer_service"}


async def test_user_asks_messages_go_to_customer_service_closing_gives_it_back(
    sim: WeChatSimulator, api_url: str
) -> None:
    bot = DeskBot()
    async with run_gateway(config(api_url, {"wechat_customer_service": True}), bot=bot) as gw:
        reply = await say(gw, sim, sim.text_message(USER, "你好"))
        assert reply is not None and reply["Content"] == "You said: 你好"

        reply = await say(gw, sim, sim.text_message(USER, "转人工"))
        assert reply is not None and reply["MsgType"] == "transfer_customer_service"
        assert reply["ToUserName"] == USER and reply["FromUserName"] == "gh_abcdef123456"
        assert "Content" not in reply
        await wait_until(lambda: "已为您转接人工客服，请稍候。" in api_texts(sim))  # noqa: RUF001
        assert await holder(gw) == "agent"
        await all_sent(gw)  # a reply still on its way would be overtaken by a passive one: none is made

        reply = await say(gw, sim, sim.text_message(USER, "在吗"))
        assert reply is not None and reply["MsgType"] == "transfer_customer_service"
        assert bot.inputs() == [TextInput(text="你好")]
        assert not [s for s in sim.sent if s.body.get("msgtype") == "transfer_customer_service"]

        closed = sim.event_message(USER, "kf_close_session", {"KfAccount": "test1@test", "CloseType": "KF"})
        assert await say(gw, sim, closed) is None
        await wait_until(lambda: "Welcome back" in api_texts(sim))
        assert bot.turns[-1].input == EventInput(name="handoff_ended", data={"reason": "resolved"})
        assert await holder(gw) == "bot"

        reply = await say(gw, sim, sim.text_message(USER, "谢谢"))
        assert reply is not None and reply["Content"] == "You said: 谢谢"


async def test_the_bot_hands_off_the_transfer_comes_first(sim: WeChatSimulator, api_url: str) -> None:
    bot = DeskBot()
    async with run_gateway(config(api_url, {"wechat_customer_service": True}), bot=bot) as gw:
        reply = await say(gw, sim, sim.text_message(USER, "refund"))
        assert reply is not None and reply["MsgType"] == "transfer_customer_service"
        await wait_until(lambda: "Let me find someone" in api_texts(sim))  # through the API instead
        assert await holder(gw) == "agent"
        # an agent accepting the session changes nothing (an agent holds it already), and is not the bot's
        created = sim.event_message(USER, "kf_create_session", {"KfAccount": "test1@test"})
        assert await say(gw, sim, created) is None
        assert bot.inputs() == [TextInput(text="refund")]


async def test_without_the_setting_a_hand_off_is_not_transferred(sim: WeChatSimulator, api_url: str) -> None:
    bot = DeskBot()
    async with run_gateway(config(api_url, {}), bot=bot) as gw:
        reply = await say(gw, sim, sim.text_message(USER, "refund"))
        assert reply is not None and reply["Content"] == "Let me find someone"
        assert await holder(gw) == "agent"
        assert await say(gw, sim, sim.text_message(USER, "hello?")) is None
