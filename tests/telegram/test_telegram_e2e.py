"""End to end through the real gateway over loopback: the simulator sets the webhook (``connect``), delivers
updates with the secret header, the gateway accepts them durably, the bot answers, the delivery worker sends
through the channel, and the simulator checks and records what arrives. Redeliveries answered once, button
taps answered, flood control and outages retried without duplicates, per-chat pacing honoured."""

from __future__ import annotations

import time
from typing import Any

from channelgate.bots.base import Bot
from channelgate.channels.telegram import TelegramChannel
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.telegram import TelegramSimulator
from channelgate.turns import EventInput, PostbackInput, Reply, TextInput, Turn

CHAT = 1111111
LONG = "ADD_TO_CART:" + "sku-0123456789" * 6  # 96 bytes: over callback_data's 64


class ShopBot(Bot):
    """Echoes text with two quick replies; answers a tap by naming its payload; "all" answers one message
    of every universal type; "burst" answers five texts."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        if isinstance(turn.input, PostbackInput):
            return Reply(messages=[f"You chose {turn.input.payload}"])
        said = turn.input.text if isinstance(turn.input, TextInput) else turn.input.type
        if said == "all":
            return Reply(messages=EVERY_TYPE)
        if said == "burst":
            return Reply(messages=[f"part {i}" for i in range(5)])
        quick = [
            {"type": "reply", "title": "Yes", "payload": "YES"},
            {"type": "reply", "title": "Add", "payload": LONG},
        ]
        return Reply(messages=[{"type": "text", "text": f"You said: {said}", "quick_replies": quick}])


EVERY_TYPE: list[dict[str, Any]] = [
    {"type": "text", "text": "Hello"},
    {"type": "media", "kind": "image", "url": "https://cdn.example/a.png", "caption": "A picture"},
    {"type": "media", "kind": "file", "url": "https://cdn.example/a.pdf"},
    {
        "type": "card",
        "title": "Shoe",
        "description": "Size 42",
        "media": {"url": "https://cdn.example/shoe.png"},
        "buttons": [
            {"type": "reply", "title": "Buy", "payload": "BUY"},
            {"type": "url", "title": "More", "url": "https://shop.example"},
            {"type": "call", "title": "Call", "phone": "+15551234567"},
        ],
    },
    {"type": "carousel", "cards": [{"type": "card", "title": "One"}, {"type": "card", "title": "Two"}]},
    {"type": "list", "text": "Pick", "items": [{"title": "A", "payload": "A", "description": "first"}]},
    {"type": "location", "latitude": 48.85, "longitude": 2.35, "name": "Louvre", "address": "Paris"},
    {"type": "channel", "payloads": {"telegram": {"method": "sendChatAction", "action": "typing"}}},
]


def config(sim: TelegramSimulator, api_url: str) -> dict[str, Any]:
    integration = {
        "channel": "telegram",
        "label": "main",
        "locale": "en-US",
        "bot_token": sim.bot_token,
        "secret_token": sim.secret_token,
        "api_base_url": api_url,
    }
    return {"integrations": [integration], "pipeline": {"poll_interval": 0.05, "max_backoff": 2}}


async def connected(gw: RunningGateway) -> TelegramChannel:
    channel = gw.gateway.channel("telegram", "main")
    assert isinstance(channel, TelegramChannel)
    await channel.connect()
    return channel


async def messages(gw: RunningGateway, chat: int = CHAT) -> list[Any]:
    conversation = await gw.store.conversations.find("telegram", "main", str(chat))
    rows = [] if conversation is None else list(await gw.store.outbox.rows(conversation["id"]))
    return [row for row in rows if row["kind"] == "message"]


async def settled(gw: RunningGateway, count: int, chat: int = CHAT) -> list[Any]:
    async def done() -> bool:
        return sum(row["status"] == "sent" for row in await messages(gw, chat)) >= count

    await wait_until(done, timeout=10)
    return await messages(gw, chat)


async def test_a_conversation_through_the_gateway(sim: TelegramSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        await connected(gw)
        assert sim.webhook["url"] == gw.webhook_url("telegram", "main")

        first = await sim.deliver(sim.text_update(CHAT, "hello"))
        assert first.status_code == 200
        assert (await sim.deliver(sim.last_delivery or b"")).status_code == 200  # a redelivery
        [reply] = await sim.wait_for_sends(1)
        assert reply.params["text"] == "You said: hello"
        [[yes, add]] = reply.params["reply_markup"]["inline_keyboard"]
        assert yes == {"text": "Yes", "callback_data": "YES"} and add["callback_data"].startswith("cg:")

        await sim.deliver(sim.callback_update(CHAT, yes["callback_data"], query_id="q-1"))
        await sim.deliver(sim.callback_update(CHAT, add["callback_data"], query_id="q-2"))
        sent = await sim.wait_for_sends(3)
        assert [s.params["text"] for s in sent[1:]] == ["You chose YES", f"You chose {LONG}"]
        assert sim.answered_callbacks() == ["q-1", "q-2"]  # the spinners stop
        assert [t.input for t in bot.turns] == [
            TextInput(text="hello"),
            PostbackInput(payload="YES", title="Yes"),
            PostbackInput(payload=LONG, title="Add"),  # back from the store, mapped at send time
        ]
        assert bot.turns[0].user.name == "Ann Lee" and bot.turns[0].locale == "en-US"
        await settled(gw, 3)
    assert len(sim.sent) == 3 and sim.rejected == []


async def test_wrong_and_missing_secrets_are_refused(sim: TelegramSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        await connected(gw)
        update = sim.text_update(CHAT, "hi")
        missing = await sim.deliver(update, signed=False)
        wrong = await sim.deliver(update, secret="guessed-secret")
        assert (missing.status_code, wrong.status_code) == (401, 403)
        assert sim.webhook["last_error_message"] == "Wrong response from the webhook: 403 Forbidden"
    assert bot.turns == [] and sim.sent == []


async def test_every_universal_type_is_accepted_by_the_bot_api(sim: TelegramSimulator, api_url: str) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw)
        await sim.deliver(sim.text_update(CHAT, "all"))
        await settled(gw, 9)  # the chat action too; paced: three at once, then one a second
    methods = [s.method for s in sim.sent]
    assert methods == [
        "sendMessage",  # text
        "sendPhoto",  # media with caption
        "sendDocument",
        "sendPhoto",  # card
        "sendMessage",  # carousel: one message per card
        "sendMessage",
        "sendMessage",  # list
        "sendVenue",  # location
    ]
    assert [c.params.get("action") for c in sim.calls if c.method == "sendChatAction"] == ["typing"]
    assert sim.rejected == []


async def test_flood_control_is_honoured_and_the_reply_sent_once(
    sim: TelegramSimulator, api_url: str
) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw)
        sim.fail_next(1, status=429, retry_after=1)
        started = time.time()
        await sim.deliver(sim.text_update(CHAT, "hi"))
        [reply] = await sim.wait_for_sends(1, timeout=10)
        assert reply.at - started >= 1.0  # not before Telegram's retry_after
        [row] = await settled(gw, 1)
        assert row["attempts"] == 2
    assert len(sim.sent) == 1


async def test_a_send_failing_with_5xx_is_retried_and_delivered_once(
    sim: TelegramSimulator, api_url: str
) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw)
        sim.fail_next(2, status=502)
        await sim.deliver(sim.text_update(CHAT, "hi"))
        [row] = await settled(gw, 1)
        assert row["status"] == "sent" and row["attempts"] == 3
    assert len(sim.sent) == 1


async def test_per_chat_pacing_keeps_a_burst_under_telegrams_flood_limit(
    sim: TelegramSimulator, api_url: str
) -> None:
    sim.chat_limit = (1.0, 3.0)  # Telegram's flood control, as the simulator models it
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw)
        await sim.deliver(sim.text_update(CHAT, "burst"))
        sent = await sim.wait_for_sends(5, timeout=10)
        await settled(gw, 5)
    assert [s.params["text"] for s in sent] == [f"part {i}" for i in range(5)]
    assert sim.flood_refused == 0  # paced, not refused
    assert sent[4].at - sent[0].at >= 1.5  # three at once, then one a second


async def test_a_blocked_bot_hears_about_it_as_an_event(sim: TelegramSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        await connected(gw)
        update = sim.my_chat_member_update(CHAT, "kicked")
        assert (await sim.deliver(update)).status_code == 200
        await wait_until(lambda: len(bot.turns) == 1)
    assert bot.turns[0].input == EventInput(name="my_chat_member", data=update["my_chat_member"])
