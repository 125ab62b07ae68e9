"""Sends, profiles and setup step 3 through the simulator: Graph's answers mapped to the SendError kinds with
their hints, the token never in a URL or a reason, the account's webhook subscription."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from channelgate.channels.base import (
    InvalidCredentials,
    Outbound,
    Rejected,
    SendError,
    Throttled,
    Unavailable,
    WindowClosed,
)
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.instagram import InstagramChannel
from channelgate.channels.registry import load_registry
from channelgate.config import load_config
from channelgate.connecting import connect
from channelgate.testing.instagram import InstagramSimulator

from .kit import ACCOUNT, IGSID, channel

TEXT = Outbound(body={"recipient": {"id": IGSID}, "messaging_type": "RESPONSE", "message": {"text": "hi"}})


@pytest.fixture
async def ig(api_url: str) -> AsyncIterator[InstagramChannel]:
    async with PlatformHTTP(timeout=5) as http:
        yield channel(http, api_base_url=api_url)


async def test_a_send_reaches_the_account_messages_edge(
    sim: InstagramSimulator, ig: InstagramChannel
) -> None:
    result = await ig.send(TEXT)
    [sent] = sim.sent
    assert result.platform_message_id == sent.message_id and sent.body == TEXT.body
    assert ig.ctx.health.status == "ok"


@pytest.mark.parametrize(
    ("status", "code", "subcode", "kind"),
    [
        (429, 4, None, Throttled),
        (400, 341, None, Throttled),
        (400, 17, None, Throttled),
        (400, 10, 2534022, WindowClosed),
        (503, 2, None, Unavailable),
        (500, 1, None, Unavailable),
        (502, None, None, Unavailable),
        (400, 10, 1234567, Rejected),  # a permission error, not the window
        (403, 200, None, Rejected),
        (400, 368, None, Rejected),
        (400, 551, None, Rejected),
        (400, 100, None, Rejected),
    ],
)
async def test_graph_errors_are_the_send_error_kinds(
    sim: InstagramSimulator,
    ig: InstagramChannel,
    status: int,
    code: int | None,
    subcode: int | None,
    kind: type[SendError],
) -> None:
    sim.fail_next(1, status=status, code=code, subcode=subcode)
    with pytest.raises(SendError) as caught:
        await ig.send(TEXT)
    assert type(caught.value) is kind
    assert sim.sent == []


async def test_throttling_carries_the_retry_after_hint(sim: InstagramSimulator, ig: InstagramChannel) -> None:
    sim.fail_next(1, status=429, retry_after=7)
    with pytest.raises(Throttled) as caught:
        await ig.send(TEXT)
    assert caught.value.retry_after == 7 and caught.value.code == 4


async def test_a_refused_token_turns_the_integration_red_naming_no_secret(api_url: str) -> None:
    token = "IGAA-wrong-token-0123456789"
    async with PlatformHTTP(timeout=5) as http:
        ig = channel(http, api_base_url=api_url, access_token=token)
        with pytest.raises(InvalidCredentials) as caught:
            await ig.send(TEXT)
    assert token not in caught.value.reason
    assert ig.ctx.health.status == "failing" and "access_token" in ig.ctx.health.message
    assert token not in ig.ctx.health.message


async def test_an_unreachable_api_is_unavailable() -> None:
    async with PlatformHTTP(timeout=2) as http:
        ig = channel(http, api_base_url="http://127.0.0.1:9/v25.0")
        with pytest.raises(Unavailable, match="Instagram API unreachable"):
            await ig.send(TEXT)


async def test_user_profiles(sim: InstagramSimulator, ig: InstagramChannel) -> None:
    sim.profiles[IGSID] = {"name": "Ann Lee", "username": "ann.lee"}
    sim.profiles["222"] = {"username": "bob"}
    assert (await ig.user_profile(IGSID)).name == "Ann Lee"  # type: ignore[union-attr]
    assert (await ig.user_profile("222")).name == "bob"  # type: ignore[union-attr]
    assert await ig.user_profile("333") is None  # unknown: refused, not raised
    assert await ig.user_profile("../me") is None


# --- setup, step 3 ---


async def test_connect_subscribes_the_account_and_says_what_to_paste(
    sim: InstagramSimulator, ig: InstagramChannel
) -> None:
    result = await ig.connect()
    assert sim.subscribed_fields == ["messages", "messaging_postbacks", "message_reactions", "messaging_seen"]
    assert result.connected
    assert f"Instagram account {ACCOUNT} subscribed to messages" in result.detail
    assert "Callback URL: https://gateway.example/webhooks/instagram/shop" in result.detail
    assert f"Verify token: {sim.verify_token}" in result.detail


def config_file(tmp_path: Path, api_url: str, token: str) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"public_url: https://bot.example.com\nstore: sqlite:///{tmp_path / 'gw.db'}\n"
        "integrations:\n"
        "  - channel: instagram\n    label: shop\n    locale: en-US\n"
        f"    verify_token: v3rify\n    app_secret: s3cret\n    access_token: '{token}'\n"
        f"    instagram_account_id: '{ACCOUNT}'\n    api_base_url: '{api_url}'\n"
    )
    return path


async def test_channels_connect_from_the_config_file(
    tmp_path: Path, sim: InstagramSimulator, api_url: str
) -> None:
    cfg = load_config(config_file(tmp_path, api_url, sim.access_token), load_registry())
    result = await connect(cfg, "instagram", "shop")
    assert result.connected and sim.subscribed_fields
    assert "https://bot.example.com/webhooks/instagram/shop" in result.detail and "v3rify" in result.detail


async def test_connect_with_a_refused_token_names_no_secret(
    tmp_path: Path, sim: InstagramSimulator, api_url: str
) -> None:
    token = "IGAA-revoked-" + "B" * 30
    cfg = load_config(config_file(tmp_path, api_url, token), load_registry())
    with pytest.raises(InvalidCredentials) as caught:
        await connect(cfg, "instagram", "shop")
    assert "B" * 30 not in caught.value.reason and sim.subscribed_fields == []
