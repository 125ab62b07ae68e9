"""End to end through the real gateway over loopback: the simulator posts signed requests as Slack does,
the gateway accepts them durably, the bot answers, the delivery worker sends through the channel, and the
simulator checks and records what arrives. The challenge, forged and stale requests refused, Slack's retries
answered once, button clicks, every universal type, throttling and 5xx retried without duplicates."""

from __future__ import annotations

import time
from typing import Any

from channelgate.bots.base import Bot
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.slack import SlackSimulator
from channelgate.turns import EventInput, PostbackInput, Reply, TextInput, Turn

from .kit import registry
from .test_slack_render import EVERY_TYPE

DM = "D0SIMUSER"


class ShopBot(Bot):
    """Echoes text with two quick replies; names a tapped payload; "all" answers every universal type;
    "burst" answers five texts."""

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
            return Reply(messages=[f"part {i}" for i in range(6)])
        quick = [
            {"type": "reply", "title": "Yes", "payload": "YES"},
            {"type": "reply", "title": "No", "payload": "NO"},
        ]
        return Reply(messages=[{"type": "text", "text": f"You said: {said}", "quick_replies": quick}])


def config(sim: SlackSimulator, api_url: str, **extra: Any) -> dict[str, Any]:
    integration = {
        "channel": "slack",
        "label": "main",
        "locale": "en-US",
        "signing_secret": sim.signing_secret,
        "bot_token": sim.bot_token,
        "api_base_url": api_url,
        **extra,
    }
    return {"integrations": [integration], "pipeline": {"poll_interval": 0.05, "max_backoff": 2}}


async def messages(gw: RunningGateway, user: str = DM) -> list[Any]:
    conversation = await gw.store.conversations.find("slack", "main", user)
    rows = [] if conversation is None else await gw.store.outbox.rows(conversation["id"])
    return [row for row in rows if row["kind"] == "message"]


async def settled(gw: RunningGateway, count: int, user: str = DM) -> list[Any]:
    async def done() -> bool:
        return sum(bool(row["status"] == "sent") for row in await messages(gw, user)) >= count

    await wait_until(done, timeout=10)
    return await messages(gw, user)


async def test_a_conversation_through_the_gateway(sim: SlackSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot, registry=registry()) as gw:
        url = gw.webhook_url("slack", "main")
        answer = await sim.deliver(
            url, sim.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        )
        assert (answer.status_code, answer.json()) == (
            200,
            {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
        )

        first = await sim.deliver(url, sim.message(DM, "hello"))
        assert (first.status_code, first.text) == (200, "")
        again = await sim.redeliver(url, 1, "http_timeout")  # Slack's retry: same event_id, answered once
        assert again.status_code == 200
        (reply,) = await sim.wait_for_sends(1)
        assert reply.body["text"] == "You said: hello" and reply.body["channel"] == DM
        assert "thread_ts" not in reply.body

        # the bot's own reply comes back in its DM as a message event with a bot_id: never answered
        echo = sim.message(DM, "You said: hello", bot_id=sim.bot_id, user=sim.bot_user_id)
        assert (await sim.deliver(url, echo)).status_code == 200

        await sim.click(url, sim.button(DM, reply, "YES"))
        sent = await sim.wait_for_sends(2)
        assert sent[1].body["text"] == "You chose YES"
        await settled(gw, 2)
    assert [t.input for t in bot.turns] == [
        TextInput(text="hello"),
        PostbackInput(payload="YES", title="Yes"),
    ]
    assert bot.turns[1].user.name == "sim.user"
    assert len(sim.sent) == 2 and sim.rejected == []


async def test_forged_unsigned_and_stale_requests_are_refused(sim: SlackSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot, registry=registry()) as gw:
        url = gw.webhook_url("slack", "main")
        body = sim.message(DM, "hi")
        assert (await sim.deliver(url, body, signed=False)).status_code == 401
        assert (await sim.deliver(url, body, signature="v0=" + "0" * 64)).status_code == 403
        stale = str(int(time.time()) - 301)
        assert (await sim.deliver(url, body, timestamp=stale)).status_code == 403
        challenge = sim.url_verification("abc")
        assert (await sim.deliver(url, challenge, signed=False)).status_code == 401
        assert (await sim.deliver(url, b"{broken", signed=True)).status_code == 400
    assert bot.turns == [] and sim.sent == []


async def test_every_universal_type_reaches_slack_within_its_limits(
    sim: SlackSimulator, api_url: str
) -> None:
    sim.channel_rate = None  # this test is about rendering; pacing has its own
    async with run_gateway(config(sim, api_url), bot=ShopBot(), registry=registry()) as gw:
        await sim.deliver(gw.webhook_url("slack", "main"), sim.message(DM, "all"))
        sent = await sim.wait_for_sends(len(EVERY_TYPE), timeout=10)
        await settled(gw, len(EVERY_TYPE))
    assert sim.rejected == []
    assert [s.body.get("blocks", [{}])[0].get("type") for s in sent][:5] == [
        None,
        "image",
        None,
        "section",
        "section",
    ]


async def test_mentions_in_a_channel_are_answered_in_their_thread(sim: SlackSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url, reply_in_thread=True), bot=bot, registry=registry()) as gw:
        mention = sim.mention("C0GENERAL", "status?")
        await sim.deliver(gw.webhook_url("slack", "main"), mention)
        (reply,) = await sim.wait_for_sends(1)
        await settled(gw, 1, "C0GENERAL")
    assert bot.turns[0].input == TextInput(text="status?")
    assert reply.body["channel"] == "C0GENERAL" and reply.body["thread_ts"] == mention["event"]["ts"]


async def test_slash_commands_and_other_events_reach_the_bot(sim: SlackSimulator, api_url: str) -> None:
    bot = ShopBot()
    async with run_gateway(config(sim, api_url), bot=bot, registry=registry()) as gw:
        url = gw.webhook_url("slack", "main")
        answer = await sim.deliver(url, sim.command(DM, "/order", "pizza"), form=True)
        assert (answer.status_code, answer.text) == (200, "")
        home = sim.envelope(
            {"type": "app_home_opened", "user": "U0SIMUSER", "channel": DM, "tab": "messages"}
        )
        await sim.deliver(url, home)
        await sim.wait_for_sends(2)
    command, opened = (t.input for t in bot.turns)
    assert isinstance(command, EventInput) and command.name == "slash_command"
    assert command.data is not None and (command.data["command"], command.data["text"]) == ("/order", "pizza")
    assert opened == EventInput(name="app_home_opened", data=home["event"])


async def test_slacks_pace_is_honoured_per_channel(sim: SlackSimulator, api_url: str) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot(), registry=registry()) as gw:
        await sim.deliver(gw.webhook_url("slack", "main"), sim.message(DM, "burst"))
        sent = await sim.wait_for_sends(6, timeout=15)
        await settled(gw, 6)
    assert sim.throttled == 0  # the channel's pacing kept under Slack's: no 429 was needed
    assert [s.body["text"] for s in sent] == [f"part {i}" for i in range(6)]
    assert sent[5].at - sent[0].at >= 2.5  # a burst of three, then about one a second


async def test_ratelimited_and_5xx_are_retried_and_delivered_once(sim: SlackSimulator, api_url: str) -> None:
    async with run_gateway(config(sim, api_url), bot=ShopBot(), registry=registry()) as gw:
        url = gw.webhook_url("slack", "main")
        sim.fail_next(1, error="ratelimited", retry_after=1)
        started = time.monotonic()
        await sim.deliver(url, sim.message(DM, "one"))
        await sim.wait_for_sends(1, timeout=10)
        assert time.monotonic() - started >= 0.9  # Retry-After honoured
        sim.fail_next(1, error="internal", status=500)  # refused before posting: the retry is the only post
        await sim.deliver(url, sim.message(DM, "two"))
        sent = await sim.wait_for_sends(2, timeout=10)
        rows = await settled(gw, 2)
    assert [s.body["text"] for s in sent] == ["You said: one", "You said: two"]
    assert [row["attempts"] for row in rows] == [2, 2]
    assert len(sim.sent) == 2
