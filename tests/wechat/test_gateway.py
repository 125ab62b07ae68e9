"""End to end over loopback: the simulator calls a whole gateway (webhook route, dedup store, passive-reply
wait, delivery worker) which answers through the simulator's API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from channelgate.bots.base import Bot
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.wechat import WeChatSimulator
from channelgate.turns import Reply, Turn

from .helpers import AES_KEY, APP_ID, TOKEN, gateway_config
from .test_xml import HOSTILE


class EchoBot(Bot):
    """Answers two messages; ``delay`` makes it slower than the passive-reply budget."""

    def __init__(self, delay: float = 0.0) -> None:
        self.turns: list[Turn] = []
        self.delay = delay

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        if self.delay:
            await asyncio.sleep(self.delay)
        said = getattr(turn.input, "text", None) or getattr(turn.input, "payload", None) or turn.input.type
        return Reply(messages=[f"echo: {said}", "second"])


@dataclass
class Running:
    gw: RunningGateway
    bot: EchoBot
    url: str


async def start(sim: WeChatSimulator, api_url: str, mode: str, bot: EchoBot, budget: float = 3.0) -> Any:
    return run_gateway(gateway_config(api_url, mode, budget=budget), bot=bot)


@pytest.fixture
async def running(sim: WeChatSimulator, api_url: str) -> AsyncIterator[Running]:
    bot = EchoBot()
    async with await start(sim, api_url, "safe", bot) as gw:
        yield Running(gw, bot, gw.webhook_url("wechat", "shop"))


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
async def test_passive_reply_then_customer_service_api_in_each_mode(
    sim: WeChatSimulator, api_url: str, mode: str
) -> None:
    bot = EchoBot()
    async with await start(sim, api_url, mode, bot) as gw:
        url = gw.webhook_url("wechat", "shop")
        assert (await sim.verify_url(url, echostr="42424242")).text == "42424242"
        delivery = await sim.deliver(url, sim.text_message("oUser1", "你好"), mode=mode)  # type: ignore[arg-type]
        reply = sim.read_reply(delivery.response)
        assert reply is not None and reply["Content"] == "echo: 你好"
        (sent,) = await sim.wait_for_sends(1)
        assert sent.body == {"touser": "oUser1", "msgtype": "text", "text": {"content": "second"}}
    assert len(bot.turns) == 1


async def test_bot_slower_than_the_budget_answers_once_through_the_api_despite_retries(
    sim: WeChatSimulator, api_url: str
) -> None:
    sim.callback_timeout = 0.3  # WeChat gives up on an answer before the gateway's budget runs out
    bot = EchoBot(delay=1.0)
    async with await start(sim, api_url, "safe", bot, budget=0.6) as gw:
        delivery = await sim.deliver(
            gw.webhook_url("wechat", "shop"), sim.text_message("oUser1", "slow"), mode="safe"
        )
        assert delivery.attempts >= 2  # the simulator retried the callback
        assert sim.read_reply(delivery.response) is None  # the retry was answered "success"
        await sim.wait_for_sends(2)
        conversation = bot.turns[0].conversation_id

        async def all_sent() -> bool:
            rows = await gw.store.outbox.rows(conversation)
            return len(rows) == 2 and all(r["status"] == "sent" for r in rows)

        await wait_until(all_sent)  # the outbox is settled: nothing else will be sent
    assert [s.body["text"]["content"] for s in sim.sent] == ["echo: slow", "second"]
    assert len(bot.turns) == 1


async def test_token_expiry_mid_conversation(running: Running, sim: WeChatSimulator) -> None:
    await sim.deliver(running.url, sim.text_message("oUser1", "one"), mode="safe")
    await sim.wait_for_sends(1)
    sim.expire_tokens()
    await sim.deliver(running.url, sim.text_message("oUser1", "two"), mode="safe")
    await sim.wait_for_sends(2)
    assert sim.tokens_issued == 2


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_xml_is_refused_with_no_turn(running: Running, sim: WeChatSimulator, name: str) -> None:
    delivery = await sim.deliver(running.url, HOSTILE[name], mode="safe")
    assert delivery.response is not None and delivery.response.status_code == 400
    assert running.bot.turns == []


async def test_wrong_app_id_and_bad_signature_are_refused_with_no_turn(running: Running) -> None:
    for impostor in (
        WeChatSimulator(app_id="wxanother00000001", token=TOKEN, encoding_aes_key=AES_KEY),
        WeChatSimulator(app_id=APP_ID, token="nottheirtoken", encoding_aes_key=AES_KEY),
    ):
        delivery = await impostor.deliver(running.url, impostor.text_message("oUser1", "hi"), mode="safe")
        assert delivery.response is not None and delivery.response.status_code == 403
    assert running.bot.turns == []


async def test_menu_tap_reaches_the_bot_as_a_postback(running: Running, sim: WeChatSimulator) -> None:
    await sim.deliver(running.url, sim.text_message("oUser1", "满意", menu_id="101"), mode="safe")
    await wait_until(lambda: len(running.bot.turns) == 1)
    assert running.bot.turns[0].input.type == "postback"
    assert running.bot.turns[0].input.payload == "101"  # type: ignore[union-attr]


async def test_a_passive_reply_never_overtakes_an_earlier_reply_still_waiting(
    sim: WeChatSimulator, api_url: str
) -> None:
    """The second half of the first answer waits for a retry when the second message comes in: its answer
    must not jump ahead in the HTTP reply (found by make soak after a SIGKILL left a reply under a dead
    replica's lease)."""
    bot = EchoBot()
    async with await start(sim, api_url, "safe", bot) as gw:
        url = gw.webhook_url("wechat", "shop")
        sim.inject(-1, times=1)  # WeChat's "system busy": the first API send is retried after a backoff
        first = await sim.deliver(url, sim.text_message("oUser1", "one"), mode="safe")
        assert (sim.read_reply(first.response) or {}).get("Content") == "echo: one"
        second = await sim.deliver(url, sim.text_message("oUser1", "two"), mode="safe")
        assert second.response is not None and second.response.text == "success"  # "second" still waits
        sent = await sim.wait_for_sends(3, timeout=10)
        texts = [s.body["text"]["content"] for s in sent]
        assert texts == ["second", "echo: two", "second"]
