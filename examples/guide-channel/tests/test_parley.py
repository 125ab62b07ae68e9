"""The guide's example channel, tested the way the guide says: through ``channelgate.testing.ChannelHarness``
(a whole gateway with a file SQLite store, a recording bot, signed webhooks) and a ``FakePlatform``."""

from __future__ import annotations

import tomllib
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from channelgate_parley import ParleyChannel, ParleyConfig, ParleyRenderer, sign
from pydantic import SecretStr

from channelgate.channels.base import Outbound, RenderContext, SendRefused
from channelgate.config import ConfigError
from channelgate.messages import parse_message
from channelgate.testing import ChannelHarness, FakePlatform, OutgoingRequest, RecordingBot, wait_until
from channelgate.turns import EventInput, PostbackInput, TextInput

SIGNING_KEY = "parley-webhook-key-0123456789"
API_KEY = "parley-api-key-abcdef"


def signer(request: OutgoingRequest) -> None:
    """What Parley does to each webhook: the channel's half of a harness test."""
    request.headers["x-parley-signature"] = sign(SIGNING_KEY, request.body)


def settings(platform_url: str) -> dict[str, Any]:
    return {"secret": SIGNING_KEY, "token": API_KEY, "api_base_url": platform_url}


def harness(platform: FakePlatform, **options: Any) -> ChannelHarness:
    return ChannelHarness(ParleyChannel, settings, sign=signer, platform=platform, **options)


def message(event_id: str, text: str, user: str = "u1", **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "type": "message", "from": {"id": user, "name": "Ann"}, "text": text, **extra}


def sends(platform: FakePlatform) -> list[Any]:
    return [r.json() for r in platform.requests if r.path == "/v1/messages"]


async def test_a_signed_message_is_one_turn_and_the_reply_reaches_parley() -> None:
    platform = FakePlatform()
    async with harness(platform) as h:
        response = await h.post({"events": [message("e1", "hello")]})
        assert response.status_code == 200
        [turn] = await h.wait_for_turns(1)
        assert turn.input == TextInput(text="hello")
        assert (turn.user.id, turn.user.name, turn.channel, turn.label) == ("u1", "Ann", "parley", "test")
        await h.wait_for_sends(2)  # the webhook registration at start, then the reply
    register, reply = platform.requests
    assert (register.method, register.path, register.json()) == (
        "PUT",
        "/v1/webhook",
        {"url": h.webhook_url()},
    )
    assert (reply.method, reply.path) == ("POST", "/v1/messages")
    assert reply.headers["authorization"] == f"Bearer {API_KEY}"
    assert reply.json() == {"to": "u1", "text": "echo: hello"}


async def test_the_webhook_is_registered_once_for_every_replica() -> None:
    platform = FakePlatform()
    async with harness(platform) as h:
        assert await h.channel.ctx.kv.get("webhook-url") == h.webhook_url()
        await h.channel.start()  # a second replica starting with the same store
        assert [r.path for r in platform.requests] == ["/v1/webhook"]


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"x-parley-signature": "sha256=00"}, 403)])
async def test_a_missing_or_wrong_signature_is_refused(headers: dict[str, str], status: int) -> None:
    async with harness(FakePlatform()) as h:
        response = await h.post({"events": [message("e1", "hi")]}, headers=headers, signed=False)
        assert response.status_code == status
        assert h.bot.turns == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"events": 5}', b'{"events": {"id": 1}}'])
async def test_a_malformed_webhook_is_a_400_with_its_reason_never_a_500(body: bytes) -> None:
    async with harness(FakePlatform()) as h:
        response = await h.post(body)
        assert response.status_code == 400 and response.json()["error"]


async def test_a_broken_event_is_skipped_and_the_others_kept() -> None:
    async with harness(FakePlatform()) as h:
        broken = [5, {"id": "x"}, {"id": "y", "from": {"id": {"no": 1}}}, message("", "no id")]
        response = await h.post({"events": [*broken, message("e2", "kept")]})
        assert response.status_code == 200
        [turn] = await h.wait_for_turns(1)
        assert turn.input == TextInput(text="kept")


async def test_buttons_and_unknown_events_reach_the_bot_and_statuses_do_not() -> None:
    button = {"id": "b1", "type": "button", "from": {"id": "u2"}, "payload": "BUY", "title": "Buy"}
    joined = {"id": "j1", "type": "joined", "from": {"id": "u3"}, "via": "qr-code"}
    status = {"id": "d1", "type": "delivered", "from": {"id": "u2"}, "message_id": "m-9"}
    async with harness(FakePlatform()) as h:
        assert (await h.post({"events": [button, joined, status]})).status_code == 200
        turns = await h.wait_for_turns(2)
    assert {t.input.type: t.input for t in turns} == {
        "postback": PostbackInput(payload="BUY", title="Buy"),
        "event": EventInput(name="joined", data=joined),  # every field kept: never dropped silently
    }


async def test_a_throttled_send_is_retried_after_the_hint() -> None:
    platform = FakePlatform()
    async with harness(platform) as h:
        await h.wait_for_sends(1)
        platform.fail_next(429, body={"error": {"code": "rate_limited"}}, headers={"retry-after": "0"})
        await h.post({"events": [message("t1", "again")]})
        await h.wait_for_sends(2)
    assert sends(platform) == [{"to": "u1", "text": "echo: again"}]
    assert [status for _, status in platform.attempts] == [200, 429, 200]


async def test_a_refused_token_turns_health_red_without_the_token_and_green_again() -> None:
    platform = FakePlatform()
    async with harness(platform) as h:
        await h.wait_for_sends(1)
        platform.fail_next(401, body={"error": {"code": "token_invalid"}})
        await h.post({"events": [message("c1", "hi")]})
        await wait_until(lambda: h.health.status == "failing")
        assert "token_invalid" in h.health.message and "new API token" in h.health.message
        assert API_KEY not in h.health.message
        # the gateway pauses this integration's sends (an operator fixes the token); the next success
        # turns it green again
        await h.channel.send(Outbound({"to": "u1", "text": "probe"}))
        assert h.health.status == "ok"


async def test_quick_replies_become_parley_buttons() -> None:
    platform = FakePlatform()
    button = {"type": "reply", "title": "A", "payload": "a"}
    bot = RecordingBot([{"type": "text", "text": "Pick one", "quick_replies": [button]}])
    async with harness(platform, bot=bot) as h:
        await h.post({"events": [message("s1", "menu")]})
        await h.wait_for_sends(2)
    assert sends(platform) == [{"to": "u1", "text": "Pick one", "buttons": [{"title": "A", "payload": "a"}]}]


def render(*messages: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    ctx = RenderContext(user_id="u1", locale="en-US", now=0.0)
    return ParleyRenderer(ctx).render_all([parse_message(m) for m in messages]), ctx.notes


def test_render_shows_images_natively_and_degrades_the_rest_with_a_note() -> None:
    image, notes = render({"type": "media", "kind": "image", "url": "https://x/p.png", "caption": "P"})
    assert (image, notes) == ([{"image": "https://x/p.png", "caption": "P"}], [])
    video, notes = render({"type": "media", "kind": "video", "url": "https://x/v.mp4"})
    assert video == [{"text": "https://x/v.mp4"}] and notes == [
        "Parley cannot show video attachments: sent as a link"
    ]
    six = [{"type": "reply", "title": str(i), "payload": str(i)} for i in range(6)]
    menu, notes = render({"type": "text", "text": "Pick", "quick_replies": six})
    assert "buttons" not in menu[-1] and "1. 0" in menu[-1]["text"] and "quick replies" in notes[0]
    with pytest.raises(SendRefused):
        render({"type": "template", "name": "welcome", "language": "en"})


def test_config_checks() -> None:
    config = ParleyConfig(secret=SIGNING_KEY, token=API_KEY)
    assert ParleyChannel.check_config(config) == []
    plain = config.model_copy(update={"api_base_url": "http://api.parley.example"})
    assert "plain HTTP" in ParleyChannel.check_config(plain)[0]
    with pytest.raises(ValueError, match="16 characters"):
        ParleyChannel.check_config(config.model_copy(update={"secret": SecretStr("short")}))


async def test_a_gateway_refuses_to_start_with_a_short_secret() -> None:
    short = ChannelHarness(ParleyChannel, {"secret": "short", "token": API_KEY})
    with pytest.raises(ConfigError, match="16 characters"):
        async with short:
            pass


async def test_rate_limit_is_the_common_setting_with_the_channel_default() -> None:
    platform = FakePlatform()
    async with harness(platform) as h:
        assert h.channel.send_rate == 20.0
    limited = ChannelHarness(ParleyChannel, lambda url: {**settings(url), "rate_limit": 5}, platform=platform)
    async with limited as h:
        assert h.channel.send_rate == 5.0


def test_the_entry_point_names_the_class() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    target = pyproject["project"]["entry-points"]["channelgate.channels"]["parley"]
    module, _, attr = target.partition(":")
    assert getattr(import_module(module), attr) is ParleyChannel
