"""The web chat over a real WebSocket, against a whole gateway on loopback."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from channelgate.channels.webchat import WebChatChannel
from channelgate.channels.webchat.protocol import MAX_FRAME_BYTES
from channelgate.testing.gateway import run_gateway, wait_until

from .chatkit import RecordingBot, Served, chat, socket_url, webchat_config


def channel_of(gw: Served) -> WebChatChannel:
    channel = gw.gateway.channel("webchat", "site")
    assert isinstance(channel, WebChatChannel)
    return channel


async def close_code(ws: Any) -> tuple[int, str]:
    """Read until the server closes; the close code and reason it sent."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None
    return info.value.rcvd.code, info.value.rcvd.reason


# --- identity -----------------------------------------------------------------------------------------


async def test_hello_without_identity_gets_a_new_user_id_and_its_token(gw: Served) -> None:
    async with chat(gw) as client:
        welcome = await client.hello()
    assert welcome["type"] == "welcome"
    assert welcome["user_id"].startswith("wc-")
    assert welcome["title"] == "Chat"
    assert welcome["token"] == channel_of(gw).token_for(welcome["user_id"])


async def test_returning_browser_keeps_its_identity(gw: Served) -> None:
    async with chat(gw) as first:
        welcome = await first.hello()
    async with chat(gw) as again:
        back = await again.hello(welcome["user_id"], welcome["token"])
    assert (back["user_id"], back["token"]) == (welcome["user_id"], welcome["token"])


async def test_forged_token_gets_a_new_identity_not_the_claimed_one(gw: Served) -> None:
    async with chat(gw) as victim:
        real = await victim.hello()
    forged = real["token"][:-2] + ("AA" if not real["token"].endswith("AA") else "BB")
    async with chat(gw) as attacker:
        welcome = await attacker.hello(real["user_id"], forged)
    assert welcome["user_id"] != real["user_id"]
    assert channel_of(gw).verify(welcome["user_id"], welcome["token"])


async def test_user_id_without_token_gets_a_new_identity(gw: Served) -> None:
    async with chat(gw) as victim:
        real = await victim.hello()
    async with chat(gw) as attacker:
        welcome = await attacker.hello(real["user_id"])
    assert welcome["user_id"] != real["user_id"]


async def test_token_secret_is_generated_once_and_kept_in_the_store(bot: RecordingBot, tmp_path: Any) -> None:
    config = {**webchat_config(), "store": f"sqlite:///{tmp_path}/kept.db"}
    async with run_gateway(config, bot=bot) as gw, chat(gw) as client:
        welcome = await client.hello()
    async with run_gateway(config, bot=bot) as restarted, chat(restarted) as client:
        back = await client.hello(welcome["user_id"], welcome["token"])
    assert back["user_id"] == welcome["user_id"]


async def test_configured_secret_signs_the_tokens(bot: RecordingBot, tmp_path: Any) -> None:
    secret = "s" * 40
    config = {**webchat_config(secret=secret), "store": f"sqlite:///{tmp_path}/secret.db"}
    async with run_gateway(config, bot=bot) as gw, chat(gw) as client:
        welcome = await client.hello()
    assert welcome["token"] == channel_of(gw).token_for(welcome["user_id"])
    other = {**webchat_config(secret="t" * 40), "store": f"sqlite:///{tmp_path}/other.db"}
    async with run_gateway(other, bot=bot) as gw2, chat(gw2) as client:
        elsewhere = await client.hello(welcome["user_id"], welcome["token"])
    assert elsewhere["user_id"] != welcome["user_id"]


# --- inputs and replies -------------------------------------------------------------------------------


async def test_text_is_acknowledged_answered_by_the_bot_and_delivered(gw: Served, bot: RecordingBot) -> None:
    async with chat(gw) as client:
        welcome = await client.hello(languages=["fr-FR", "en"])
        sent = await client.say("bonjour")
        assert await client.expect("ack") == {"type": "ack", "id": sent}
        frame = await client.expect("message")
    assert frame["message"] == {"type": "text", "text": "echo: bonjour"}
    assert len(frame["id"]) == 32
    turn = bot.turns[0]
    assert (turn.channel, turn.label, turn.user.id) == ("webchat", "site", welcome["user_id"])
    assert turn.locale == "fr-FR"  # the browser's first language, negotiated against the bot's
    assert turn.raw == {"type": "text", "id": sent, "text": "bonjour"}
    conversation = await gw.store.conversations.find("webchat", "site", welcome["user_id"])
    await wait_until(lambda: _outbox_status(gw, conversation["id"], "sent"))


async def _outbox_status(gw: Served, conversation_id: str, status: str) -> bool:
    rows = await gw.store.outbox.rows(conversation_id)
    return bool(rows) and all(r["status"] == status for r in rows)


async def test_postback_and_location_become_their_inputs(gw: Served, bot: RecordingBot) -> None:
    async with chat(gw) as client:
        await client.hello()
        await client.send({"type": "postback", "id": "p1", "payload": "CARD_MORE", "title": "Tell me more"})
        assert await client.message() == {"type": "text", "text": "picked: Tell me more"}
        await client.send({"type": "location", "id": "l1", "latitude": 48.8584, "longitude": 2.2945})
        assert await client.message() == {"type": "text", "text": "at 48.8584, 2.2945"}
    assert bot.turns[0].input.model_dump() == {
        "type": "postback",
        "payload": "CARD_MORE",
        "title": "Tell me more",
    }
    assert bot.turns[1].input.type == "location"


async def test_input_resent_with_the_same_id_is_answered_once(gw: Served, bot: RecordingBot) -> None:
    input_id = str(uuid.uuid4())
    async with chat(gw) as client:
        welcome = await client.hello()
        await client.say("only once", input_id)
        await client.expect("ack")
        await client.expect("message")
    # the browser reconnects without having seen the ack and resends the same input
    async with chat(gw) as client:
        await client.hello(welcome["user_id"], welcome["token"])
        await client.say("only once", input_id)
        assert await client.expect("ack") == {"type": "ack", "id": input_id}
        await client.say("next", str(uuid.uuid4()))
        # replies come in order: a second answer to "only once" would arrive before this one
        assert await client.message() == {"type": "text", "text": "echo: next"}
    assert [t.input.text for t in bot.turns] == ["only once", "next"]  # type: ignore[union-attr]


async def test_message_queued_while_offline_is_delivered_on_reconnect(gw: Served, bot: RecordingBot) -> None:
    bot.gate = asyncio.Event()
    async with chat(gw) as client:
        welcome = await client.hello()
        await client.say("reply later")
        await client.expect("ack")
    bot.gate.set()  # the bot answers after the browser has gone
    conversation = await gw.store.conversations.find("webchat", "site", welcome["user_id"])

    async def waiting_for_the_user() -> bool:
        rows = await gw.store.outbox.rows(conversation["id"])
        return bool(rows) and rows[0]["status"] == "queued" and bool(rows[0]["reason"])

    await wait_until(waiting_for_the_user)
    rows = await gw.store.outbox.rows(conversation["id"])
    assert "not connected" in rows[0]["reason"]
    assert rows[0]["attempts"] == 0  # waiting for the user uses up no tries
    # its next try is 30 s away (max_backoff); the hello makes it due at once
    async with chat(gw) as client:
        await client.hello(welcome["user_id"], welcome["token"])
        assert await client.message() == {"type": "text", "text": "echo: reply later"}
    await wait_until(lambda: _outbox_status(gw, conversation["id"], "sent"))


async def test_message_is_sent_again_until_the_browser_confirms_it(gw: Served) -> None:
    async with chat(gw, confirm=False) as client:
        welcome = await client.hello()
        await client.say("confirm me")
        await client.expect("ack")
        first = await client.expect("message")
    async with chat(gw) as client:
        await client.hello(welcome["user_id"], welcome["token"])
        again = await client.expect("message")
    assert again == first  # the same id: a browser that stored it the first time drops the copy


async def test_message_goes_to_every_tab_of_the_user(gw: Served) -> None:
    async with chat(gw) as tab1:
        welcome = await tab1.hello()
        async with chat(gw) as tab2:
            await tab2.hello(welcome["user_id"], welcome["token"])
            await tab1.say("both tabs")
            assert (await tab1.message())["text"] == "echo: both tabs"
            assert (await tab2.message())["text"] == "echo: both tabs"


# --- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"{not json", "not valid JSON"),
        ([1, 2], "JSON object"),
        ({"type": "shout", "id": "x"}, "unknown frame type"),
        ({"type": "text", "text": "no id"}, "id must be"),
        ({"type": "text", "id": "t1", "text": "   "}, "text must be a non-empty string"),
        ({"type": "text", "id": "t2", "text": "x" * 4097}, "longer than 4096"),
        ({"type": "postback", "id": "p1"}, "payload must be"),
        ({"type": "location", "id": "l1", "latitude": 91, "longitude": 0}, "latitude must be between"),
        ({"type": "location", "id": "l2", "latitude": True, "longitude": 0}, "latitude must be a number"),
    ],
    ids=["json", "array", "type", "no-id", "blank", "long", "payload", "range", "bool"],
)
async def test_bad_frame_gets_an_error_and_the_socket_stays_open(
    gw: Served, bot: RecordingBot, frame: Any, reason: str
) -> None:
    async with chat(gw) as client:
        await client.hello()
        raw = frame if isinstance(frame, bytes) else orjson.dumps(frame)
        await client.ws.send(raw.decode())
        error = await client.expect("error")
        assert reason in error["reason"]
        assert "Traceback" not in error["reason"]
        if isinstance(frame, dict) and "id" in frame:
            assert error["id"] == frame["id"]
        await client.say("still here")
        assert (await client.message())["text"] == "echo: still here"
    assert len(bot.turns) == 1


async def test_input_before_hello_is_refused(gw: Served, bot: RecordingBot) -> None:
    async with chat(gw) as client:
        sent = await client.say("who am I")
        assert await client.expect("error") == {"type": "error", "reason": "say hello first", "id": sent}
    assert bot.turns == []


async def test_binary_frame_is_refused(gw: Served) -> None:
    async with chat(gw) as client:
        await client.hello()
        await client.ws.send(b"\x00\x01")
        assert "JSON text" in (await client.expect("error"))["reason"]


async def test_oversize_frame_is_refused_and_the_socket_closed(gw: Served, bot: RecordingBot) -> None:
    """Refused by the WebSocket protocol itself (uvicorn's ws_max_size), before the app sees the frame, so
    no error frame precedes the close (test_limits.py shows it happens before the payload arrives)."""
    async with chat(gw) as client:
        await client.hello()
        await client.send({"type": "text", "id": "big", "text": "x" * MAX_FRAME_BYTES})
        code, reason = await close_code(client.ws)
    assert code == 1009 and "65536" in reason
    assert bot.turns == []


async def test_flood_of_inputs_is_slowed_down_with_a_retry_hint(gw: Served) -> None:
    async with chat(gw) as client:
        await client.hello()
        for i in range(40):  # a burst of 20 is allowed, then 3 per second
            await client.say(f"m{i}", f"flood-{i}")
        errors = []
        for _ in range(200):
            frame = await client.recv()
            if frame["type"] == "error":
                errors.append(frame)
            if len(errors) == 5:
                break
    assert len(errors) == 5
    assert all(e["retry_after"] > 0 and e["id"].startswith("flood-") for e in errors)
    assert errors[0]["reason"] == "too many messages; wait a moment"


async def test_socket_from_a_foreign_origin_is_closed_with_1008(gw: Served) -> None:
    async with chat(gw, origin="https://evil.example") as client:
        code, reason = await close_code(client.ws)
    assert code == 1008
    assert "https://evil.example" in reason


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:5173", "same", None])
async def test_same_origin_loopback_and_non_browser_clients_are_allowed_by_default(
    gw: Served, origin: str | None
) -> None:
    if origin == "same":
        origin = gw.url
    async with chat(gw, origin=origin) as client:
        assert (await client.hello())["type"] == "welcome"


async def test_listed_origins_replace_the_loopback_default(bot: RecordingBot, tmp_path: Any) -> None:
    config = {
        **webchat_config(allowed_origins=["https://shop.example.com/"]),
        "store": f"sqlite:///{tmp_path}/o.db",
    }
    async with run_gateway(config, bot=bot) as gw:
        async with chat(gw, origin="https://shop.example.com") as client:
            assert (await client.hello())["type"] == "welcome"
        async with chat(gw, origin=gw.url) as client:
            assert (await client.hello())["type"] == "welcome"
        async with chat(gw, origin="http://localhost:3000") as client:
            assert (await close_code(client.ws))[0] == 1008


async def test_socket_for_an_unknown_label_is_closed_with_4404(gw: Served) -> None:
    async with chat(gw, label="nope") as client:
        code, reason = await close_code(client.ws)
    assert (code, reason) == (4404, "no web chat named nope")


async def test_socket_without_hello_is_closed(gw: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    from channelgate.channels.webchat import routes

    monkeypatch.setattr(routes, "HELLO_TIMEOUT", 0.2)
    async with connect(socket_url(gw), proxy=None) as ws:
        code, reason = await close_code(ws)
    assert (code, reason) == (1008, "no hello received")


async def test_webhook_post_is_refused_with_a_reason(gw: Served, bot: RecordingBot) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(gw.webhook_url("webchat", "site"), json={"type": "text", "text": "hi"})
    assert response.status_code == 403
    assert "WebSocket" in response.json()["error"]
    assert "/webchat/site/ws" in response.json()["error"]
    assert bot.turns == []


# --- the page and its files ---------------------------------------------------------------------------


async def test_page_script_and_stylesheet_are_served(bot: RecordingBot, tmp_path: Any) -> None:
    config = {**webchat_config(title="Shop <help>"), "store": f"sqlite:///{tmp_path}/p.db"}
    async with run_gateway(config, bot=bot) as gw, httpx.AsyncClient(base_url=gw.url) as client:
        page = await client.get("/webchat/site")
        script = await client.get("/webchat/site/widget.js")
        css = await client.get("/webchat/site/chat.css")
        cached = await client.get(
            "/webchat/site/widget.js", headers={"if-none-match": script.headers["etag"]}
        )
        root = await client.get("/", follow_redirects=False)
        missing = await client.get("/webchat/nope")
        missing_script = await client.get("/webchat/nope/widget.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>Shop &lt;help&gt;</title>" in page.text and "<help>" not in page.text
    assert 'src="/webchat/site/widget.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert script.status_code == 200 and script.headers["content-type"].startswith("application/javascript")
    assert not re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", script.text)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert cached.status_code == 304
    assert root.status_code in (302, 307) and root.headers["location"] == "/webchat/site"
    assert missing.status_code == 404 and missing_script.status_code == 404
