"""Every inbound type, for GBM (webhook JSON) and RBM (Pub/Sub push with base64 data)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from channelgate.channels.base import BadRequest, InboundMessage, StatusUpdate
from channelgate.turns import EventInput, LocationInput, MediaInput, PostbackInput, TextInput

from .kit import gbm_channel, parse, rbm_channel, request

# the reference's text sample (channel-protocols.md §3.3)
GBM_TEXT = {
    "agent": "brands/BRAND_ID/agents/AGENT_ID",
    "conversationId": "CONV_ID",
    "customAgentId": "",
    "requestId": "REQ_ID",
    "message": {
        "name": "conversations/CONV_ID/messages/MSG_ID",
        "messageId": "MSG_ID",
        "text": "hello",
        "createTime": "2024-01-01T00:00:00.000Z",
    },
    "context": {"entryPoint": "PLACESHEET", "userInfo": {"displayName": "Ann", "userDeviceLocale": "en-US"}},
    "sendTime": "2024-01-01T00:00:00.100Z",
}


def gbm_parse(body: dict[str, Any]) -> list[Any]:
    return parse(gbm_channel(), request(body))


def test_gbm_text_message() -> None:
    [event] = gbm_parse(GBM_TEXT)
    assert isinstance(event, InboundMessage)
    assert event.input == TextInput(text="hello")
    assert (event.dedup_key, event.platform_message_id) == ("MSG_ID", "MSG_ID")
    assert (event.user.id, event.user.name) == ("CONV_ID", "Ann")
    assert event.locale_hint == "en-US"
    assert event.timestamp == 1704067200.0
    assert event.raw == GBM_TEXT


def test_gbm_locale_falls_back_to_the_resolved_locale() -> None:
    body = {**GBM_TEXT, "context": {"resolvedLocale": "fr", "userInfo": {"displayName": "Ann"}}}
    [event] = gbm_parse(body)
    assert event.locale_hint == "fr"


def test_gbm_message_id_comes_from_the_name_when_absent() -> None:
    body = {**GBM_TEXT, "message": {"name": "conversations/CONV_ID/messages/M9", "text": "x"}}
    [event] = gbm_parse(body)
    assert event.dedup_key == "M9"


def test_gbm_image_by_content_info() -> None:
    image = {"contentInfo": {"fileUrl": "https://storage.googleapis.com/bucket/photo"}}
    body = {**GBM_TEXT, "message": {"messageId": "M2", "image": image}}
    [event] = gbm_parse(body)
    assert event.input == MediaInput(kind="image", url="https://storage.googleapis.com/bucket/photo")


def test_gbm_image_sent_as_a_storage_link_in_the_text() -> None:
    url = "https://storage.googleapis.com/copper_test/77ddb795/d2dcc67ab888f34ee272"
    body = {**GBM_TEXT, "message": {"messageId": "M3", "text": url}}
    [event] = gbm_parse(body)
    assert event.input == MediaInput(kind="image", url=url)


def test_gbm_text_mentioning_a_link_stays_text() -> None:
    text = "see https://storage.googleapis.com/x please"
    [event] = gbm_parse({**GBM_TEXT, "message": {"messageId": "M4", "text": text}})
    assert event.input == TextInput(text=text)


def test_gbm_suggestion_tap_is_a_postback() -> None:
    body = {
        "agent": "brands/B/agents/A",
        "conversationId": "CONV_ID",
        "suggestionResponse": {
            "message": "conversations/CONV_ID/messages/MSG_ID",
            "postbackData": "sample_chip",
            "createTime": "2024-01-01T00:00:01.123456789Z",
            "text": "Sample Chip",
            "type": "REPLY",
        },
        "sendTime": "2024-01-01T00:00:02Z",
    }
    [event] = gbm_parse(body)
    assert event.input == PostbackInput(payload="sample_chip", title="Sample Chip")
    assert event.timestamp == pytest.approx(1704067201.123457)


def test_gbm_two_taps_on_one_message_are_two_turns() -> None:
    """``suggestionResponse.message`` names the agent's message, so it cannot be the dedup key alone."""

    def tap(postback: str, at: str) -> dict[str, Any]:
        return {
            "conversationId": "C",
            "suggestionResponse": {
                "message": "conversations/C/messages/M",
                "postbackData": postback,
                "text": postback,
                "createTime": at,
            },
        }

    first = gbm_parse(tap("yes", "2024-01-01T00:00:01Z"))[0].dedup_key
    second = gbm_parse(tap("no", "2024-01-01T00:00:05Z"))[0].dedup_key
    again = gbm_parse(tap("yes", "2024-01-01T00:00:01Z"))[0].dedup_key
    assert first != second and first == again


def test_gbm_typing_is_ignored() -> None:
    body = {"conversationId": "C", "userStatus": {"isTyping": True, "createTime": "2024-01-01T00:00:00Z"}}
    assert gbm_parse(body) == []


def test_gbm_live_agent_request_is_an_event() -> None:
    body = {
        "conversationId": "C",
        "requestId": "R1",
        "userStatus": {"requestedLiveAgent": True, "createTime": "2024-01-01T00:00:00Z"},
    }
    [event] = gbm_parse(body)
    assert event.input == EventInput(name="live_agent_requested", data={"createTime": "2024-01-01T00:00:00Z"})
    assert event.user.id == "C"


def test_gbm_receipts_become_statuses_one_per_receipt() -> None:
    body = {
        "agent": "brands/BRAND_ID/agents/AGENT_ID",
        "conversationId": "CONV_ID",
        "customAgentId": "",
        "sendTime": "2024-01-01T00:00:00Z",
        "receipts": {
            "receipts": [
                {"message": "conversations/CONV_ID/messages/M1", "receiptType": "DELIVERED"},
                {"message": "conversations/CONV_ID/messages/M2", "receiptType": "READ"},
                {"message": "conversations/CONV_ID/messages/M3", "receiptType": "RECEIPT_TYPE_UNSPECIFIED"},
            ],
            "createTime": "2024-01-01T00:00:00Z",
        },
    }
    events = gbm_parse(body)
    assert events == [
        StatusUpdate(
            dedup_key="conversations/CONV_ID/messages/M1:DELIVERED",
            user_id="CONV_ID",
            status="delivered",
            platform_message_id="M1",
            raw=body["receipts"]["receipts"][0],
        ),
        StatusUpdate(
            dedup_key="conversations/CONV_ID/messages/M2:READ",
            user_id="CONV_ID",
            status="read",
            platform_message_id="M2",
            raw=body["receipts"]["receipts"][1],
        ),
    ]


def test_gbm_survey_response_is_an_event() -> None:
    survey = {
        "survey": "conversations/C/surveys/S1",
        "rating": "VERY_SATISFIED",
        "createTime": "2024-01-01T00:00:00Z",
        "surveyQuestionId": "GOOGLE_DEFINED_ASSOCIATE_SATISFACTION",
        "questionResponseText": "Yes",
        "questionResponsePostbackData": "yes",
        "questionType": "GOOGLE_STANDARD_QUESTION",
        "questionIndex": 1,
        "totalQuestionCount": 2,
        "surveyTriggerSource": "BUSINESS",
    }
    [event] = gbm_parse({"conversationId": "C", "surveyResponse": survey})
    assert event.input == EventInput(name="survey_response", data=survey)
    assert event.dedup_key == "conversations/C/surveys/S1:GOOGLE_DEFINED_ASSOCIATE_SATISFACTION"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b"{not json", "not valid JSON"),
        (orjson.dumps({"message": {"messageId": "m", "text": "x"}}), "no conversationId"),
        (orjson.dumps({"conversationId": "C", "message": {"text": "x"}}), "no messageId"),
    ],
)
def test_gbm_malformed_events_are_bad_requests(body: bytes, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        parse(gbm_channel(), request(body))


def test_gbm_body_with_only_context_gives_no_events() -> None:
    assert gbm_parse({"conversationId": "C", "context": {}}) == []


# --- RBM ----------------------------------------------------------------------------------------------------


def rbm_parse(event: dict[str, Any]) -> list[Any]:
    data = base64.b64encode(orjson.dumps(event)).decode()
    body = orjson.dumps(
        {
            "message": {"data": data, "messageId": "123", "publishTime": "2024-01-01T00:00:00Z"},
            "subscription": "projects/p/subscriptions/s",
        }
    )
    return parse(rbm_channel(), request(body))


BASE = {
    "senderPhoneNumber": "+12223334444",
    "messageId": "MxYz",
    "sendTime": "2024-01-01T00:00:00Z",
    "agentId": "sim-agent@rbm.goog",
}


def test_rbm_text_message() -> None:
    [event] = rbm_parse({**BASE, "text": "hello"})
    assert isinstance(event, InboundMessage)
    assert event.input == TextInput(text="hello")
    assert (event.dedup_key, event.platform_message_id, event.user.id) == ("MxYz", "MxYz", "+12223334444")
    assert event.timestamp == 1704067200.0


def test_rbm_suggestion_tap_is_a_postback() -> None:
    [event] = rbm_parse(
        {**BASE, "suggestionResponse": {"postbackData": "yes", "text": "Yes", "type": "REPLY"}}
    )
    assert event.input == PostbackInput(payload="yes", title="Yes")


def test_rbm_location_is_a_location() -> None:
    [event] = rbm_parse({**BASE, "location": {"latitude": 37.422, "longitude": -122.084}})
    assert event.input == LocationInput(latitude=37.422, longitude=-122.084)


@pytest.mark.parametrize(
    ("mime", "kind"),
    [("image/jpeg", "image"), ("video/mp4", "video"), ("audio/mpeg", "audio"), ("application/pdf", "file")],
)
def test_rbm_file_is_media_by_url(mime: str, kind: str) -> None:
    user_file = {
        "payload": {
            "mimeType": mime,
            "fileSizeBytes": 1024,
            "fileUri": "https://rcs.example/f/1",
            "fileName": "f",
        }
    }
    [event] = rbm_parse({**BASE, "userFile": user_file})
    assert event.input == MediaInput(kind=kind, url="https://rcs.example/f/1", mime_type=mime)


@pytest.mark.parametrize(("event_type", "status"), [("DELIVERED", "delivered"), ("READ", "read")])
def test_rbm_delivery_events_are_statuses(event_type: str, status: str) -> None:
    event = {
        "senderPhoneNumber": "+12223334444",
        "eventType": event_type,
        "eventId": "E1",
        "messageId": "our-message",
        "sendTime": "2024-01-01T00:00:00Z",
        "agentId": "sim-agent",
    }
    [update] = rbm_parse(event)
    assert update == StatusUpdate(
        dedup_key="E1:+12223334444",
        user_id="+12223334444",
        status=status,
        platform_message_id="our-message",
        raw=event,
    )


def test_rbm_typing_is_ignored() -> None:
    assert rbm_parse({"senderPhoneNumber": "+12223334444", "eventType": "IS_TYPING", "eventId": "E2"}) == []


def test_rbm_revoked_expired_message_is_failed() -> None:
    event = {
        "phoneNumber": "+12223334444",
        "messageId": "our-message",
        "agentId": "sim-agent",
        "eventType": "TTL_EXPIRATION_REVOKED",
        "eventId": "E3",
        "sendTime": "2024-01-01T00:00:00Z",
    }
    [update] = rbm_parse(event)
    assert (update.status, update.platform_message_id, update.user_id) == (
        "failed",
        "our-message",
        "+12223334444",
    )


def test_rbm_event_for_another_agent_is_ignored() -> None:
    assert rbm_parse({**BASE, "agentId": "someone-else@rbm.goog", "text": "hi"}) == []


def test_rbm_data_that_is_not_json_is_a_bad_request() -> None:
    body = orjson.dumps({"message": {"data": base64.b64encode(b"nope").decode()}})
    with pytest.raises(BadRequest):
        parse(rbm_channel(), request(body))


def test_gbm_taps_and_events_are_answered_as_replies() -> None:
    """The pipeline renders a turn's answer as a reply when the turn has a platform message id."""
    tap = {
        "conversationId": "C",
        "suggestionResponse": {"postbackData": "p", "createTime": "2024-01-01T00:00:00Z"},
    }
    live = {
        "conversationId": "C",
        "userStatus": {"requestedLiveAgent": True, "createTime": "2024-01-01T00:00:00Z"},
    }
    for body in (tap, live):
        [event] = gbm_parse(body)
        assert event.platform_message_id == event.dedup_key


def test_gbm_dedup_key_stays_short_for_long_postbacks() -> None:
    """The store's dedup column is bounded (VARCHAR on PostgreSQL); a 2048-character postback must fit."""
    tap = {
        "conversationId": "C" * 64,
        "suggestionResponse": {
            "message": "conversations/C/messages/M",
            "postbackData": "p" * 2048,
            "createTime": "2024-01-01T00:00:00Z",
        },
    }
    [event] = gbm_parse(tap)
    assert len(event.dedup_key) <= 64
