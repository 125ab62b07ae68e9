"""Sends through the simulated Messaging API: reply or push, the retry key making a retried push safe, LINE's
errors as the SendError kinds with the token never in a reason, profiles and content, the config, and
step 3 (``connect``)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from channelgate.channels.base import InvalidCredentials, Outbound, Rejected, Throttled, Unavailable
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.line import LineChannel, LineConfig
from channelgate.channels.line.channel import describe
from channelgate.testing.line import LineSimulator

from .kit import TOKEN, USER, channel


def line(http: PlatformHTTP, api_url: str, **config: Any) -> LineChannel:
    return channel(http, api_base_url=api_url, **config)


def outbound(
    *texts: str, token: str | None = None, key: str = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
) -> Outbound:
    body: dict[str, Any] = {
        "to": USER,
        "messages": [{"type": "text", "text": t} for t in texts],
        "retryKey": key,
    }
    if token is not None:
        body["replyToken"] = token
        body["replyBy"] = time.time() + 30
    return Outbound(body=body)


def token_of(event: dict[str, Any]) -> str:
    return str(event["replyToken"])


async def test_a_fast_reply_uses_the_reply_token_once(
    sim: LineSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = line(http, api_url)
    token = token_of(sim.text_event(USER, "hi"))
    result = await ch.send(outbound("one", "two", token=token))
    assert result.platform_message_id == sim.sent[0].ids[0]
    [sent] = sim.sent
    assert (sent.endpoint, sent.retry_key) == ("reply", None)
    assert [m["text"] for m in sent.messages] == ["one", "two"]


async def test_an_invalid_or_late_reply_token_is_pushed_with_the_retry_key(
    sim: LineSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = line(http, api_url)
    await ch.send(
        outbound("used", token="not-a-token-line-issued", key="00000000-0000-4000-8000-000000000001")
    )
    late = outbound(
        "late", token=token_of(sim.text_event(USER, "hi")), key="00000000-0000-4000-8000-000000000002"
    )
    late.body["replyBy"] = time.time() - 1
    await ch.send(late)
    assert [(s.endpoint, s.to, s.retry_key) for s in sim.sent] == [
        ("push", USER, "00000000-0000-4000-8000-000000000001"),
        ("push", USER, "00000000-0000-4000-8000-000000000002"),
    ]


async def test_a_push_whose_answer_was_lost_is_not_delivered_twice(
    sim: LineSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = line(http, api_url)
    sim.fail_next(1, status=500, after_accepting=True)
    with pytest.raises(Unavailable):
        await ch.send(outbound("once"))
    result = await ch.send(outbound("once"))  # the delivery worker's retry: same stored body, same key
    assert len(sim.sent) == 1 and result.platform_message_id == sim.sent[0].ids[0]


async def test_a_reply_is_tried_once_then_pushed(
    sim: LineSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = line(http, api_url)
    sim.fail_next(1, status=502, message="Bad gateway")
    item = outbound("hi", token=token_of(sim.text_event(USER, "hi")))
    with pytest.raises(Unavailable):
        await ch.send(item)
    await ch.send(item)
    assert [s.endpoint for s in sim.sent] == ["push"]  # a reply may have gone through: no second reply


async def test_a_throttled_reply_may_reply_again(
    sim: LineSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = line(http, api_url)
    sim.fail_next(
        1, status=429, message="The API rate limit has been exceeded. Try again later.", retry_after=2
    )
    item = outbound("hi", token=token_of(sim.text_event(USER, "hi")))
    with pytest.raises(Throttled) as caught:
        await ch.send(item)
    assert caught.value.retry_after == 2
    await ch.send(item)
    assert [s.endpoint for s in sim.sent] == ["reply"]  # LINE did not process a 429: the token is unused


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (429, "The API rate limit has been exceeded. Try again later.", Throttled),
        (429, "You have reached your monthly limit.", Rejected),
        (429, "You have exceeded the target limit for additional messages.", Rejected),
        (400, "Failed to send messages", Rejected),
        (403, "Access to this API is not available for your account", Rejected),
        (500, "Internal server error", Unavailable),
    ],
)
async def test_errors_are_the_send_error_kinds(
    sim: LineSimulator,
    api_url: str,
    http: PlatformHTTP,
    status: int,
    message: str,
    kind: type[Exception],
) -> None:
    sim.fail_next(1, status=status, message=message)
    with pytest.raises(kind) as caught:
        await line(http, api_url).send(outbound("x"))
    assert message in str(caught.value)


async def test_a_wrong_token_turns_the_integration_red_and_is_never_in_a_reason(
    sim: LineSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = line(http, api_url, channel_access_token="wrong-token-" + "x" * 20)
    with pytest.raises(InvalidCredentials) as caught:
        await ch.send(outbound("x"))
    assert "wrong-token-" not in caught.value.reason and "Authentication failed" in caught.value.reason
    assert ch.ctx.health.status == "failing" and "channel_access_token" in ch.ctx.health.message
    assert "wrong-token" not in repr(ch.config) and sim.sent == []


async def test_an_unreachable_api_is_unavailable(http: PlatformHTTP) -> None:
    with pytest.raises(Unavailable):
        await line(http, "http://127.0.0.1:9").send(outbound("x"))


async def test_a_malformed_stored_payload_is_rejected(http: PlatformHTTP) -> None:
    with pytest.raises(Rejected):
        await channel(http).send(Outbound(body={"to": USER, "messages": []}))


async def test_profiles_and_content(sim: LineSimulator, api_url: str, http: PlatformHTTP) -> None:
    ch = line(http, api_url)
    sim.profiles[USER] = {"displayName": "Ann", "language": "ja"}
    profile = await ch.user_profile(USER)
    assert profile is not None and (profile.name, profile.locale) == ("Ann", "ja")
    stranger = await ch.user_profile("U" + "9" * 32)
    assert stranger is not None and stranger.name is None
    image = sim.image_event(USER, b"PNGDATA", "image/png")
    content = await ch.download_media(image["message"]["id"])
    assert (content.content, content.mime_type) == (b"PNGDATA", "image/png")
    with pytest.raises(Rejected):
        await ch.download_media("1/2")  # a sticker


async def test_connect_sets_the_endpoint_and_reports_a_failed_test(
    sim: LineSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = line(http, api_url)
    result = await ch.connect()
    assert sim.webhook["endpoint"] == "https://gateway.example/webhooks/line/main"
    assert not result.connected and "webhook test failed" in result.detail


def test_describe_says_when_webhooks_are_off() -> None:
    ok = {"success": True, "statusCode": 200, "reason": "OK"}
    assert describe("https://x", {"endpoint": "https://x", "active": True}, ok).connected
    off = describe("https://x", {"endpoint": "https://x", "active": False}, ok)
    assert not off.connected and "Use webhook" in off.detail


def test_config_keys_secrets_and_hosts() -> None:
    config = LineConfig(channel_secret=" s3cret ", channel_access_token=TOKEN)
    assert config.channel_secret.get_secret_value() == "s3cret" and "s3cret" not in repr(config)
    assert config.api_base_url == "https://api.line.me" and config.data_url() == "https://api-data.line.me"
    assert LineConfig.required_fields() == ["channel_secret", "channel_access_token"]
    assert LineConfig.secret_fields() == ["channel_secret", "channel_access_token"]
    assert LineConfig.settings() == ["channel_secret", "channel_access_token", "api_base_url", "rate_limit"]
    assert LineConfig.endpoint_hosts == {"api_base_url": ("api.line.me", "api-data.line.me")}
    local = LineConfig(channel_secret="s", channel_access_token="t", api_base_url="http://127.0.0.1:9/")
    assert local.data_url() == "http://127.0.0.1:9"
    for bad in ({"channel_secret": " "}, {"api_base_url": "ftp://x"}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            LineConfig(**{"channel_secret": "s", "channel_access_token": "t", **bad})
    assert LineChannel.limits.send_rate == 2000.0
    assert channel(rate_limit=50).send_rate == 50


async def test_a_second_outbound_with_the_same_token_pushes_without_trying_it(
    sim: LineSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = line(http, api_url)
    token = token_of(sim.text_event(USER, "hi"))
    await ch.send(outbound("first", token=token, key="00000000-0000-4000-8000-000000000001"))
    await ch.send(outbound("apology", token=token, key="00000000-0000-4000-8000-000000000002"))
    assert [s.endpoint for s in sim.sent] == ["reply", "push"] and sim.rejected == []


def test_plain_http_off_loopback_is_warned_about() -> None:
    assert LineChannel.check_config(LineConfig(channel_secret="s", channel_access_token="t")) == []
    local = LineConfig(channel_secret="s", channel_access_token="t", api_base_url="http://127.0.0.1:9090")
    assert LineChannel.check_config(local) == []
    remote = LineConfig(channel_secret="s", channel_access_token="t", api_base_url="http://proxy.example")
    [warning] = LineChannel.check_config(remote)
    assert "plain HTTP" in warning and "t" * 3 not in warning
