"""Replays of captured WeChat callbacks, at the wire and in the store: a signed (timestamp, nonce) carries one
message only, on every replica, while WeChat's own retry of an unanswered callback is still answered."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from channelgate.channels.base import Forbidden, WebhookRequest
from channelgate.channels.wechat import WeChatChannel
from channelgate.store import Store
from channelgate.store import replay as replay_store
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.wechat import Callback, WeChatSimulator, post_callback

from .helpers import AES_KEY, APP_ID, TOKEN, gateway_config, make_channel, webhook
from .test_gateway import EchoBot

MODES = ["plaintext", "compatible", "safe"]


def forged(sim: WeChatSimulator, captured: Callback, mode: str) -> Callback:
    """The captured query (its signatures) with a body of the attacker's choosing: another user, another
    text. The attacker has no Token, so ``msg_signature`` stays the captured one."""
    own = sim.callback(sim.text_message("oAttacker", "transfer everything"), mode=mode)  # type: ignore[arg-type]
    return Callback(captured.params, own.body)


async def post(url: str, callback: Callback) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await post_callback(client, url, callback)


async def turns(*gateways: RunningGateway) -> int:
    """Accepted inbound messages, counted in the (shared) store."""
    async with gateways[0].store.engine.connect() as conn:
        result = await conn.exec_driver_sql("SELECT COUNT(*) FROM inbox WHERE kind = 'message'")
        return int(result.scalar_one())


# --- the channel, with an in-memory cache ------------------------------------------------------------------


async def replay_check(channel: WeChatChannel, request: WebhookRequest) -> None:
    """What the webhook route does: authenticate, then check the replay with what that verified."""
    await channel.check_replay(request, channel.authenticate(request))


async def test_plaintext_capture_with_another_body_is_refused_and_the_same_body_passes() -> None:
    sim = WeChatSimulator(app_id=APP_ID, token=TOKEN, encoding_aes_key=AES_KEY)
    channel = make_channel("plaintext")
    captured = sim.callback(sim.text_message("oUser1", "hi"))
    await replay_check(channel, webhook("POST", captured.params, captured.body))
    await replay_check(channel, webhook("POST", captured.params, captured.body))  # WeChat's retry
    with pytest.raises(Forbidden, match="replayed"):
        await replay_check(channel, webhook("POST", captured.params, forged(sim, captured, "plaintext").body))


async def test_a_reencrypted_retry_of_the_same_message_is_the_same_message() -> None:
    """Were WeChat to encrypt a retry afresh (new random prefix, new msg_signature) under the same timestamp
    and nonce, the decrypted message is still the same one: not a replay."""
    sim = WeChatSimulator(app_id=APP_ID, token=TOKEN, encoding_aes_key=AES_KEY)
    channel = make_channel("safe")
    xml = sim.text_message("oUser1", "hi")
    first = sim.callback(xml, mode="safe")
    again = sim.callback(
        xml, mode="safe", timestamp=int(first.params["timestamp"]), nonce=first.params["nonce"]
    )
    assert again.body != first.body
    await replay_check(channel, webhook("POST", first.params, first.body))
    await replay_check(channel, webhook("POST", again.params, again.body))


def test_an_overlong_nonce_is_refused_before_the_cache() -> None:
    sim = WeChatSimulator(app_id=APP_ID, token=TOKEN)
    captured = sim.callback(sim.text_message("oUser1", "hi"), nonce="7" * 65)
    with pytest.raises(Exception, match="nonce is over 64"):
        make_channel("plaintext").authenticate(webhook("POST", captured.params, captured.body))


# --- the store ----------------------------------------------------------------------------------------------


async def test_store_binds_a_pair_to_its_first_message_and_prunes(store_url: str) -> None:
    store = Store(store_url)
    await store.create_schema()
    try:
        now = time.time()
        first = await replay_store.first_seen(store, "wechat:a", 1700, "n1", "f1", now=now, until=now + 300)
        assert first is None
        assert (
            await replay_store.first_seen(store, "wechat:a", 1700, "n1", "f2", now=now, until=now + 300)
            == "f1"
        )
        assert (
            await replay_store.first_seen(store, "wechat:a", 1700, "n1", "f1", now=now, until=now + 300)
            == "f1"
        )
        # another integration, another timestamp, another nonce: other pairs
        assert (
            await replay_store.first_seen(store, "wechat:b", 1700, "n1", "f9", now=now, until=now + 300)
            is None
        )
        assert (
            await replay_store.first_seen(store, "wechat:a", 1701, "n1", "f9", now=now, until=now + 300)
            is None
        )
        assert (
            await replay_store.first_seen(store, "wechat:a", 1700, "n2", "f9", now=now, until=now + 300)
            is None
        )
        # once expired, the pair is taken over (its timestamp no longer passes the clock check anyway)
        later = now + 301
        assert (
            await replay_store.first_seen(store, "wechat:a", 1700, "n1", "f3", now=later, until=later + 9)
            is None
        )
        assert (
            await replay_store.first_seen(store, "wechat:a", 1700, "n1", "f4", now=later, until=later + 9)
            == "f3"
        )
        # pruning deletes the scope's expired rows only
        assert await replay_store.prune(store, "wechat:a", now=later) == 2  # (1701, n1) and (1700, n2)
        assert await replay_store.count(store, "wechat:a") == 1
        assert await replay_store.count(store, "wechat:b") == 1
    finally:
        await store.close()


# --- at the wire ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_replays_of_a_captured_callback_get_nothing_in_every_mode(
    sim: WeChatSimulator, api_url: str, store_url: str, mode: str
) -> None:
    bot = EchoBot()
    async with run_gateway(gateway_config(api_url, mode, store=store_url), bot=bot) as gw:
        url = gw.webhook_url("wechat", "shop")
        delivery = await sim.deliver(url, sim.text_message("oUser1", "我的余额"), mode=mode)  # type: ignore[arg-type]
        assert delivery.response is not None
        assert (sim.read_reply(delivery.response) or {}).get("Content") == "echo: 我的余额"
        captured = sim.captured[-1]

        # the captured URL with another body: refused (the replay cache; msg_signature in the encrypted modes)
        answer = await post(url, forged(sim, captured, mode))
        assert answer.status_code == 403, answer.text
        # the very same callback again: answered as a redelivery, "success", no turn and no reply leaks
        again = await post(url, captured)
        assert (again.status_code, again.text) == (200, "success")
        if mode == "compatible":  # the clear copy is not what counts: tampering with it changes nothing
            tampered = captured.body.replace("我的余额", "transfer everything")
            assert tampered != captured.body
            answer = await post(url, Callback(captured.params, tampered))
            assert (answer.status_code, answer.text) == (200, "success")
        await sim.wait_for_sends(1)
        assert await turns(gw) == 1
    assert [turn.user.id for turn in bot.turns] == ["oUser1"]


async def test_a_replay_sent_to_another_replica_is_refused(
    sim: WeChatSimulator, api_url: str, pg_url: str
) -> None:
    """Two gateways on one PostgreSQL store: the pair one of them accepted is known to the other."""
    config = gateway_config(api_url, "plaintext", store=pg_url)
    bot_a, bot_b = EchoBot(), EchoBot()
    async with run_gateway(config, bot=bot_a) as a, run_gateway(config, bot=bot_b) as b:
        delivery = await sim.deliver(a.webhook_url("wechat", "shop"), sim.text_message("oUser1", "hi"))
        assert delivery.response is not None and delivery.response.status_code == 200
        captured = sim.captured[-1]
        answer = await post(b.webhook_url("wechat", "shop"), forged(sim, captured, "plaintext"))
        assert answer.status_code == 403, answer.text
        assert "replayed" in answer.json()["error"]
        again = await post(b.webhook_url("wechat", "shop"), captured)
        assert (again.status_code, again.text) == (200, "success")
        await wait_until(lambda: len(bot_a.turns) + len(bot_b.turns) == 1)
        assert await turns(a, b) == 1
    assert [t.user.id for t in bot_a.turns + bot_b.turns] == ["oUser1"]


@pytest.mark.parametrize("mode", MODES)
async def test_wechat_retry_with_the_same_nonce_is_answered_not_refused(
    sim: WeChatSimulator, api_url: str, tmp_path: Any, mode: str
) -> None:
    """WeChat resends a callback it got no answer to (5 s), three times in all, with the same query. The
    retry reaches the dedup (not a 403, which would show the user an error): "success", and the reply goes
    through the customer-service API, once."""
    sim.callback_timeout = 0.3  # WeChat gives up on the answer before the bot replies
    bot = EchoBot(delay=1.0)
    config = gateway_config(api_url, mode, store=f"sqlite:///{tmp_path}/replay.db")
    config["integrations"][0]["passive_reply_budget"] = 0.6
    async with run_gateway(config, bot=bot) as gw:
        delivery = await sim.deliver(
            gw.webhook_url("wechat", "shop"), sim.text_message("oUser1", "慢"), mode=mode
        )  # type: ignore[arg-type]
        assert delivery.attempts >= 2 and delivery.response is not None
        assert (delivery.response.status_code, delivery.response.text) == (200, "success")
        assert len({(c.params["timestamp"], c.params["nonce"]) for c in sim.captured}) == 1
        sent = await sim.wait_for_sends(2)
        assert [s.body["text"]["content"] for s in sent] == ["echo: 慢", "second"]
    assert len(bot.turns) == 1
