"""End to end through the real gateway over loopback: ``connect`` sets the number's webhook in the simulator,
which posts signed incoming messages; the gateway accepts them durably, the bot answers, and the reply goes
back in the webhook's TwiML answer when the bot is quick, else through the Messages API, where the
simulator checks and records it. Numbered menus answered by number, redeliveries answered once, status
callbacks applied, Twilio's rate, 429 and 5xx honoured, a lost answer never texting the user twice."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import httpx

from channelgate.bots.base import Bot
from channelgate.channels.twilio import TwilioChannel
from channelgate.channels.twilio.signature import signature
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.twilio import TwilioSimulator
from channelgate.turns import MediaInput, PostbackInput, Reply, TextInput, Turn

USER = "+14155550100"
MENU = "1. Yes\n2. No\nReply with the number of your choice."


class ShopBot(Bot):
    """Echoes text with two quick replies; names a postback's payload; "all" answers every universal type;
    "burst" answers three texts."""

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
            return Reply(messages=[f"part {i}" for i in range(3)])
        quick = [
            {"type": "reply", "title": "Yes", "payload": "YES"},
            {"type": "reply", "title": "No", "payload": "NO"},
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
    {"type": "text", "text": "x" * 2000},
    {"type": "template", "name": "HX" + "0" * 32, "parameters": ["Ann"]},
    {"type": "channel", "payloads": {"twilio": {"Body": "raw", "ValidityPeriod": "600"}}},
]


def config(sim: TwilioSimulator, api_url: str, **more: Any) -> dict[str, Any]:
    integration = {
        "channel": "twilio",
        "label": "main",
        "locale": "en-US",
        "account_sid": sim.account_sid,
        "auth_token": sim.auth_token,
        "from_number": sim.phone_number,
        "api_base_url": api_url,
        **more,
    }
    return {"integrations": [integration], "pipeline": {"poll_interval": 0.05, "max_backoff": 2}}


async def connected(gw: RunningGateway, *, passive: bool = True) -> TwilioChannel:
    channel = gw.gateway.channel("twilio", "main")
    assert isinstance(channel, TwilioChannel)
    assert (await channel.connect()).connected
    if not passive:
        channel.passive_reply_budget = None  # every reply through the REST API
    return channel


async def messages(gw: RunningGateway, user: str = USER) -> list[Any]:
    conversation = await gw.store.conversations.find("twilio", "main", user)
    rows = [] if conversation is None else list(await gw.store.outbox.rows(conversation["id"]))
    return [row for row in rows if row["kind"] == "message"]


async def settled(gw: RunningGateway, count: int, status: str = "sent") -> list[Any]:
    async def done() -> bool:
        return sum(row["status"] == status for row in await messages(gw)) >= count

    await wait_until(done, timeout=15)
    return await messages(gw)


async def test_a_quick_reply_is_the_twiml_answer_and_its_number_picks_the_postback(
    sim: TwilioSimulator, api_url: str
) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        await connected(gw)
        assert sim.webhook_url == gw.webhook_url("twilio", "main")

        first = await sim.deliver(sim.incoming(USER, "hello"))
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/xml")
        assert sim.twiml[0].body == f"You said: hello\n{MENU}" and sim.twiml[0].to == USER
        again = await sim.deliver(sim.last_delivery or [])  # Twilio's retry of the same MessageSid
        assert again.status_code == 200 and again.text.endswith("<Response/>")

        await sim.deliver(sim.incoming(USER, "2"))
        await sim.deliver(sim.incoming(USER, "2"))  # that reply offered no menu: now it is just text
        await sim.deliver(sim.incoming(USER, " YES "))  # a title picks too
        assert [m.body for m in sim.twiml[1:]] == ["You chose NO", f"You said: 2\n{MENU}", "You chose YES"]
        assert [t.input for t in bot.turns] == [
            TextInput(text="hello"),
            PostbackInput(payload="NO", title="No"),
            TextInput(text="2"),
            PostbackInput(payload="YES", title="Yes"),
        ]
        rows = await settled(gw, 4)
        assert all(row["reason"] == "passive reply" for row in rows)
    assert sim.sent == [] and sim.webhook_errors == []


async def test_slow_replies_go_through_the_rest_api_with_status_callbacks(
    sim: TwilioSimulator, api_url: str
) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        await connected(gw, passive=False)
        answer = await sim.deliver(sim.incoming(USER, "hello"))
        assert answer.text.endswith("<Response/>")  # acknowledged, nothing texted back by TwiML
        [sent] = await sim.wait_for_sends(1)
        assert sent.params["From"] == sim.phone_number and sent.params["To"] == USER
        assert sent.params["StatusCallback"] == gw.webhook_url("twilio", "main")
        assert sent.body == f"You said: hello\n{MENU}"
        [row] = await settled(gw, 1)
        assert row["platform_message_id"] == sent.sid

        assert (await sim.status_callback(sent, "sent")).status_code == 200
        assert (await sim.status_callback(sent, "delivered")).status_code == 200
        await settled(gw, 1, status="delivered")

        await sim.deliver(sim.incoming(USER, "1"))  # the menu stored by send
        await sim.wait_for_sends(2)
        assert sim.sent[1].body == "You chose YES"
    assert sim.rejected == [] and sim.twiml == []


async def test_missing_and_wrong_signatures_are_refused(sim: TwilioSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        await connected(gw)
        form = sim.incoming(USER, "hi")
        missing = await sim.deliver(form, signed=False)
        wrong = await sim.deliver(form, token="another-accounts-token")
        changed = [(name, "changed" if name == "Body" else value) for name, value in form]
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature(sim.auth_token, sim.webhook_url, form),
        }
        async with httpx.AsyncClient() as client:
            tampered = await client.post(sim.webhook_url, content=urlencode(changed), headers=headers)
        assert (missing.status_code, wrong.status_code, tampered.status_code) == (401, 403, 403)
        assert (await sim.deliver(form)).status_code == 200
        await wait_until(lambda: len(bot.turns) == 1)
    assert bot.turns[0].input == TextInput(text="hi")


async def test_every_universal_type_is_accepted_by_the_messages_api(
    sim: TwilioSimulator, api_url: str
) -> None:
    async with run_gateway(config(sim, api_url, rate_limit=50), bot=ShopBot()) as gw:
        await connected(gw, passive=False)
        await sim.deliver(sim.incoming(USER, "all"))
        await settled(gw, 12)
    bodies = [s.params for s in sim.sent]
    assert [b.get("MediaUrl") for b in bodies[:4]] == [
        None,
        ["https://cdn.example/a.png"],
        ["https://cdn.example/a.pdf"],
        ["https://cdn.example/shoe.png"],
    ]
    assert bodies[3]["Body"] == (
        "Shoe\nSize 42\n1. Buy\nMore: https://shop.example\nCall: call +15551234567\n"
        "Reply with the number of your choice."
    )
    assert [b.get("Body") for b in bodies[4:6]] == ["One", "Two"]
    assert bodies[6]["Body"] == "Pick\n2. A (first)\nReply with the number of your choice."
    assert "https://www.google.com/maps/search/?api=1&query=48.85,2.35" in bodies[7]["Body"]
    assert [len(b["Body"]) for b in bodies[8:10]] == [1600, 400]  # split at Twilio's limit
    assert bodies[10]["ContentSid"] == "HX" + "0" * 32 and bodies[10]["ContentVariables"] == '{"1":"Ann"}'
    assert bodies[11]["Body"] == "raw" and bodies[11]["ValidityPeriod"] == "600"
    assert sim.rejected == []


async def test_twilios_rate_is_the_default_and_a_429_is_honoured(sim: TwilioSimulator, api_url: str) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw, passive=False)
        sim.fail_next(1, status=429, retry_after=1)
        started = time.time()
        await sim.deliver(sim.incoming(USER, "burst"))
        sent = await sim.wait_for_sends(3, timeout=15)
        rows = await settled(gw, 3)
    assert sent[0].at - started >= 1.0  # not before Twilio's Retry-After
    assert sent[2].at - sent[0].at >= 1.5  # one a second: a long code's rate
    assert [s.body for s in sent] == ["part 0", "part 1", "part 2"]
    assert rows[0]["attempts"] == 2 and sim.attempts.count(429) == 1


async def test_a_send_failing_with_5xx_is_retried_and_delivered_once(
    sim: TwilioSimulator, api_url: str
) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw, passive=False)
        sim.fail_next(2, status=500)
        await sim.deliver(sim.incoming(USER, "hi"))
        [row] = await settled(gw, 1)
        assert row["attempts"] == 3
    assert len(sim.sent) == 1


async def test_a_lost_answer_is_not_sent_twice(sim: TwilioSimulator, api_url: str) -> None:
    """Twilio has no idempotency key: the message was created but the answer was a 502. The retry finds the
    message in Twilio's list and does not send it again."""
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw, passive=False)
        sim.fail_next(1, status=502, accepted=True)
        await sim.deliver(sim.incoming(USER, "hi"))
        [row] = await settled(gw, 1)
        assert row["attempts"] == 2 and row["platform_message_id"] == sim.sent[0].sid
    assert len(sim.sent) == 1 and sim.attempts == [502]


async def test_an_unsubscribed_user_fails_the_message_at_once(sim: TwilioSimulator, api_url: str) -> None:
    sim.unsubscribed.add(USER)
    async with run_gateway(config(sim, api_url), bot=ShopBot()) as gw:
        await connected(gw, passive=False)
        await sim.deliver(sim.incoming(USER, "hi"))
        [row] = await settled(gw, 1, status="failed")
    assert row["attempts"] == 1 and "21610" in row["reason"]
    assert sim.sent == []


async def test_mms_media_reaches_the_bot_and_is_fetched_with_the_accounts_credentials(
    sim: TwilioSimulator, api_url: str
) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot) as gw:
        channel = await connected(gw)
        message_sid = "MM" + "1" * 32
        media_sid = sim.add_media(b"\x89PNG...", "image/png", message_sid)
        form = sim.incoming(
            USER, "look", media=[(sim.media_url(api_url, media_sid), "image/png")], message_sid=message_sid
        )
        await sim.deliver(form)
        await wait_until(lambda: len(bot.turns) == 1)
        turn_input = bot.turns[0].input
        assert turn_input == MediaInput(
            kind="image", media_id=f"{message_sid}-{media_sid}", mime_type="image/png", caption="look"
        )
        media = await channel.download_media(f"{message_sid}-{media_sid}")
    assert (media.content, media.mime_type) == (b"\x89PNG...", "image/png")
