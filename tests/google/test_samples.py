"""Real-world Google events: RBM's from Google's "Receive events" guide, pushed as Google pushes them, and
GBM's from Google's own webhook test framework. Each gives the full event it must, or is skipped with a logged
reason (issue 13, "authentic events are dropped or stripped"). Sources: samples/README.md."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from channelgate.channels.base import InboundMessage, StatusUpdate, WebhookRequest
from channelgate.turns import EventInput, MediaInput, PostbackInput, TextInput, User

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


# --- GBM: the payloads of Google's own webhook test framework (samples/README.md) --------------------------

GBM_USER = User(id="CONVERSATION_ID", name="USER_NAME")


def gbm_sample(name: str) -> tuple[dict[str, Any], list[Any]]:
    body = orjson.loads((SAMPLES / name).read_bytes())
    req = request((SAMPLES / name).read_bytes())
    events = parse(gbm_channel(), req)
    assert "skips" not in req.notes or req.notes["skips"].reasons == []
    return body, events


def gbm_turn(body: dict[str, Any], key: str, input: Any, message_id: str | None = None) -> InboundMessage:
    """What every GBM sample turn shares: the user and locale from ``context``, the body as ``raw``; the
    placeholder times (``SEND_TIME``) give no timestamp."""
    return InboundMessage(
        dedup_key=key,
        user=GBM_USER,
        input=input,
        raw=body,
        platform_message_id=message_id or key,
        locale_hint="USER_LOCALE",
        timestamp=None,
    )


def test_gbm_text_message_sample() -> None:
    body, [event] = gbm_sample("gbm_text_message.json")
    assert event == gbm_turn(body, "MESSAGE_ID", TextInput(text="MESSAGE_TEXT"))


def test_gbm_text_with_a_dialogflow_response_keeps_it_in_raw() -> None:
    body, [event] = gbm_sample("gbm_text_with_dialogflow_response.json")
    assert event == gbm_turn(body, "MESSAGE_ID", TextInput(text="MESSAGE_TEXT"))
    assert event.raw["dialogflowResponse"]["faqResponse"]["answers"][0]["faqAnswer"] == "FAQ_ANSWER"


def test_gbm_image_message_sample_is_media() -> None:
    body, [event] = gbm_sample("gbm_image_message.json")
    url = body["message"]["text"]
    assert url.startswith("https://storage.googleapis.com/business-messages-us/") and "&x-goog-date=" in url
    assert event == gbm_turn(body, "MESSAGE_ID", MediaInput(kind="image", url=url))


def test_gbm_suggestion_message_sample_is_a_postback() -> None:
    body, [event] = gbm_sample("gbm_suggestion_message.json")
    assert re.fullmatch(r"suggestion:[0-9a-f]{40}", event.dedup_key)
    input = PostbackInput(payload="POSTBACK_DATA", title="SUGGESTION_TEXT")
    assert event == gbm_turn(body, event.dedup_key, input)


def test_gbm_authentication_request_sample_is_an_event_with_the_code() -> None:
    """Google sends the authentication response as the body's own payload: main skipped it ("no event this
    channel reads"), losing the authorization code."""
    body, [event] = gbm_sample("gbm_authentication_request.json")
    data = {
        "authenticationResponse": {
            "code": "AUTHORIZATION_CODE",
            "redirect_uri": "REDIRECT_URI",
            "errorDetails": {"error": "ERROR", "errorDescription": "ERROR_DESCRIPTION"},
        }
    }
    input = EventInput(name="authentication_response", data=data)
    assert event == gbm_turn(body, "REQUEST_ID", input)  # no createTime: Google's requestId is the key


def test_gbm_event_receive_sample_is_a_live_agent_request() -> None:
    body, [event] = gbm_sample("gbm_event_receive.json")
    assert re.fullmatch(r"live_agent:[0-9a-f]{40}", event.dedup_key)
    input = EventInput(name="live_agent_requested", data={"createTime": "CREATION_TIME"})
    expected = gbm_turn(body, event.dedup_key, input)
    assert event == replace(expected, user=User(id="CONVERSATION_ID"), locale_hint=None)  # no context


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [("gbm_user_receipt.json", "DELIVERED", "delivered"), ("gbm_read_receipt.json", "READ", "read")],
)
def test_gbm_receipt_samples_are_statuses(name: str, kind: str, status: str) -> None:
    body, [event] = gbm_sample(name)
    assert event == StatusUpdate(
        dedup_key=f"conversations/CONVERSATION_ID/messages/MESSAGE_ID:{kind}",
        user_id="CONVERSATION_ID",
        status=status,  # type: ignore[arg-type]
        platform_message_id="MESSAGE_ID",
        raw=body["receipts"]["receipts"][0],
    )
