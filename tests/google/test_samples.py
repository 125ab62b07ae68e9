"""Real-world RBM events (Google's "Receive events" guide), pushed as Google pushes them: each gives the full
event it must, or is skipped with a logged reason (issue 13, "authentic events are dropped or stripped").
Sources: samples/README.md."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from channelgate.channels.base import InboundMessage, StatusUpdate, WebhookRequest
from channelgate.turns import EventInput, PostbackInput, User

from .kit import gbm_channel, parse, rbm_channel, request

SAMPLES = Path(__file__).parent / "samples"


def pushed(name: str) -> WebhookRequest:
    data = base64.b64encode((SAMPLES / name).read_bytes()).decode()
    message = {"data": data, "messageId": "1", "publishTime": "2024-01-01T00:00:00Z"}
    return request(orjson.dumps({"message": message, "subscription": "projects/p/subscriptions/s"}))


def rbm_events(name: str) -> list[Any]:
    return parse(rbm_channel(agent_id="AGENT_ID"), pushed(name))


@pytest.mark.parametrize(
    ("name", "event_name"),
    [("google_rbm_unsubscribe.json", "unsubscribed"), ("google_rbm_subscribe.json", "subscribed")],
)
def test_rbm_subscription_changes_are_events(name: str, event_name: str) -> None:
    [event] = rbm_events(name)
    assert isinstance(event, InboundMessage)
    assert event.user == User(id="PHONE_NUMBER")
    assert event.dedup_key == "EVENT_ID:PHONE_NUMBER"
    assert event.platform_message_id is None
    assert event.input == EventInput(name=event_name, data={"eventId": "EVENT_ID"})


def test_rbm_suggestion_tap_without_a_message_id_is_a_postback() -> None:
    [event] = rbm_events("google_rbm_suggestion_tap.json")
    assert isinstance(event, InboundMessage)
    assert event.user == User(id="PHONE_NUMBER")
    assert event.dedup_key == "EVENT_ID"
    assert event.platform_message_id is None
    assert event.input == PostbackInput(payload="postback_1234")


def test_rbm_delivered_is_a_status() -> None:
    [event] = rbm_events("google_rbm_delivered.json")
    assert event == StatusUpdate(
        dedup_key="EVENT_ID:PHONE_NUMBER",
        user_id="PHONE_NUMBER",
        status="delivered",
        platform_message_id="MESSAGE_ID",
        raw=orjson.loads((SAMPLES / "google_rbm_delivered.json").read_bytes()),
    )


def test_rbm_typing_is_nothing_for_the_bot() -> None:
    assert rbm_events("google_rbm_is_typing.json") == []


def test_rbm_unknown_event_type_is_skipped_with_a_reason() -> None:
    event = {"senderPhoneNumber": "+1", "eventType": "SOMETHING_NEW", "eventId": "E", "agentId": "AGENT_ID"}
    data = base64.b64encode(orjson.dumps(event)).decode()
    req = request(orjson.dumps({"message": {"data": data}, "subscription": "s"}))
    assert parse(rbm_channel(agent_id="AGENT_ID"), req) == []
    reason = "event[0]: event type 'SOMETHING_NEW' is not one this channel reads"
    assert req.notes["skips"].reasons == [reason]


# --- GBM: authentication responses (shape of Google's GBM authentication guide) ----------------------------


def test_gbm_authentication_response_carries_the_code() -> None:
    response = {
        "message": "conversations/CONVERSATION_ID/messages/MESSAGE_ID",
        "postbackData": "POSTBACK_DATA",
        "createTime": "2024-01-01T00:00:00Z",
        "authenticationResponse": {"code": "AUTHORIZATION_CODE", "redirectUri": "REDIRECT_URI"},
    }
    body = {
        "agent": "brands/BRAND_ID/agents/AGENT_ID",
        "conversationId": "CONVERSATION_ID",
        "requestId": "REQUEST_ID",
        "suggestionResponse": response,
        "sendTime": "2024-01-01T00:00:01Z",
    }
    [event] = parse(gbm_channel(), request(body))
    assert isinstance(event, InboundMessage)
    assert event.user == User(id="CONVERSATION_ID")
    assert event.dedup_key.startswith("authentication:")
    assert event.input == EventInput(name="authentication_response", data=response)


def test_gbm_body_without_an_event_is_skipped_with_a_reason() -> None:
    req = request({"agent": "brands/B/agents/A", "conversationId": "C", "somethingNew": {"x": 1}})
    assert parse(gbm_channel(), req) == []
    assert req.notes["skips"].reasons == ["event[0]: no event this channel reads (fields: somethingNew)"]
