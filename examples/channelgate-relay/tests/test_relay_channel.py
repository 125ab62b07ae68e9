"""The relay channel's own tests, as an external package would write them: the installed channel (found by
its entry point) inside ``channelgate.testing.ChannelHarness``, a fake relay peer as the platform."""

from __future__ import annotations

from typing import Any

import pytest
from channelgate_relay import sign

from channelgate.testing import ChannelHarness, FakePlatform, OutgoingRequest, Received, wait_until
from channelgate.turns import LocationInput, PostbackInput, TextInput

SIGNING_KEY = "relay-shared-key"


def signer(request: OutgoingRequest) -> None:
    request.headers["x-relay-signature"] = sign(SIGNING_KEY, request.body)


def peer_answer(request: Received) -> tuple[int, Any]:
    """The far side checks our signature the way we check its own."""
    if request.headers.get("x-relay-signature") != sign(SIGNING_KEY, request.body):
        return 401, {"error": "bad signature"}
    return 200, {"message_id": f"m-{request.json()['id'][:8]}"}


def relay(platform: FakePlatform, key: str = SIGNING_KEY) -> ChannelHarness:
    return ChannelHarness(
        "relay",  # by entry point name: the installed package, as the gateway loads it
        lambda url: {"secret": key, "send_url": f"{url}/send"},
        sign=signer,
        platform=platform,
    )


def event(event_id: str, user: str = "u1", **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "user": {"id": user, "name": "Ann"}, **fields}


async def test_text_postback_and_location_become_turns_and_replies_are_signed_sends() -> None:
    platform = FakePlatform(peer_answer)
    async with relay(platform) as h:
        location = {"latitude": 48.85, "longitude": 2.35}
        batch = [
            event("e1", text="hi"),
            event("e2", postback={"payload": "BUY", "title": "Buy"}),
            event("e3", location=location),
        ]
        assert (await h.post(batch)).status_code == 200
        turns = await h.wait_for_turns(3)
        sent = await h.wait_for_sends(3)
    assert [t.input for t in turns] == [
        TextInput(text="hi"),
        PostbackInput(payload="BUY", title="Buy"),
        LocationInput(**location),
    ]
    assert turns[0].user.name == "Ann" and turns[0].raw == batch[0]
    bodies = [r.json() for r in sent]
    assert [(b["to"], b["message"]) for b in bodies] == [
        ("u1", {"type": "text", "text": "echo: hi"}),
        ("u1", {"type": "text", "text": "echo: BUY"}),
        ("u1", {"type": "text", "text": "echo: location"}),
    ]
    assert all(len(b["id"]) == 32 for b in bodies)  # the receiver's dedup key


@pytest.mark.parametrize(
    ("headers", "status"), [({}, 401), ({"x-relay-signature": "sha256=" + "0" * 64}, 403)]
)
async def test_unsigned_and_badly_signed_webhooks_are_refused(headers: dict[str, str], status: int) -> None:
    async with relay(FakePlatform(peer_answer)) as h:
        response = await h.post(event("e1", text="hi"), headers=headers, signed=False)
        assert response.status_code == status
        assert h.bot.turns == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("body", [b"{not json", b'{"id": "x"}', b'{"id": "x", "user": {"id": "u"}}'])
async def test_malformed_events_are_a_400_with_a_reason(body: bytes) -> None:
    async with relay(FakePlatform(peer_answer)) as h:
        response = await h.post(body)
        assert response.status_code == 400 and response.json()["error"]


async def test_a_throttled_send_is_retried_and_arrives_once() -> None:
    platform = FakePlatform(peer_answer)
    platform.fail_next(429, headers={"retry-after": "0"})
    async with relay(platform) as h:
        await h.post(event("t1", text="later"))
        [sent] = await h.wait_for_sends(1)
    assert sent.json()["message"] == {"type": "text", "text": "echo: later"}
    assert [status for _, status in platform.attempts] == [429, 200]


async def test_a_peer_refusing_the_signature_turns_the_integration_red() -> None:
    platform = FakePlatform(peer_answer)
    async with relay(platform, key="another-key-entirely") as h:
        h.sign = lambda request: request.headers.update(
            {"x-relay-signature": sign("another-key-entirely", request.body)}
        )
        await h.post(event("c1", text="hi"))
        await wait_until(lambda: h.health.status == "failing")
        assert "secret" in h.health.message
        assert platform.requests == []
