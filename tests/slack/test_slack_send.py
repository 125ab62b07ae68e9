"""Sends, connect and media against the simulator: Slack's ``{"ok": false}`` answers as the SendError kinds
with their hints, the token scrubbed, health red on refused credentials, per-channel pacing."""

from __future__ import annotations

import httpx
import pytest

from channelgate.channels.base import (
    InvalidCredentials,
    Outbound,
    Rejected,
    SendError,
    Throttled,
    Unavailable,
)
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.slack.api import check
from channelgate.channels.slack.pacing import channel_pacer
from channelgate.testing.slack import SlackSimulator

from .kit import DM, TOKEN, channel


def post(text: str = "hi", **extra: object) -> Outbound:
    return Outbound(body={"channel": DM, "text": text, **extra})


async def test_a_send_is_posted_and_answers_its_ts(
    sim: SlackSimulator, api_url: str, http: PlatformHTTP
) -> None:
    result = await channel(http, api_base_url=api_url).send(post(thread_ts="1.0"))
    (sent,) = sim.sent
    assert result.platform_message_id == sent.ts
    assert sent.body == {"channel": DM, "text": "hi", "thread_ts": "1.0"}


@pytest.mark.parametrize(
    ("error", "status", "kind", "retry_after"),
    [
        ("ratelimited", 429, Throttled, 7.0),
        ("invalid_auth", 200, InvalidCredentials, None),
        ("token_revoked", 200, InvalidCredentials, None),
        ("account_inactive", 200, InvalidCredentials, None),
        ("not_authed", 200, InvalidCredentials, None),
        ("channel_not_found", 200, Rejected, None),
        ("not_in_channel", 200, Rejected, None),
        ("msg_too_long", 200, Rejected, None),
        ("invalid_blocks", 200, Rejected, None),
        ("something_new", 200, Rejected, None),
        ("fatal_error", 200, Unavailable, None),
        ("internal_error", 200, Unavailable, None),
        ("service_unavailable", 200, Unavailable, None),
        ("request_timeout", 200, Unavailable, None),
        ("upstream", 503, Unavailable, None),
    ],
)
async def test_slack_errors_are_the_send_error_kinds(
    sim: SlackSimulator,
    api_url: str,
    http: PlatformHTTP,
    error: str,
    status: int,
    kind: type[SendError],
    retry_after: float | None,
) -> None:
    ch = channel(http, api_base_url=api_url)
    sim.fail_next(1, error=error, status=status, retry_after=7 if retry_after else None)
    with pytest.raises(SendError) as caught:
        await ch.send(post())
    assert type(caught.value) is kind
    assert caught.value.retry_after == retry_after
    assert caught.value.code == (error if status < 500 else 503)
    assert (ch.ctx.health.status == "failing") == (kind is InvalidCredentials)
    assert sim.sent == []


async def test_a_wrong_token_turns_the_integration_red_and_is_never_in_a_reason(
    sim: SlackSimulator, api_url: str, http: PlatformHTTP
) -> None:
    wrong = "xoxb-1111-wrong-token-value"
    ch = channel(http, api_base_url=api_url, bot_token=wrong)
    with pytest.raises(InvalidCredentials) as caught:
        await ch.send(post())
    assert caught.value.code == "invalid_auth" and wrong not in caught.value.reason
    assert ch.ctx.health.status == "failing" and "OAuth & Permissions" in ch.ctx.health.message
    good = channel(http, api_base_url=api_url)
    good.ctx.health.fail("earlier")
    await good.send(post())
    assert good.ctx.health.status == "ok"


async def test_network_errors_are_unavailable_without_the_token(http: PlatformHTTP) -> None:
    ch = channel(http, api_base_url="http://127.0.0.1:9")
    with pytest.raises(Unavailable) as caught:
        await ch.send(post())
    assert TOKEN not in caught.value.reason


def test_check_reads_a_missing_scope() -> None:
    answer = httpx.Response(200, json={"ok": False, "error": "missing_scope", "needed": "chat:write"})
    error = check(answer)
    assert isinstance(error, InvalidCredentials) and "chat:write" in error.reason
    assert check(httpx.Response(200, json={"ok": True})) is None
    assert isinstance(check(httpx.Response(200, text="<html>")), Rejected)
    throttled = check(httpx.Response(429, headers={"Retry-After": "3"}))
    assert isinstance(throttled, Throttled) and throttled.retry_after == 3.0


def test_the_pacer_allows_a_burst_then_one_a_second_per_channel() -> None:
    now = [0.0]
    pacer = channel_pacer(clock=lambda: now[0])
    waits = [pacer.reserve("C1") for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0] and 1.0 < waits[3] < 1.2 and 2.0 < waits[4] < 2.2
    assert pacer.reserve("C2") == 0.0  # another channel has its own bucket
    pacer.give_back("C1")
    now[0] = 10.0
    assert pacer.reserve("C1") == 0.0


async def test_a_send_that_would_wait_long_is_handed_back_throttled(api_url: str, http: PlatformHTTP) -> None:
    ch = channel(http, api_base_url=api_url)
    for _ in range(6):
        ch.pacer.reserve(DM)
    with pytest.raises(Throttled) as caught:
        await ch.send(post())
    assert caught.value.retry_after is not None and caught.value.retry_after > 3


async def test_connect_checks_the_token_and_prints_the_clicks(
    sim: SlackSimulator, api_url: str, http: PlatformHTTP
) -> None:
    result = await channel(http, api_base_url=api_url).connect()
    assert result.connected is False
    assert f"{sim.bot_user_id}" in result.detail and sim.team in result.detail
    for words in (
        "https://gateway.example/webhooks/slack/main",
        "Event Subscriptions",
        "message.im, app_mention",
        "Interactivity & Shortcuts",
        "chat:write, im:history, app_mentions:read",
    ):
        assert words in result.detail
    bad = channel(http, api_base_url=api_url, bot_token="xoxb-2222-revoked")
    with pytest.raises(InvalidCredentials):
        await bad.connect()
    assert bad.ctx.health.status == "failing"


async def test_files_users_share_are_downloaded_with_the_token(
    sim: SlackSimulator, api_url: str, http: PlatformHTTP
) -> None:
    sim.files["F1"] = (b"\x89PNG...", "image/png", "a.png")
    media = await channel(http, api_base_url=api_url).download_media("F1")
    assert (media.content, media.mime_type) == (b"\x89PNG...", "image/png")
    with pytest.raises(Rejected):
        await channel(http, api_base_url=api_url).download_media("F404")
