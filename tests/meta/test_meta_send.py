"""channel.send, user_profile and download_media against the Graph API simulator over loopback: success,
every failure class as the right SendError, and integration health."""

from __future__ import annotations

from typing import Any

import pytest
from metakit import PSID, WA_ID, messenger, render_ctx, whatsapp

from channelgate.channels.base import (
    InvalidCredentials,
    Outbound,
    Rejected,
    SendError,
    Throttled,
    Unavailable,
    UserProfile,
    WindowClosed,
)
from channelgate.channels.http import PlatformHTTP
from channelgate.messages import parse_message
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import free_port, serve_app


def make(kind: str, sim: GraphSimulator, graph_url: str, http: PlatformHTTP, **config: Any):
    if kind == "messenger":
        return messenger(http, page_access_token=sim.access_token, api_base_url=graph_url, **config)
    return whatsapp(http, access_token=sim.access_token, api_base_url=graph_url, **config)


def outbound(channel, text: str = "hello", **ctx: Any) -> list[Outbound]:
    user = PSID if channel.name == "messenger" else WA_ID
    return channel.render([parse_message(text)], render_ctx(user, **ctx))


KINDS = ["messenger", "whatsapp"]


@pytest.mark.parametrize("kind", KINDS)
async def test_send_returns_the_platform_message_id(kind, sim, graph_url, http) -> None:
    channel = make(kind, sim, graph_url, http)
    [payload] = outbound(channel)
    result = await channel.send(payload)
    [sent] = sim.sent
    assert sent.product == kind and sent.body == payload.body
    assert result.platform_message_id == sent.message_id
    assert sent.message_id.startswith("m_" if kind == "messenger" else "wamid.")
    assert channel.ctx.health.status == "ok"


@pytest.mark.parametrize("kind", KINDS)
async def test_token_travels_in_the_authorization_header_never_in_the_url(kind, sim, http) -> None:
    seen: list[dict[str, Any]] = []

    async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope)
        await sim.app(scope, receive, send)

    async with serve_app(recording) as url:
        channel = make(kind, sim, sim.api_base_url(url), http)
        await channel.send(outbound(channel)[0])
    [request] = seen
    assert sim.access_token not in request["path"] + request["query_string"].decode()
    assert dict(request["headers"])[b"authorization"] == f"Bearer {sim.access_token}".encode()


@pytest.mark.parametrize("kind", KINDS)
async def test_reply_actions_are_accepted(kind, sim, graph_url, http) -> None:
    channel = make(kind, sim, graph_url, http)
    payloads = outbound(channel, reply_to="m_IN" if kind == "messenger" else "wamid.IN")
    results = [await channel.send(p) for p in payloads]
    assert [p.kind for p in payloads][-1] == "message"
    assert results[0].platform_message_id is None  # typing indicators and read marks have no message id
    assert len(sim.sent) == len(payloads)


FAILURES = [
    ({"code": 4, "retry_after": 12}, Throttled, 12.0),
    ({"code": 17}, Throttled, None),
    ({"code": 32}, Throttled, None),
    ({"code": 613, "retry_after": 1.5}, Throttled, 1.5),
    ({"code": 80007}, Throttled, None),
    ({"code": 130429, "retry_after": 3}, Throttled, 3.0),
    ({"code": 131056}, Throttled, None),
    ({"status": 429, "retry_after": 2}, Throttled, 2.0),
    ({"code": 131047}, WindowClosed, None),
    ({"code": 10, "subcode": 2018278}, WindowClosed, None),
    ({"code": 190}, InvalidCredentials, None),
    ({"code": 100, "message": "(#100) Invalid parameter"}, Rejected, None),
    ({"code": 131026, "message": "(#131026) Message Undeliverable"}, Rejected, None),
    ({"status": 500}, Unavailable, None),
    ({"status": 503, "retry_after": 30}, Unavailable, 30.0),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("failure", "error", "retry_after"), FAILURES, ids=[str(f[0]) for f in FAILURES])
async def test_failures_are_typed(kind, failure, error, retry_after, sim, graph_url, http) -> None:
    channel = make(kind, sim, graph_url, http)
    sim.fail_next(1, **failure)
    with pytest.raises(SendError) as raised:
        await channel.send(outbound(channel)[0])
    assert type(raised.value) is error
    assert raised.value.retry_after == retry_after
    assert raised.value.reason.startswith("Graph API error")
    assert sim.access_token not in raised.value.reason
    assert sim.sent == []
    assert raised.value.retryable == (error in (Throttled, Unavailable, InvalidCredentials))


async def test_whatsapp_window_error_has_a_human_reason(sim, graph_url, http) -> None:
    channel = make("whatsapp", sim, graph_url, http)
    sim.fail_next(1, code=131047)
    with pytest.raises(WindowClosed) as raised:
        await channel.send(outbound(channel)[0])
    assert raised.value.code == 131047
    assert raised.value.reason == (
        "Graph API error 131047: Re-engagement message (Message failed to send because more than 24 hours "
        "have passed since the customer last replied to this number.)"
    )


@pytest.mark.parametrize(
    ("kind", "field"), [("messenger", "page_access_token"), ("whatsapp", "access_token")]
)
async def test_invalid_token_turns_health_red_until_a_send_succeeds(
    kind, field, sim, graph_url, http
) -> None:
    channel = make(kind, sim, graph_url, http)
    sim.fail_next(1, code=190)
    with pytest.raises(InvalidCredentials):
        await channel.send(outbound(channel)[0])
    health = channel.ctx.health
    assert health.status == "failing"
    assert field in health.message and "190" in health.message
    assert sim.access_token not in health.message
    await channel.send(outbound(channel)[0])
    assert (health.status, health.message) == ("ok", "")


async def test_a_wrong_configured_token_is_invalid_credentials(sim, graph_url, http) -> None:
    channel = messenger(http, page_access_token="EAAG-revoked", api_base_url=graph_url)
    with pytest.raises(InvalidCredentials) as raised:
        await channel.send(outbound(channel)[0])
    assert "EAAG-revoked" not in raised.value.reason
    assert "EAAG-revoked" not in channel.ctx.health.message


async def test_unreachable_api_is_unavailable(http) -> None:
    channel = whatsapp(http, api_base_url=f"http://127.0.0.1:{free_port()}/v25.0")
    with pytest.raises(Unavailable, match="WhatsApp API unreachable"):
        await channel.send(outbound(channel)[0])


async def test_a_payload_the_platform_refuses_is_rejected_with_graphs_reason(sim, graph_url, http) -> None:
    channel = make("whatsapp", sim, graph_url, http)
    buttons = [{"type": "reply", "reply": {"id": f"b{i}", "title": f"B{i}"}} for i in range(4)]
    raw = {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "?"}, "action": {"buttons": buttons}},
    }
    [payload] = channel.render(
        [parse_message({"type": "channel", "payloads": {"whatsapp": raw}})], render_ctx(WA_ID)
    )
    with pytest.raises(Rejected) as raised:
        await channel.send(payload)
    assert raised.value.code == 100
    assert "between 1 and 3 buttons (got 4)" in raised.value.reason
    assert len(sim.rejected) == 1


async def test_injected_failures_skip_read_marks_and_typing_indicators(sim, graph_url, http) -> None:
    channel = make("whatsapp", sim, graph_url, http)
    read_mark, message = outbound(channel, reply_to="wamid.IN")
    sim.fail_next(1, code=130429)
    await channel.send(read_mark)
    with pytest.raises(Throttled):
        await channel.send(message)


# --- user profiles and media -------------------------------------------------------------------------


async def test_messenger_user_profile(sim, graph_url, http) -> None:
    sim.profiles[PSID] = {"first_name": "Peter", "last_name": "Chang", "locale": "en_US", "profile_pic": "x"}
    channel = make("messenger", sim, graph_url, http)
    assert await channel.user_profile(PSID) == UserProfile(name="Peter Chang", locale="en_US")


async def test_unknown_profile_is_none(sim, graph_url, http) -> None:
    channel = make("messenger", sim, graph_url, http)
    assert await channel.user_profile("123456") is None
    assert await channel.user_profile("../me") is None


async def test_whatsapp_has_no_profile_api(sim, graph_url, http) -> None:
    assert await make("whatsapp", sim, graph_url, http).user_profile(WA_ID) is None


async def test_media_is_downloaded_with_the_token(sim, graph_url, http) -> None:
    sim.add_media("2754859441498128", b"\xff\xd8jpeg bytes", "image/jpeg")
    channel = make("whatsapp", sim, graph_url, http)
    media = await channel.download_media("2754859441498128")
    assert (media.content, media.mime_type) == (b"\xff\xd8jpeg bytes", "image/jpeg")


async def test_unknown_media_is_rejected(sim, graph_url, http) -> None:
    channel = make("whatsapp", sim, graph_url, http)
    with pytest.raises(Rejected):
        await channel.download_media("999")


async def test_media_id_that_is_a_path_is_refused_without_a_call(sim, graph_url, http) -> None:
    channel = make("whatsapp", sim, graph_url, http)
    for bad in ("../me/messages", "a/b", "", "x?y=1"):
        with pytest.raises(Rejected):
            await channel.download_media(bad)


def test_media_urls_the_token_may_follow() -> None:
    channel = whatsapp(api_base_url="http://127.0.0.1:8900/v25.0")
    assert channel.api.trusted_media_url("https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1")
    assert channel.api.trusted_media_url("http://127.0.0.1:8900/whatsapp_business/attachments/?mid=1")
    assert not channel.api.trusted_media_url("http://evil.example/steal")
    assert not channel.api.trusted_media_url("https://evil.example/steal")
    assert not channel.api.trusted_media_url("https://fbsbx.com.evil.example/x")
    assert not channel.api.trusted_media_url("http://lookaside.fbsbx.com/x")
    assert not channel.api.trusted_media_url("file:///etc/passwd")
