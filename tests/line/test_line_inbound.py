"""LINE webhooks: the signature (the reference doc's vectors, missing 401, wrong 403, constant time over the
raw bytes) and what every event becomes, never a silently dropped authentic event."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from channelgate.channels.base import BadRequest, Forbidden, InboundMessage, Unauthorized
from channelgate.channels.line.channel import signature
from channelgate.turns import EventInput, LocationInput, MediaInput, PostbackInput, TextInput, User

from .kit import USER, channel, event, post, receive, webhook

# --- the signature -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "body", "expected"),
    [
        # line-bot-sdk-python tests/v3/test_webhook.py (channel-protocols-2.md §0.3)
        ("channel_secret", b"bodybodybodybody", "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="),
        # line-bot-sdk-nodejs test/validate-signature.spec.ts
        ("test_secret", b'{"hello":"world"}', "t7Hn4ZDHqs6e+wdvI5TyQIvzie0DmMUmuXEBqyyE/tM="),
    ],
)
def test_the_published_signature_vectors(secret: str, body: bytes, expected: str) -> None:
    assert signature(body, secret) == expected
    independent = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    assert independent == expected


def test_the_sdk_vector_authenticates_a_channel_with_that_secret() -> None:
    ch = channel(channel_secret="test_secret")
    body = b'{"destination":"U1","events":[]}'
    request = post(body, signature(body, "test_secret"))
    assert ch.parse(request, ch.authenticate(request)) == []
    vector = post(b'{"hello":"world"}', "t7Hn4ZDHqs6e+wdvI5TyQIvzie0DmMUmuXEBqyyE/tM=")
    with pytest.raises(BadRequest):  # authentic, but not a webhook: refused after the signature, not before
        ch.authenticate(vector)


def test_missing_signature_is_401_and_wrong_is_403() -> None:
    ch = channel()
    body = webhook([event("follow", follow={"isUnblocked": False})])
    with pytest.raises(Unauthorized):
        ch.authenticate(post(body, None))
    with pytest.raises(Forbidden):
        ch.authenticate(post(body, signature(body, "another-secret")))
    with pytest.raises(Forbidden):
        ch.authenticate(post(body + b" ", signature(body, "line-sim-channel-secret-0123456789")))


def test_the_signature_is_checked_before_the_body_is_read() -> None:
    with pytest.raises(Forbidden):
        channel().authenticate(post(b"not json", "AAAA"))
    with pytest.raises(BadRequest):
        receive(channel(), b"not json")
    with pytest.raises(BadRequest):
        receive(channel(), b'{"events": {}}')


def test_a_verification_webhook_without_events_is_accepted() -> None:
    assert receive(channel(), b'{"destination":"U1","events":[]}') == []


# --- events ------------------------------------------------------------------------------------------------


def one(events: list[dict[str, Any]]) -> InboundMessage:
    [parsed] = receive(channel(), events)
    assert isinstance(parsed, InboundMessage)
    return parsed


def test_a_text_message_is_text_keyed_on_the_webhook_event_id_with_its_reply_token() -> None:
    e = event("message", message={"id": "325708", "type": "text", "text": "Hello", "quoteToken": "q"})
    parsed = one([e])
    assert parsed == InboundMessage(
        dedup_key="01FZ74A0TDDPYRVKNK77XKC3ZR",
        user=User(id=USER),
        input=TextInput(text="Hello"),
        raw=e,
        platform_message_id="nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
        timestamp=1462629479.859,
    )


def test_a_redelivery_has_the_same_dedup_key() -> None:
    e = event("message", message={"id": "1", "type": "text", "text": "Hi"})
    again = {**e, "deliveryContext": {"isRedelivery": True}}
    assert one([e]).dedup_key == one([again]).dedup_key == e["webhookEventId"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"id": "9", "type": "image", "contentProvider": {"type": "line"}},
            MediaInput(kind="image", media_id="9"),
        ),
        (
            {
                "id": "9",
                "type": "video",
                "duration": 1,
                "contentProvider": {"type": "external", "originalContentUrl": "https://x/v.mp4"},
            },
            MediaInput(kind="video", url="https://x/v.mp4"),
        ),
        (
            {"id": "9", "type": "audio", "duration": 60000, "contentProvider": {"type": "line"}},
            MediaInput(kind="audio", media_id="9"),
        ),
        (
            {"id": "9", "type": "file", "fileName": "a.txt", "fileSize": 3},
            MediaInput(kind="file", media_id="9"),
        ),
        (
            {
                "id": "9",
                "type": "location",
                "title": "here",
                "address": "Tokyo",
                "latitude": 35.6,
                "longitude": 139.7,
            },
            LocationInput(latitude=35.6, longitude=139.7, name="here", address="Tokyo"),
        ),
        (
            {"id": "9", "type": "sticker", "packageId": "1", "stickerId": "2"},
            MediaInput(kind="sticker", media_id="1/2"),
        ),
        (
            {"id": "9", "type": "hologram"},
            EventInput(name="message", data={"message": {"id": "9", "type": "hologram"}}),
        ),
    ],
)
def test_every_message_type(message: dict[str, Any], expected: Any) -> None:
    assert one([event("message", message=message)]).input == expected


def test_postbacks_with_and_without_params() -> None:
    assert one([event("postback", postback={"data": "BUY"})]).input == PostbackInput(payload="BUY")
    picked = {"data": "when", "params": {"date": "2017-12-25"}}
    assert one([event("postback", postback=picked)]).input == EventInput(name="postback", data=picked)


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("follow", {"follow": {"isUnblocked": True}}),
        ("unfollow", {}),
        ("join", {}),
        ("leave", {}),
        ("memberJoined", {"joined": {"members": [{"type": "user", "userId": "U1"}]}}),
        ("memberLeft", {"left": {"members": [{"type": "user", "userId": "U1"}]}}),
        ("unsend", {"unsend": {"messageId": "325708"}}),
        ("beacon", {"beacon": {"hwid": "d41d8cd98f", "type": "enter"}}),
        ("accountLink", {"link": {"result": "ok", "nonce": "n"}}),
        ("videoPlayComplete", {"videoPlayComplete": {"trackingId": "t"}}),
        ("membership", {"membership": {"type": "joined", "membershipId": 3}}),
        ("botSuspended", {}),
        ("somethingNew", {"somethingNew": {"x": 1}}),
    ],
)
def test_other_events_keep_all_their_fields(kind: str, fields: dict[str, Any]) -> None:
    assert one([event(kind, **fields)]).input == EventInput(name=kind, data=fields)


def test_an_edit_names_the_original_message() -> None:
    message = {"id": "325708", "type": "text", "text": "edited"}
    assert one([event("messageEdited", message=message)]).input == EventInput(
        name="edit", data={"original_message_id": "325708", "message": message}
    )


def test_group_events_belong_to_the_group_and_standby_events_have_no_reply_token() -> None:
    in_group = event(
        "message",
        source={"type": "group", "groupId": "Cg1", "userId": USER},
        message={"id": "1", "type": "text", "text": "x"},
    )
    assert one([in_group]).user == User(id="Cg1")
    in_room = event("join", source={"type": "room", "roomId": "Rr1"})
    assert one([in_room]).user == User(id="Rr1")
    standby = event("message", mode="standby", message={"id": "1", "type": "text", "text": "x"})
    parsed = one([standby])
    assert parsed.platform_message_id is None
    assert parsed.input == EventInput(name="standby", data={"type": "message", "message": standby["message"]})


def test_an_event_without_source_belongs_to_the_bot_and_a_broken_one_is_skipped_with_a_reason() -> None:
    suspended = event("botSuspended")
    del suspended["source"]
    assert one([suspended]).user == User(id="Ubot")
    request = post(webhook([event("message", message="nope"), event("unfollow")]))
    parsed = channel().parse(request, channel().authenticate(request))
    assert [p.input for p in parsed] == [EventInput(name="unfollow", data={})]  # type: ignore[union-attr]
    assert request.notes["skips"].reasons == ["events[0]: message is not an object"]


def test_an_event_without_webhook_event_id_gets_a_key_from_what_identifies_it() -> None:
    old = event("message", message={"id": "7", "type": "text", "text": "x"})
    del old["webhookEventId"]
    assert one([old]).dedup_key == f"message:{USER}:{USER}:1462629479859:7"


def test_an_event_type_that_cannot_name_an_event_is_skipped_with_its_reason() -> None:
    request = post(webhook([event("\x00"), event("follow", follow={})]))
    parsed = channel().parse(request, channel().authenticate(request))
    assert [p.input for p in parsed] == [EventInput(name="follow", data={"follow": {}})]  # type: ignore[union-attr]
    assert request.notes["skips"].reasons == ["events[0]: type contains control characters"]
