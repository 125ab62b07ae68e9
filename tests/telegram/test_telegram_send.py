"""Sends through the simulated Bot API: errors as the SendError kinds, the token never in a reason or a
log line, mapped payloads stored before the keyboard goes out, media downloads, per-chat pacing, and
step 3 (``connect``)."""

from __future__ import annotations

import logging

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
from channelgate.channels.telegram.callbacks import store_key
from channelgate.channels.telegram.channel import TelegramChannel, describe_webhook
from channelgate.channels.telegram.pacing import MARGIN, chat_pacer
from channelgate.messages import parse_message
from channelgate.testing.server import free_port
from channelgate.testing.telegram import TelegramSimulator

from .kit import TOKEN, channel, render_ctx


def bot(http: PlatformHTTP, api_url: str, **config: str) -> TelegramChannel:
    return channel(http, api_base_url=api_url, **config)


def text(chat: int = 1111111, words: str = "hello") -> Outbound:
    return Outbound(body={"method": "sendMessage", "chat_id": chat, "text": words})


async def test_a_send_answers_the_message_id(
    sim: TelegramSimulator, api_url: str, http: PlatformHTTP
) -> None:
    result = await bot(http, api_url).send(text())
    [sent] = sim.sent
    assert (sent.method, sent.chat_id, sent.params) == (
        "sendMessage",
        "1111111",
        {"chat_id": 1111111, "text": "hello"},
    )
    assert result.platform_message_id == str(sent.message_id)


async def test_flood_control_is_throttled_with_telegrams_retry_after(
    sim: TelegramSimulator, api_url: str, http: PlatformHTTP
) -> None:
    sim.fail_next(1, status=429, retry_after=7)
    with pytest.raises(Throttled) as caught:
        await bot(http, api_url).send(text())
    assert caught.value.retry_after == 7 and caught.value.code == 429
    assert caught.value.reason == "Telegram answered 429: Too Many Requests: retry after 7"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, Unavailable), (502, Unavailable), (403, Rejected), (400, Rejected)],
)
async def test_errors_are_the_sendError_kinds(
    sim: TelegramSimulator, api_url: str, http: PlatformHTTP, status: int, kind: type[SendError]
) -> None:
    sim.fail_next(1, status=status)
    with pytest.raises(kind):
        await bot(http, api_url).send(text())


async def test_a_blocked_user_is_rejected_for_good(
    sim: TelegramSimulator, api_url: str, http: PlatformHTTP
) -> None:
    sim.blocked.add("1111111")
    with pytest.raises(Rejected, match="bot was blocked by the user") as caught:
        await bot(http, api_url).send(text())
    assert not caught.value.retryable


async def test_a_refused_token_turns_health_red_and_is_never_in_a_reason(
    sim: TelegramSimulator, api_url: str, http: PlatformHTTP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "987654321:AAE-revoked-token-0000000000000"
    ch = bot(http, api_url, bot_token=wrong)
    with pytest.raises(InvalidCredentials) as caught:
        await ch.send(text())
    assert caught.value.code == 401 and ch.ctx.health.status == "failing"
    assert "bot_token" in ch.ctx.health.message and "@BotFather" in ch.ctx.health.message
    assert wrong not in caught.value.reason and wrong not in ch.ctx.health.message
    assert all(wrong not in r.getMessage() for r in caplog.records)
    sim.bot_token = wrong  # the operator fixed it on the platform's side: the next success turns it green
    await ch.send(text())
    assert ch.ctx.health.status == "ok"


async def test_an_unreachable_api_is_unavailable_and_scrubbed(http: PlatformHTTP) -> None:
    ch = bot(http, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Unavailable) as caught:
        await ch.send(text())
    assert TOKEN not in caught.value.reason


async def test_mapped_payloads_are_stored_before_the_keyboard_is_sent(
    sim: TelegramSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = bot(http, api_url)
    long = "CHECKOUT:" + "9" * 80
    message = {
        "type": "text",
        "text": "Pay?",
        "quick_replies": [{"type": "reply", "title": "Pay", "payload": long}],
    }
    [outbound] = ch.render([parse_message(message)], render_ctx())
    await ch.send(outbound)
    [sent] = sim.sent
    assert "_callbacks" not in sent.params  # ours, never Telegram's
    data = sent.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert await ch.ctx.kv.get(store_key(data)) == long


async def test_media_the_user_sent_is_fetched_through_getfile(
    sim: TelegramSimulator, api_url: str, http: PlatformHTTP
) -> None:
    sim.add_file("AgAD-1", b"\x89PNG...", "image/png", path="photos/file_1.png")
    media = await bot(http, api_url).download_media("AgAD-1")
    assert (media.content, media.mime_type) == (b"\x89PNG...", "image/png")
    with pytest.raises(Rejected, match="invalid file_id"):
        await bot(http, api_url).download_media("unknown")
    sim.add_file("BIG", b"", "video/mp4", path="")
    with pytest.raises(Rejected, match="over 20 MB"):
        await bot(http, api_url).download_media("BIG")


async def test_connect_sets_the_webhook_with_the_secret_and_reports_its_state(
    sim: TelegramSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = bot(http, api_url)
    said = await ch.connect()
    assert sim.webhook["url"] == "https://gateway.example/webhooks/telegram/main"
    [call] = [c for c in sim.calls if c.method == "setWebhook"]
    assert call.params["secret_token"] == "simulated-secret-token"
    assert call.params["allowed_updates"] == [
        "message",
        "edited_message",
        "callback_query",
        "my_chat_member",
        "message_reaction",
    ]
    assert said.connected
    assert said.detail == f"Telegram webhook set to {ch.ctx.callback_url}; no delivery error reported"
    info = {
        "url": "https://gw/x",
        "pending_update_count": 3,
        "last_error_message": "Connection refused",
        "last_error_date": 1700000000,
    }
    assert describe_webhook(info, "https://gw/x") == (
        "Telegram webhook set to https://gw/x; 3 update(s) waiting to be delivered; Telegram's last delivery "
        "error: Connection refused (at 1700000000, Unix time)"
    )


async def test_connect_says_what_telegram_refuses(
    sim: TelegramSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = channel(http, api_base_url=api_url)
    ch.ctx.public_url = "http://bot.example.com"
    with pytest.raises(Rejected, match="An HTTPS URL must be provided"):
        await ch.connect()


# --- pacing -----------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_private_chat_gets_a_burst_then_one_message_a_second() -> None:
    clock = Clock()
    pacer = chat_pacer(clock)
    assert [pacer.reserve("7") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.reserve("7") == pytest.approx(1.0 + MARGIN)
    assert pacer.reserve("7") == pytest.approx(2.0 + MARGIN)
    assert pacer.reserve("8") == 0.0  # another chat has its own bucket
    clock.now += 10
    assert pacer.reserve("7") == 0.0


def test_a_group_gets_twenty_a_minute() -> None:
    pacer = chat_pacer(Clock())
    assert [pacer.reserve("-100") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.reserve("-100") == pytest.approx(3.0 + MARGIN)


async def test_a_long_wait_is_handed_back_as_throttled_without_a_call(
    sim: TelegramSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = bot(http, api_url)
    clock = Clock()
    ch.pacer = chat_pacer(clock)
    for _ in range(3):
        ch.pacer.reserve("-100")
    ch.pacer.reserve("-100")  # the next one would wait 6 s
    with pytest.raises(Throttled) as caught:
        await ch.send(text(-100))
    assert caught.value.retry_after == pytest.approx(6.0 + MARGIN) and sim.sent == []
    assert ch.pacer.reserve("-100") == pytest.approx(6.0 + MARGIN)  # the token was given back


async def test_actions_are_not_paced(sim: TelegramSimulator, api_url: str, http: PlatformHTTP) -> None:
    ch = bot(http, api_url)
    ch.pacer = chat_pacer(Clock())
    for _ in range(10):
        ch.pacer.reserve("1111111")
    answer = Outbound(body={"method": "answerCallbackQuery", "callback_query_id": "1"}, kind="action")
    await ch.send(answer)
    assert sim.answered_callbacks() == ["1"]
