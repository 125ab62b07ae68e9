"""End to end over loopback: the simulator delivers signed webhooks to a running gateway, a bot answers,
and the reply comes back to the simulator through OAuth and the agent APIs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from channelgate.bots.base import Bot
from channelgate.channels.google.credentials import load_service_account
from channelgate.testing import google as google_sim
from channelgate.testing.gateway import run_gateway, wait_until
from channelgate.testing.google import GoogleAgentSimulator
from channelgate.turns import PostbackInput, Reply, TextInput, Turn

from .kit import CLIENT_TOKEN, MSISDN


class EchoBot(Bot):
    """Echoes text and postbacks, offering one suggestion; remembers the turns it saw."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        said = turn.input.text if isinstance(turn.input, TextInput) else getattr(turn.input, "payload", "?")
        return Reply(
            messages=[
                {
                    "type": "text",
                    "text": f"echo: {said}",
                    "quick_replies": [{"type": "reply", "title": "Again", "payload": "again"}],
                }
            ]
        )


def config(channel: str, sim_url: str, key_json: str) -> dict[str, Any]:
    integration: dict[str, Any] = {
        "channel": channel,
        "label": "shop",
        "locale": "en-US",
        "client_token": CLIENT_TOKEN,
        "service_account": key_json,
        "api_base_url": f"{sim_url}/v1",
    }
    if channel == "rbm":
        integration["agent_id"] = "sim-agent"
    return {"integrations": [integration], "pipeline": {"poll_interval": 0.05}}


async def test_gbm_conversation_end_to_end(sim: GoogleAgentSimulator, sim_url: str, key_json: str) -> None:
    bot = EchoBot()
    async with run_gateway(config("gbm", sim_url, key_json), bot=bot) as gw:
        url = gw.webhook_url("gbm", "shop")
        verified = await sim.verify_webhook(url, secret="s3cret")
        assert (verified.status_code, verified.text) == (200, "s3cret")
        assert (await sim.verify_webhook(url, form=True, secret="f0rm")).text == "f0rm"

        event = sim.gbm_text("conv-42", "hello", locale="fr-FR", display_name="Ann")
        answer = await sim.deliver(url, event)
        assert answer.status_code == 200
        again = await sim.deliver(url, event)  # Google redelivers: answered, not processed twice
        assert again.status_code == 200

        [reply] = await sim.wait_for_sends(1)
        assert reply.target == "conv-42"
        assert reply.body["text"] == "echo: hello"
        assert reply.body["suggestions"] == [{"reply": {"text": "Again", "postbackData": "again"}}]
        assert reply.body["fallback"]
        await wait_until(lambda: len(sim.events) == 2)
        assert [e.body["eventType"] for e in sim.events] == ["TYPING_STARTED", "TYPING_STOPPED"]

        tap = sim.gbm_suggestion("conv-42", "again", "Again", message_id=reply.id)
        assert (await sim.deliver(url, tap)).status_code == 200
        await sim.wait_for_sends(2)
        assert sim.sent[1].body["text"] == "echo: again"
        assert bot.turns[1].input == PostbackInput(payload="again", title="Again")

        receipts = sim.gbm_receipts("conv-42", [(reply.id, "READ")])
        assert (await sim.deliver(url, receipts)).status_code == 200

        assert len(bot.turns) == 2
        assert bot.turns[0].user.id == "conv-42"
        assert len(sim.token_requests) == 1


async def test_gbm_gateway_refuses_unsigned_and_forged_webhooks(
    sim: GoogleAgentSimulator, sim_url: str, key_json: str
) -> None:
    bot = EchoBot()
    async with run_gateway(config("gbm", sim_url, key_json), bot=bot) as gw:
        url = gw.webhook_url("gbm", "shop")
        event = sim.gbm_text("conv-1", "hi")
        assert (await sim.deliver(url, event, signature="")).status_code == 401
        assert (await sim.deliver(url, event, client_token="guessed")).status_code == 403
        assert (await sim.verify_webhook(url, client_token="guessed")).status_code == 403
    assert bot.turns == []
    assert sim.sent == []


async def test_rbm_conversation_end_to_end(sim: GoogleAgentSimulator, sim_url: str, key_json: str) -> None:
    bot = EchoBot()
    async with run_gateway(config("rbm", sim_url, key_json), bot=bot) as gw:
        url = gw.webhook_url("rbm", "shop")
        assert (await sim.verify_webhook(url, secret="abc")).text == "abc"
        event = sim.rbm_text(MSISDN, "hello", message_id="user-msg-1")
        assert (await sim.deliver(url, event, api="rbm")).status_code == 200

        [reply] = await sim.wait_for_sends(1)
        assert (reply.api, reply.target) == ("rbm", MSISDN)
        assert reply.body["contentMessage"]["text"] == "echo: hello"
        assert reply.params["agentId"] == "sim-agent"
        await wait_until(lambda: len(sim.events) == 2)
        assert sim.events[0].body == {"eventType": "READ", "messageId": "user-msg-1"}

        delivered = sim.rbm_event(MSISDN, "DELIVERED", reply.id)
        assert (await sim.deliver(url, delivered, api="rbm")).status_code == 200
        forged = await sim.deliver(url, sim.rbm_text(MSISDN, "spoof"), api="rbm", client_token="guessed")
        assert forged.status_code == 403
        raw_signed = await sim.deliver(url, sim.rbm_text(MSISDN, "raw"), api="rbm", signature="")
        assert raw_signed.status_code == 401
    assert [t.input for t in bot.turns] == [TextInput(text="hello")]


async def test_simulator_control_endpoints_drive_a_gateway(
    sim: GoogleAgentSimulator, sim_url: str, key_json: str
) -> None:
    """What a developer does with curl against ``channelgate simulate google``."""
    async with (
        run_gateway(config("gbm", sim_url, key_json), bot=EchoBot()) as gw,
        httpx.AsyncClient(timeout=5) as http,
    ):
        hook = gw.webhook_url("gbm", "shop")
        verified = (await http.post(f"{sim_url}/_sim/verify", json={"webhook": hook})).json()
        assert verified["status"] == 200
        said = (await http.post(f"{sim_url}/_sim/say", json={"webhook": hook, "text": "hi"})).json()
        assert said["status"] == 200
        await sim.wait_for_sends(1)
        queued = await http.post(f"{sim_url}/_sim/fail", json={"status": 503, "api": "gbm"})
        assert queued.json() == {"queued": 503}
        sent = (await http.get(f"{sim_url}/_sim/sent")).json()
        assert sent["sent"][0]["body"]["text"] == "echo: hi"
        bad = await http.post(f"{sim_url}/_sim/say", json={"text": "no webhook"})
        assert bad.status_code == 400


def test_simulator_main_prints_a_config_and_removes_its_key_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app: Any, host: str, port: int, log_level: str) -> None:
        printed = capsys.readouterr().out
        path = re.search(r"service_account: (\S+)", printed)
        assert path is not None
        seen["path"] = Path(path.group(1))
        seen["key"] = load_service_account(SecretStr(str(seen["path"])))
        seen["printed"] = printed

    monkeypatch.setattr(uvicorn, "run", fake_run)
    google_sim.main("127.0.0.1", 9911)
    assert seen["key"]["token_uri"] == "http://127.0.0.1:9911/token"
    assert "api_base_url: http://127.0.0.1:9911/v1" in seen["printed"]
    assert not seen["path"].exists()
