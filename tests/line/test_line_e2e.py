"""End to end through the real gateway over loopback: ``connect`` sets the simulator's webhook endpoint and
LINE's webhook test reaches the gateway; the simulator posts signed webhooks, the gateway accepts them
durably, the bot answers, the delivery worker sends through the channel, and the simulator checks and
records what arrives. A redelivery is answered once, throttling is honoured, and a push retried after a
5xx is delivered once thanks to its retry key."""

from __future__ import annotations

import time
from typing import Any

import httpx

from channelgate.bots.base import Bot
from channelgate.channels.line import LineChannel
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.line import LineSimulator
from channelgate.turns import EventInput, PostbackInput, Reply, TextInput, Turn

USER = "U206d25c2ea6bd87c17655609a1c37cb8"

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
    {"type": "location", "latitude": 35.68, "longitude": 139.76, "name": "Tokyo Station", "address": "Tokyo"},
    {"type": "channel", "payloads": {"line": {"type": "sticker", "packageId": "446", "stickerId": "1988"}}},
]


class ShopBot(Bot):
    """Echoes text with two quick replies; answers a tap by naming its payload; "all" answers one message of
    every universal type."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        if isinstance(turn.input, PostbackInput):
            return Reply(messages=[f"You chose {turn.input.payload}"])
        said = turn.input.text if isinstance(turn.input, TextInput) else turn.input.type
        if said == "all":
            return Reply(messages=EVERY_TYPE)
        quick = [
            {"type": "reply", "title": "Yes", "payload": "YES"},
            {"type": "reply", "title": "No", "payload": "NO"},
        ]
        return Reply(messages=[{"type": "text", "text": f"You said: {said}", "quick_replies": quick}])


def config(sim: LineSimulator, api_url: str) -> dict[str, Any]:
    integration = {
        "channel": "line",
        "label": "main",
        "locale": "en-US",
        "channel_secret": sim.channel_secret,
        "channel_access_token": sim.access_token,
        "api_base_url": api_url,
    }
    return {"integrations": [integration], "pipeline": {"poll_interval": 0.05, "max_backoff": 2}}


async def connected(gw: RunningGateway, sim: LineSimulator) -> LineChannel:
    channel = gw.gateway.channel("line", "main")
    assert isinstance(channel, LineChannel)
    result = await channel.connect()
    assert result.connected, result.detail
    assert sim.webhook["endpoint"] == gw.webhook_url("line", "main")
    return channel


async def rows(gw: RunningGateway, user: str = USER) -> list[Any]:
    conversation = await gw.store.conversations.find("line", "main", user)
    found = [] if conversation is None else list(await gw.store.outbox.rows(conversation["id"]))
    return [row for row in found if row["kind"] == "message"]


async def settled(gw: RunningGateway, count: int, user: str = USER) -> list[Any]:
    async def done() -> bool:
        return sum(row["status"] == "sent" for row in await rows(gw, user)) >= count

    await wait_until(done, timeout=10)
    return await rows(gw, user)


def without_reply_token(event: dict[str, Any]) -> dict[str, Any]:
    """The event as if the turn were slow: no usable reply token, so the reply is pushed."""
    return {k: v for k, v in event.items() if k != "replyToken"}


async def test_a_conversation_redelivery_answered_once(sim: LineSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        await connected(gw, sim)
        event = sim.text_event(USER, "hello")
        assert (await sim.deliver([event])).status_code == 200
        assert (await sim.redeliver(event)).status_code == 200  # same webhookEventId, isRedelivery
        [reply] = await sim.wait_for_sends(1)
        assert (reply.endpoint, reply.to) == ("reply", event["replyToken"])
        assert reply.messages[0]["text"] == "You said: hello"
        [yes, _] = reply.messages[0]["quickReply"]["items"]
        assert yes["action"] == {"type": "postback", "label": "Yes", "data": "YES", "displayText": "Yes"}

        await sim.deliver([sim.postback_event(USER, "YES")])
        sent = await sim.wait_for_sends(2)
        assert sent[1].messages == [{"type": "text", "text": "You chose YES"}]
        await settled(gw, 2)
    assert [t.input for t in bot.turns] == [TextInput(text="hello"), PostbackInput(payload="YES")]
    assert len(sim.sent) == 2 and sim.rejected == []


async def test_missing_and_wrong_signatures_are_refused(sim: LineSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        await connected(gw, sim)
        event = sim.text_event(USER, "hi")
        missing = await sim.deliver([event], signed=False)
        wrong = await sim.deliver([event], secret="guessed-secret")
        assert (missing.status_code, wrong.status_code) == (401, 403)
    assert bot.turns == [] and sim.sent == []


async def test_every_universal_type_is_accepted_by_line(sim: LineSimulator, api_url: str) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw, sim)
        await sim.deliver([sim.text_event(USER, "all")])
        await settled(gw, 3)
    assert sim.rejected == []
    assert [s.endpoint for s in sim.sent] == ["reply", "push", "push"]  # five, the list's, the rest
    kinds = [m["type"] for s in sim.sent for m in s.messages]
    assert kinds == ["text", "image", "text", "text", "flex", "flex", "text", "location", "sticker"]


async def test_throttling_is_honoured_and_the_reply_sent_once(sim: LineSimulator, api_url: str) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw, sim)
        sim.fail_next(
            1, status=429, message="The API rate limit has been exceeded. Try again later.", retry_after=1
        )
        started = time.time()
        await sim.deliver([sim.text_event(USER, "hi")])
        [reply] = await sim.wait_for_sends(1, timeout=10)
        assert reply.at - started >= 1.0  # not before LINE's hint
        [row] = await settled(gw, 1)
        assert row["attempts"] == 2
    assert [s.endpoint for s in sim.sent] == ["reply"]


async def test_a_push_retried_after_a_5xx_is_delivered_once(sim: LineSimulator, api_url: str) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw, sim)
        sim.fail_next(1, status=500, after_accepting=True)  # LINE took it, the answer was lost
        await sim.deliver([without_reply_token(sim.text_event(USER, "hi"))])
        [row] = await settled(gw, 1)
        assert row["status"] == "sent" and row["attempts"] == 2
    [push] = sim.sent
    assert push.endpoint == "push" and push.retry_key is not None
    assert sim.rejected == []


async def test_a_reply_failing_with_5xx_is_pushed_once(sim: LineSimulator, api_url: str) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw, sim)
        sim.fail_next(2, status=503, message="Service unavailable")
        await sim.deliver([sim.text_event(USER, "hi")])
        [row] = await settled(gw, 1)
        assert row["attempts"] == 3
    assert [s.endpoint for s in sim.sent] == ["push"]


async def test_follow_and_group_events_reach_the_bot(sim: LineSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        await connected(gw, sim)
        await sim.deliver([sim.follow_event(USER, unblocked=True), sim.join_event("Cgroup1")])
        await wait_until(lambda: len(bot.turns) == 2)
        await settled(gw, 1, user="Cgroup1")
    assert sorted((t.user.id, t.input) for t in bot.turns) == [  # type: ignore[type-var]
        ("Cgroup1", EventInput(name="join", data={})),
        (USER, EventInput(name="follow", data={"follow": {"isUnblocked": True}})),
    ]


async def test_the_simulators_say_and_sent_routes_talk_to_the_gateway(
    sim: LineSimulator, api_url: str
) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw, sim)
        async with httpx.AsyncClient(timeout=5) as client:
            said = await client.post(f"{api_url}/_sim/say", json={"text": "hi from curl", "user": USER})
            assert said.json() == {"status": 200}
            await sim.wait_for_sends(1)
            sent = (await client.get(f"{api_url}/_sim/sent")).json()
            nowhere = await client.post(f"{api_url}/_sim/say", json={"webhook": "http://127.0.0.1:9/x"})
    assert sent[0]["messages"][0]["text"] == "You said: hi from curl"
    assert nowhere.status_code == 502


async def test_the_integrations_rate_limit_keeps_a_burst_under_lines_limit(
    sim: LineSimulator, api_url: str
) -> None:
    """Ten users at once, an integration limited to 4 sends a second, LINE (the simulator) refusing more
    than 4 a second with a burst of 5: every reply goes out, none is refused, spread over the seconds."""
    sim.rate_limit = (4.0, 5.0)
    settings = config(sim, api_url)
    settings["integrations"][0]["rate_limit"] = 4
    users = [f"U{i:032d}" for i in range(10)]
    async with run_gateway(settings, bot=ShopBot()) as gw:
        await connected(gw, sim)
        await sim.deliver([sim.text_event(user, "hi") for user in users])
        sent = await sim.wait_for_sends(10, timeout=15)
    assert sim.throttled == 0 and len(sim.sent) == 10 and {s.endpoint for s in sent} == {"reply"}
    assert sent[-1].at - sent[0].at >= 1.2  # four at once, then four a second
