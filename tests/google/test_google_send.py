"""Sends over loopback to the simulator, OAuth included, and every error class."""

from __future__ import annotations

import httpx
import pytest

from channelgate.channels.base import InvalidCredentials, Outbound, Rejected, Throttled, Unavailable
from channelgate.channels.gbm import GBMChannel
from channelgate.channels.google.errors import classify, retry_after
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.rbm import RBMChannel
from channelgate.messages import Card, CardMedia, ChannelSpecific, ReplyAction, Text
from channelgate.testing.google import GoogleAgentSimulator

from .kit import MSISDN, context, gbm_channel, render_context


async def send_all(channel: GBMChannel | RBMChannel, outbounds: list[Outbound]) -> list[str | None]:
    return [(await channel.send(o)).platform_message_id for o in outbounds]


async def test_gbm_reply_reaches_google_with_typing_events_around_it(
    gbm: GBMChannel, sim: GoogleAgentSimulator
) -> None:
    card = Card(
        title="Shoes",
        media=CardMedia(url="https://cdn.example.com/s.jpg"),
        buttons=[ReplyAction(title="Buy", payload="buy")],
    )
    outbounds = gbm.render([Text(text="Here you go"), card], render_context("conv-1"))
    ids = await send_all(gbm, outbounds)
    sent = await sim.wait_for_sends(2, timeout=2)
    assert [s.body.get("text") for s in sent] == ["Here you go", None]
    assert [s.target for s in sent] == ["conv-1", "conv-1"]
    assert ids[1:3] == [s.id for s in sent]
    assert sent[1].body["fallback"].startswith("Shoes")
    assert sent[1].body["representative"] == {"representativeType": "BOT", "displayName": "Shop Bot"}
    assert [e.body["eventType"] for e in sim.events] == ["TYPING_STARTED", "TYPING_STOPPED"]
    assert sim.events[0].params == {"eventId": outbounds[0].body["eventId"]}
    assert gbm.ctx.health.status == "ok"
    assert len(sim.token_requests) == 1  # one token for all five calls


async def test_gbm_retry_of_an_accepted_message_is_idempotent(
    gbm: GBMChannel, sim: GoogleAgentSimulator
) -> None:
    """The id comes from the outbox: a retry after a lost answer meets 409 ALREADY_EXISTS: success."""
    [outbound] = [o for o in gbm.render([Text(text="once")], render_context()) if o.kind == "message"]
    first = await gbm.send(outbound)
    second = await gbm.send(outbound)
    assert first == second
    assert len(sim.sent) == 1
    assert sim.rejected[-1]["status_name"] == "ALREADY_EXISTS"


async def test_gbm_conversation_id_is_quoted_in_the_path(gbm: GBMChannel, sim: GoogleAgentSimulator) -> None:
    [outbound] = gbm.render([Text(text="x")], render_context("a b?c#d", reply_to=None))
    await gbm.send(outbound)
    assert sim.sent[0].target == "a b?c#d"


async def test_rate_limit_is_throttled_with_the_retry_after_hint(
    gbm: GBMChannel, sim: GoogleAgentSimulator
) -> None:
    sim.fail_next(429, retry_after=7, kind="message")
    [outbound] = gbm.render([Text(text="x")], render_context(reply_to=None))
    with pytest.raises(Throttled) as caught:
        await gbm.send(outbound)
    assert (caught.value.retry_after, caught.value.code) == (7.0, "RESOURCE_EXHAUSTED")
    assert "Quota exceeded" in caught.value.reason
    await gbm.send(outbound)  # the retry goes through
    assert len(sim.sent) == 1


async def test_outage_is_unavailable(gbm: GBMChannel, sim: GoogleAgentSimulator) -> None:
    sim.fail_next(503)
    [outbound] = gbm.render([Text(text="x")], render_context(reply_to=None))
    with pytest.raises(Unavailable) as caught:
        await gbm.send(outbound)
    assert caught.value.retryable and caught.value.code == "UNAVAILABLE"


async def test_rejected_token_turns_health_red_and_is_replaced(
    gbm: GBMChannel, sim: GoogleAgentSimulator
) -> None:
    [outbound] = gbm.render([Text(text="x")], render_context(reply_to=None))
    await gbm.send(outbound)
    sim.revoke_tokens()
    [again] = gbm.render([Text(text="y")], render_context(reply_to=None))
    with pytest.raises(InvalidCredentials) as caught:
        await gbm.send(again)
    assert caught.value.retryable
    assert gbm.ctx.health.status == "failing"
    token = sim.token_requests  # the cached token was dropped: the retry fetches a new one and succeeds
    await gbm.send(again)
    assert len(token) == 2
    assert gbm.ctx.health.status == "ok"
    assert [s.body["text"] for s in sim.sent] == ["x", "y"]


async def test_injected_401_is_invalid_credentials(gbm: GBMChannel, sim: GoogleAgentSimulator) -> None:
    sim.fail_next(401)
    [outbound] = gbm.render([Text(text="x")], render_context(reply_to=None))
    with pytest.raises(InvalidCredentials, match="UNAUTHENTICATED"):
        await gbm.send(outbound)


async def test_wrong_scope_is_refused(
    sim: GoogleAgentSimulator, sim_url: str, key_json: str, http: PlatformHTTP
) -> None:
    """A token minted for RBM does not open the Business Messages API (403 → InvalidCredentials)."""
    channel = gbm_channel(context(http), service_account=key_json, api_base_url=f"{sim_url}/v1")
    channel.tokens.scope = "https://www.googleapis.com/auth/rcsbusinessmessaging"
    [outbound] = channel.render([Text(text="x")], render_context(reply_to=None))
    with pytest.raises(InvalidCredentials, match="insufficient authentication scopes"):
        await channel.send(outbound)


async def test_message_google_refuses_is_rejected(gbm: GBMChannel, sim: GoogleAgentSimulator) -> None:
    too_long = {
        "text": "x",
        "suggestions": [{"reply": {"text": "y" * 30, "postbackData": "p"}}],
        "fallback": "x",
    }
    [outbound] = gbm.render([ChannelSpecific(payloads={"gbm": too_long})], render_context(reply_to=None))
    with pytest.raises(Rejected) as caught:
        await gbm.send(outbound)
    assert not caught.value.retryable
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "25 characters" in caught.value.reason


async def test_rich_message_without_fallback_is_a_failed_precondition(
    gbm: GBMChannel, sim: GoogleAgentSimulator
) -> None:
    [outbound] = gbm.render([Card(title="Card")], render_context(reply_to=None))
    del outbound.body["message"]["fallback"]
    with pytest.raises(Rejected) as caught:
        await gbm.send(outbound)
    assert caught.value.code == "FAILED_PRECONDITION"


async def test_unreachable_api_is_unavailable(sim_url: str, key_json: str, http: PlatformHTTP) -> None:
    channel = gbm_channel(context(http), service_account=key_json, api_base_url="http://127.0.0.1:9/v1")
    [outbound] = channel.render([Text(text="x")], render_context(reply_to=None))
    with pytest.raises(Unavailable, match="unreachable"):
        await channel.send(outbound)


# --- RBM ----------------------------------------------------------------------------------------------------


async def test_rbm_reply_reaches_google_with_read_and_typing_events(
    rbm: RBMChannel, sim: GoogleAgentSimulator
) -> None:
    outbounds = rbm.render(
        [Text(text="Hello", quick_replies=[ReplyAction(title="Hi", payload="hi")])],
        render_context(MSISDN, reply_to="user-msg"),
    )
    ids = await send_all(rbm, outbounds)
    [sent] = await sim.wait_for_sends(1, timeout=2)
    assert (sent.api, sent.target) == ("rbm", MSISDN)
    assert sent.params == {"messageId": ids[-1], "agentId": "sim-agent"}
    assert sent.body == {
        "contentMessage": {"text": "Hello", "suggestions": [{"reply": {"text": "Hi", "postbackData": "hi"}}]}
    }
    assert [e.body for e in sim.events] == [
        {"eventType": "READ", "messageId": "user-msg"},
        {"eventType": "IS_TYPING"},
    ]
    assert sim.token_requests[0]["scope"] == "https://www.googleapis.com/auth/rcsbusinessmessaging"


async def test_rbm_retry_of_an_accepted_message_is_ignored(
    rbm: RBMChannel, sim: GoogleAgentSimulator
) -> None:
    [outbound] = rbm.render([Text(text="once")], render_context(MSISDN, reply_to=None))
    await rbm.send(outbound)
    await rbm.send(outbound)
    assert len(sim.sent) == 1


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (429, Throttled, True),
        (503, Unavailable, True),
        (401, InvalidCredentials, True),
        (404, Rejected, False),
    ],
)
async def test_rbm_errors_are_typed(
    rbm: RBMChannel, sim: GoogleAgentSimulator, status: int, error: type[Exception], retryable: bool
) -> None:
    sim.fail_next(status, retry_after=2 if status == 429 else None, api="rbm")
    [outbound] = rbm.render([Text(text="x")], render_context(MSISDN, reply_to=None))
    with pytest.raises(error) as caught:
        await rbm.send(outbound)
    assert caught.value.retryable is retryable  # type: ignore[attr-defined]


# --- classification, without a network -----------------------------------------------------------------


def google_response(
    status: int,
    status_name: str = "",
    headers: dict[str, str] | None = None,
    details: list[dict[str, str]] | None = None,
) -> httpx.Response:
    error: dict[str, object] = {"code": status, "message": "Something happened.", "status": status_name}
    if details:
        error["details"] = details
    return httpx.Response(status, json={"error": error}, headers=headers)


@pytest.mark.parametrize(
    ("status", "name", "error"),
    [
        (400, "INVALID_ARGUMENT", Rejected),
        (400, "FAILED_PRECONDITION", Rejected),
        (401, "UNAUTHENTICATED", InvalidCredentials),
        (403, "PERMISSION_DENIED", InvalidCredentials),
        (404, "NOT_FOUND", Rejected),
        (409, "ABORTED", Rejected),
        (429, "RESOURCE_EXHAUSTED", Throttled),
        (500, "INTERNAL", Unavailable),
        (503, "UNAVAILABLE", Unavailable),
    ],
)
def test_google_errors_are_classified(status: int, name: str, error: type[Exception]) -> None:
    classified = classify(google_response(status, name), "Business Messages")
    assert type(classified) is error
    assert classified.code == name
    assert classified.reason == f"Business Messages API answered HTTP {status} {name}: Something happened."


def test_retry_hint_comes_from_retry_info_when_there_is_no_header() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]
    throttled = classify(google_response(429, "RESOURCE_EXHAUSTED", details=details), "RBM")
    assert throttled.retry_after == 30.0


def test_retry_hint_accepts_an_http_date() -> None:
    response = google_response(503, "UNAVAILABLE", headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after(response, now=1445412470.0) == 10.0


def test_non_json_error_bodies_are_classified_by_status() -> None:
    classified = classify(httpx.Response(502, text="<html>bad gateway</html>"), "RBM")
    assert isinstance(classified, Unavailable)
    assert classified.reason == "RBM API answered HTTP 502"
