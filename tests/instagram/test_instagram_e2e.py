"""End to end through the real gateway over loopback: the simulator delivers signed ``instagram`` webhooks,
the gateway accepts them durably, the bot answers, the delivery worker sends through the channel, and the
simulator checks each send against Instagram's limits and records it. Redeliveries answered once, missing
and wrong signatures refused, every universal type accepted, throttling honoured, a 5xx retried and
delivered once, read receipts marking the reply read."""

from __future__ import annotations

import time
from typing import Any

from channelgate.bots.base import Bot
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.instagram import InstagramSimulator
from channelgate.turns import EventInput, PostbackInput, Reply, TextInput, Turn

IGSID = "1234567890123456"


class ShopBot(Bot):
    """Echoes text with two quick replies; answers a tap by naming its payload; "all" answers one message
    of every universal type."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        if isinstance(turn.input, PostbackInput):
            return Reply(messages=[f"You chose {turn.input.payload}"])
        if isinstance(turn.input, EventInput):
            return Reply(messages=[f"Event {turn.input.name}"])
        said = turn.input.text if isinstance(turn.input, TextInput) else turn.input.type
        if said == "all":
            return Reply(messages=EVERY_TYPE)
        quick = [
            {"type": "reply", "title": "Yes", "payload": "YES"},
            {"type": "reply", "title": "No", "payload": "NO"},
        ]
        return Reply(messages=[{"type": "text", "text": f"You said: {said}", "quick_replies": quick}])


EVERY_TYPE: list[dict[str, Any]] = [
    {"type": "text", "text": "Hello " * 300},
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
            {"type": "reply", "title": "Later", "payload": "LATER"},
        ],
    },
    {
        "type": "carousel",
        "cards": [{"type": "card", "title": f"Card {i}", "description": "d"} for i in range(11)],
    },
    {"type": "list", "text": "Pick", "items": [{"title": "A", "payload": "A", "description": "first"}]},
    {"type": "location", "latitude": 48.85, "longitude": 2.35, "name": "Louvre", "address": "Paris"},
    {"type": "channel", "payloads": {"instagram": {"text": "native"}}},
    {
        "type": "text",
        "text": "Choose",
        "quick_replies": [{"type": "reply", "title": f"Option {i}", "payload": f"O{i}"} for i in range(14)],
    },
]


def config(sim: InstagramSimulator, api_url: str) -> dict[str, Any]:
    integration = {
        "channel": "instagram",
        "label": "shop",
        "locale": "en-US",
        "verify_token": sim.verify_token,
        "app_secret": sim.app_secret,
        "access_token": sim.access_token,
        "instagram_account_id": sim.account_id,
        "api_base_url": api_url,
    }
    return {"integrations": [integration], "pipeline": {"poll_interval": 0.05, "max_backoff": 2}}


async def messages(gw: RunningGateway) -> list[Any]:
    conversation = await gw.store.conversations.find("instagram", "shop", IGSID)
    rows = [] if conversation is None else list(await gw.store.outbox.rows(conversation["id"]))
    return [row for row in rows if row["kind"] == "message"]


async def settled(gw: RunningGateway, count: int) -> list[Any]:
    async def done() -> bool:
        return sum(row["status"] in ("sent", "read") for row in await messages(gw)) >= count

    await wait_until(done, timeout=15)
    return await messages(gw)


async def test_a_conversation_through_the_gateway(sim: InstagramSimulator, api_url: str) -> None:
    bot = ShopBot()
    sim.profiles[IGSID] = {"name": "Ann Lee", "username": "ann.lee"}
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        url = gw.webhook_url("instagram", "shop")
        handshake = await sim.verify(url)
        assert (handshake.status_code, handshake.text) == (200, "1158201444")

        first = await sim.deliver(url, sim.text(IGSID, "hello"))
        assert (first.status_code, first.text) == (200, "EVENT_RECEIVED")
        assert (await sim.deliver(url, sim.last_delivery or b"")).status_code == 200  # a redelivery
        await sim.wait_for_sends(3)
        [reply] = sim.messages()
        assert reply.body["message"]["text"] == "You said: hello"
        assert [q["payload"] for q in reply.body["message"]["quick_replies"]] == ["YES", "NO"]
        assert [s.body.get("sender_action") for s in sim.sent[:2]] == ["mark_seen", "typing_on"]

        await sim.deliver(url, sim.quick_reply(IGSID, "Yes", "YES"))
        await sim.wait_for_sends(6)
        assert sim.messages()[1].body["message"]["text"] == "You chose YES"
        assert [t.input for t in bot.turns] == [
            TextInput(text="hello"),
            PostbackInput(payload="YES", title="Yes"),
        ]
        assert bot.turns[0].user.name == "Ann Lee"

        await sim.deliver(url, sim.read(IGSID, reply.message_id or ""))
        await sim.deliver(url, sim.echo(IGSID, "You said: hello"))  # skipped: not a turn

        async def read() -> bool:
            return (await messages(gw))[0]["status"] == "read"

        await wait_until(read)
    assert len(bot.turns) == 2 and sim.rejected == []


async def test_missing_and_wrong_signatures_are_refused(sim: InstagramSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        url = gw.webhook_url("instagram", "shop")
        payload = sim.text(IGSID, "hi")
        missing = await sim.deliver(url, payload, signed=False)
        wrong = await sim.deliver(url, payload, signature="sha256=" + "0" * 64)
        assert (missing.status_code, wrong.status_code) == (401, 403)
    assert bot.turns == [] and sim.sent == []


async def test_every_universal_type_is_accepted_by_instagram(sim: InstagramSimulator, api_url: str) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await sim.deliver(gw.webhook_url("instagram", "shop"), sim.text(IGSID, "all"))
        rows = await settled(gw, 13)
    assert sim.rejected == [] and all(row["status"] == "sent" for row in rows)
    bodies = [s.body["message"] for s in sim.messages()]
    kinds = [b["attachment"]["type"] if "attachment" in b else "text" for b in bodies]
    assert kinds == [
        "text",  # 1,800 characters: two messages
        "text",
        "image",
        "text",  # its caption
        "text",  # the file, as its link
        "template",  # the card
        "text",  # its call button
        "template",  # the carousel, 10 of 11 cards
        "text",  # the list's text
        "template",  # its item (with a description: not a quick reply)
        "text",  # the location
        "text",  # the channel-specific payload
        "text",  # 13 of 14 quick replies
    ]
    assert len(bodies[7]["attachment"]["payload"]["elements"]) == 10 and len(rows) == 13
    assert len(bodies[-1]["quick_replies"]) == 13


async def test_throttling_is_honoured_and_the_reply_sent_once(sim: InstagramSimulator, api_url: str) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        sim.fail_next(1, status=429, retry_after=1)
        started = time.time()
        await sim.deliver(gw.webhook_url("instagram", "shop"), sim.text(IGSID, "hi"))
        [row] = await settled(gw, 1)
        [reply] = sim.messages()
        assert reply.at - started >= 1.0  # not before Graph's Retry-After
        assert row["attempts"] == 2
    assert len(sim.messages()) == 1


async def test_a_send_failing_with_5xx_is_retried_and_delivered_once(
    sim: InstagramSimulator, api_url: str
) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        sim.fail_next(2, status=502)
        await sim.deliver(gw.webhook_url("instagram", "shop"), sim.text(IGSID, "hi"))
        [row] = await settled(gw, 1)
        assert row["status"] == "sent" and row["attempts"] == 3
    assert len(sim.messages()) == 1


async def test_a_story_mention_and_a_comment_reach_the_bot_as_events(
    sim: InstagramSimulator, api_url: str
) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        url = gw.webhook_url("instagram", "shop")
        mention = sim.attachment(IGSID, "story_mention", {"url": "https://lookaside.fbsbx.com/x"})
        assert (await sim.deliver(url, mention)).status_code == 200
        assert (await sim.deliver(url, sim.comment(IGSID, "ann.lee", "Nice!"))).status_code == 200
        await wait_until(lambda: len(bot.turns) == 2)
    assert [t.input.name for t in bot.turns if isinstance(t.input, EventInput)] == [
        "story_mention",
        "comments",
    ]
