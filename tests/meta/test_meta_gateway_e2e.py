"""End to end through the real gateway, over loopback: the simulator delivers signed webhooks, the gateway
accepts them durably, the bot answers, the delivery worker sends through the channel, and the simulator checks
and records what arrives. Failure injection shows retries after Retry-After, template fallbacks, failed states
with their reasons, health turning red and back, and no duplicate sends."""

from __future__ import annotations

from typing import Any

import httpx

from channelgate.bots.base import Bot
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from channelgate.turns import PostbackInput, Reply, TextInput, Turn

WA_ID = "16505551234"
FALLBACK = {"name": "we_miss_you", "language": "en_US", "parameters": ["Ann"]}


class EchoBot(Bot):
    """Echoes what it gets with two quick replies; "late" answers carry a template fallback."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        if isinstance(turn.input, PostbackInput):
            return Reply(messages=[f"You chose {turn.input.payload}"])
        said = turn.input.text if isinstance(turn.input, TextInput) else turn.input.type
        message: dict[str, Any] = {
            "type": "text",
            "text": f"You said: {said}",
            "quick_replies": [
                {"type": "reply", "title": "Yes", "payload": "YES"},
                {"type": "reply", "title": "No", "payload": "NO"},
            ],
        }
        if said == "late":
            message["options"] = {"template_fallback": FALLBACK}
        return Reply(messages=[message])


def config(kind: str, sim: GraphSimulator, api: str) -> dict[str, Any]:
    integration: dict[str, Any] = {
        "channel": kind,
        "label": "shop",
        "locale": "en-US",
        "verify_token": sim.verify_token,
        "app_secret": sim.app_secret,
        "api_base_url": api,
    }
    if kind == "messenger":
        integration["page_access_token"] = sim.access_token
    else:
        integration.update(access_token=sim.access_token, phone_number_id=sim.phone_number_id)
    return {"integrations": [integration], "pipeline": {"poll_interval": 0.05, "max_backoff": 2}}


async def outbox(gw: RunningGateway, kind: str, user: str) -> list[Any]:
    conversation = await gw.store.conversations.find(kind, "shop", user)
    return [] if conversation is None else list(await gw.store.outbox.rows(conversation["id"]))


async def messages(gw: RunningGateway, kind: str, user: str) -> list[Any]:
    return [row for row in await outbox(gw, kind, user) if row["kind"] == "message"]


async def settled(gw: RunningGateway, kind: str, user: str, count: int = 1) -> list[Any]:
    """The conversation's messages once ``count`` of them are marked sent (the simulator records a send
    before the gateway hears the answer, so the store lags it by a moment)."""

    async def done() -> bool:
        return sum(row["status"] == "sent" for row in await messages(gw, kind, user)) >= count

    await wait_until(done)
    return await messages(gw, kind, user)


async def test_messenger_conversation_through_the_gateway(sim: GraphSimulator, graph_url: str) -> None:
    bot = EchoBot()
    sim.profiles["PSID_1"] = {"first_name": "Ann", "last_name": "Lee", "locale": "fr_FR"}
    async with run_gateway(config("messenger", sim, graph_url), bot=bot) as gw:
        url = gw.webhook_url("messenger", "shop")
        verified = await sim.verify(url, challenge="8675309")
        assert (verified.status_code, verified.text) == (200, "8675309")

        first = await sim.deliver(url, sim.messenger_text("PSID_1", "hello"))
        assert (first.status_code, first.text) == (200, "EVENT_RECEIVED")
        assert (await sim.deliver(url, sim.last_delivery)).status_code == 200  # a redelivery
        seen, typing, reply = await sim.wait_for_sends(3)
        assert [seen.body.get("sender_action"), typing.body.get("sender_action")] == [
            "mark_seen",
            "typing_on",
        ]
        assert reply.body["messaging_type"] == "RESPONSE"
        assert reply.body["message"]["text"] == "You said: hello"
        assert [q["payload"] for q in reply.body["message"]["quick_replies"]] == ["YES", "NO"]

        await sim.deliver(url, sim.messenger_quick_reply("PSID_1", "Yes", "YES"))
        sent = await sim.wait_for_sends(6)
        assert sent[5].body["message"] == {"text": "You chose YES"}  # nothing in between: no duplicate turn
        assert [t.input for t in bot.turns] == [
            TextInput(text="hello"),
            PostbackInput(payload="YES", title="Yes"),
        ]
        assert bot.turns[0].user.name == "Ann Lee"

        await settled(gw, "messenger", "PSID_1", 2)
        watermark = int(sent[5].at * 1000) + 1000
        assert (await sim.deliver(url, sim.messenger_read("PSID_1", watermark))).status_code == 200

        async def all_read() -> bool:
            return [r["status"] for r in await messages(gw, "messenger", "PSID_1")] == ["read", "read"]

        await wait_until(all_read)
    assert len(sim.sent) == 6


async def test_gateway_refuses_unsigned_and_forged_webhooks(sim: GraphSimulator, graph_url: str) -> None:
    bot = EchoBot()
    async with run_gateway(config("whatsapp", sim, graph_url), bot=bot) as gw:
        url = gw.webhook_url("whatsapp", "shop")
        payload = sim.whatsapp_text(WA_ID, "hi")
        assert (await sim.deliver(url, payload, signed=False)).status_code == 401
        assert (await sim.deliver(url, payload, signature="sha256=" + "0" * 64)).status_code == 403
        assert (await sim.verify(url, verify_token="guess")).status_code == 403
    assert bot.turns == [] and sim.sent == []


async def test_whatsapp_throttling_is_retried_after_retry_after_without_duplicates(
    sim: GraphSimulator, graph_url: str
) -> None:
    bot = EchoBot()
    async with run_gateway(config("whatsapp", sim, graph_url), bot=bot) as gw:
        sim.fail_next(1, code=130429, retry_after=0.3)
        await sim.deliver(
            gw.webhook_url("whatsapp", "shop"), sim.whatsapp_text(WA_ID, "hola", wamid="wamid.IN1")
        )
        # the read mark rides on the reply's row: tried again, still fresh, before the retried reply
        read, again, reply = await sim.wait_for_sends(3)
        assert (
            read.body
            == again.body
            == {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": "wamid.IN1",
                "typing_indicator": {"type": "text"},
            }
        )
        assert reply.body["to"] == WA_ID and reply.body["type"] == "interactive"
        [row] = await settled(gw, "whatsapp", WA_ID)
        assert (row["attempts"], row["platform_message_id"]) == (2, reply.message_id)
        assert reply.at - read.at >= 0.3  # the platform's hint was honoured
    assert len(sim.sent) == 3


async def test_whatsapp_window_error_sends_the_template_fallback(sim: GraphSimulator, graph_url: str) -> None:
    async with run_gateway(config("whatsapp", sim, graph_url), bot=EchoBot()) as gw:
        sim.fail_next(1, code=131047)
        await sim.deliver(gw.webhook_url("whatsapp", "shop"), sim.whatsapp_text(WA_ID, "late"))
        _, _, template = await sim.wait_for_sends(3)  # the read mark, again before the fallback
        assert template.body["template"] == {
            "name": "we_miss_you",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}],
        }
        [row] = await settled(gw, "whatsapp", WA_ID)
        assert (row["body"], row["fallback"]) == (template.body, None)
    assert len(sim.sent) == 3  # the refused message was replaced, never sent twice


async def test_whatsapp_window_error_without_fallback_is_a_visible_failure(
    sim: GraphSimulator, graph_url: str
) -> None:
    async with run_gateway(config("whatsapp", sim, graph_url), bot=EchoBot()) as gw:
        sim.fail_next(1, code=131047)
        await sim.deliver(gw.webhook_url("whatsapp", "shop"), sim.whatsapp_text(WA_ID, "hi"))

        async def failed() -> bool:
            rows = await messages(gw, "whatsapp", WA_ID)
            return bool(rows) and rows[0]["status"] == "failed"

        await wait_until(failed)
        [row] = await messages(gw, "whatsapp", WA_ID)
        assert row["reason"].startswith(
            "Graph API error 131047: Re-engagement message (Message failed to send"
        )
        assert row["attempts"] == 1
    assert [s.body.get("status") for s in sim.sent] == ["read"]


async def test_invalid_token_turns_health_red_and_the_message_waits(
    sim: GraphSimulator, graph_url: str
) -> None:
    settings = config("whatsapp", sim, graph_url)
    settings["pipeline"]["credentials_probe_interval"] = 0.3  # the paused integration's probe
    async with run_gateway(settings, bot=EchoBot()) as gw:
        channel = gw.gateway.channel("whatsapp", "shop")
        assert channel is not None
        sim.fail_next(1, code=190)
        await sim.deliver(gw.webhook_url("whatsapp", "shop"), sim.whatsapp_text(WA_ID, "hi"))
        await wait_until(lambda: channel.ctx.health.status == "failing")
        assert (
            "access_token" in channel.ctx.health.message
            and sim.access_token not in channel.ctx.health.message
        )
        await sim.wait_for_sends(2)  # the read mark, then the retried message once the token works again
        await wait_until(lambda: channel.ctx.health.status == "ok")
        [row] = await settled(gw, "whatsapp", WA_ID)
        assert row["attempts"] == 1  # the refused try paused the integration and used up no try


async def test_whatsapp_user_with_only_a_bsuid_and_a_failed_status(
    sim: GraphSimulator, graph_url: str
) -> None:
    bsuid = "US.13491208655302741918"
    async with run_gateway(config("whatsapp", sim, graph_url), bot=EchoBot()) as gw:
        url = gw.webhook_url("whatsapp", "shop")
        await sim.deliver(url, sim.whatsapp_text(None, "hello", user_id=bsuid, name="Sheena"))
        _, reply = await sim.wait_for_sends(2)
        assert reply.body["recipient"] == bsuid and "to" not in reply.body
        await settled(gw, "whatsapp", bsuid)

        errors = [
            {"code": 131026, "title": "Message undeliverable", "error_data": {"details": "unreachable"}}
        ]
        status = sim.whatsapp_status(str(reply.message_id), "failed", "", errors=errors)
        assert (await sim.deliver(url, status)).status_code == 200

        async def failed() -> bool:
            return (await messages(gw, "whatsapp", bsuid))[0]["status"] == "failed"

        await wait_until(failed)
        [row] = await messages(gw, "whatsapp", bsuid)
        assert row["reason"] == "131026: Message undeliverable (unreachable)"


async def test_media_a_user_sent_is_downloaded_through_the_channel(
    sim: GraphSimulator, graph_url: str
) -> None:
    bot = EchoBot()
    sim.add_media("2754859441498128", b"\xff\xd8 a jpeg", "image/jpeg")
    async with run_gateway(config("whatsapp", sim, graph_url), bot=bot) as gw:
        await sim.deliver(gw.webhook_url("whatsapp", "shop"), sim.whatsapp_image(WA_ID, "2754859441498128"))
        await sim.wait_for_sends(2)
        media_input = bot.turns[0].input
        assert media_input.type == "media" and media_input.url is None
        channel = gw.gateway.channel("whatsapp", "shop")
        assert channel is not None
        media = await channel.download_media(str(media_input.media_id))
        assert (media.content, media.mime_type) == (b"\xff\xd8 a jpeg", "image/jpeg")


async def test_simulator_as_a_standalone_server_reaches_the_gateway(sim: GraphSimulator) -> None:
    """What ``channelgate simulate`` serves: the control API delivers as a user would."""
    async with serve_app(sim.app) as sim_url, httpx.AsyncClient() as client:
        async with run_gateway(config("messenger", sim, sim.api_base_url(sim_url)), bot=EchoBot()) as gw:
            hook = gw.webhook_url("messenger", "shop")
            said = await client.post(f"{sim_url}/_sim/say", json={"webhook": hook, "text": "hi"})
            assert said.json() == {"status": 200, "body": "EVENT_RECEIVED"}
            await sim.wait_for_sends(3)
        sent = (await client.get(f"{sim_url}/_sim/sent")).json()
    assert sent[-1]["body"]["message"]["text"] == "You said: hi"
