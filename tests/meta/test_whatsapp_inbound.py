"""WhatsApp webhooks → events: every sample of the reference notes (§2.3), in both BSUID shapes."""

from __future__ import annotations

import json
import logging
from typing import Any

import metakit
import pytest
from metakit import PHONE_NUMBER_ID, post, whatsapp

from channelgate.channels.base import BadRequest, InboundMessage, StatusUpdate
from channelgate.turns import EventInput, LocationInput, MediaInput, PostbackInput, TextInput

TEXT_SAMPLE = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":'
    b'{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",'
    b'"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},'
    b'"wa_id":"16505551234","user_id":"US.13491208655302741918"}],"messages":[{"from":"16505551234",'
    b'"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383",'
    b'"type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}'
)


def value_webhook(value: dict[str, Any], phone_number_id: str = PHONE_NUMBER_ID) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        **value,
    }
    change = {"value": value, "field": "messages"}
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [change]}]}
    ).encode()


def message_webhook(message: dict[str, Any], contacts: list[dict[str, Any]] | None = None) -> bytes:
    message = {"from": "16505551234", "timestamp": "1749416400", **message}
    if contacts is None:
        contacts = [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}]
    return value_webhook({"contacts": contacts, "messages": [message]})


def parse(body: bytes, **config: Any) -> list:
    return metakit.parse(whatsapp(**config), post(body))


def test_text_sample_with_phone_and_bsuid_uses_the_phone_number() -> None:
    [message] = parse(TEXT_SAMPLE)
    assert isinstance(message, InboundMessage)
    assert message.user.id == "16505551234"
    assert message.user.name == "Sheena Nelson"
    assert message.input == TextInput(text="Does it come in another color?")
    assert message.dedup_key == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert message.platform_message_id == message.dedup_key
    assert message.timestamp == 1749416383


def test_pre_2026_shape_without_user_id_works() -> None:
    body = message_webhook({"id": "wamid.OLD", "type": "text", "text": {"body": "hi"}})
    [message] = parse(body)
    assert (message.user.id, message.input) == ("16505551234", TextInput(text="hi"))


def test_user_with_a_username_and_no_phone_number_is_known_by_bsuid() -> None:
    """The 2026 shape: no wa_id in contacts and no from in the message, only the business-scoped user id."""
    message = {"id": "wamid.BSUID1", "timestamp": "1749416400", "type": "text", "text": {"body": "hello"}}
    contacts = [{"profile": {"name": "Sheena", "username": "sheena"}, "user_id": "US.13491208655302741918"}]
    [parsed] = parse(value_webhook({"contacts": contacts, "messages": [message]}))
    assert parsed.user.id == "US.13491208655302741918"
    assert parsed.user.name == "Sheena"


def test_bsuid_in_the_message_itself_is_used_when_there_is_no_contact() -> None:
    message = {
        "id": "wamid.B2",
        "from_user_id": "US.999",
        "timestamp": "1",
        "type": "text",
        "text": {"body": "x"},
    }
    [parsed] = parse(value_webhook({"messages": [message]}))
    assert parsed.user.id == "US.999"


def test_message_without_any_sender_id_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    message = {"id": "wamid.NONE", "timestamp": "1", "type": "text", "text": {"body": "x"}}
    with caplog.at_level(logging.WARNING):
        assert parse(value_webhook({"messages": [message]})) == []
    assert "wamid.NONE" in caplog.text


def test_image_sample_carries_the_media_id_never_a_url() -> None:
    image = {
        "caption": "This is a caption",
        "mime_type": "image/jpeg",
        "sha256": "81d3",
        "id": "2754859441498128",
    }
    [message] = parse(message_webhook({"id": "wamid.IMG1", "type": "image", "image": image}))
    assert message.input == MediaInput(
        kind="image", media_id="2754859441498128", mime_type="image/jpeg", caption="This is a caption"
    )


@pytest.mark.parametrize(
    ("kind", "content", "expected"),
    [
        ("audio", {"mime_type": "audio/ogg; codecs=opus", "id": "A1", "voice": True}, ("audio", "A1", None)),
        ("video", {"mime_type": "video/mp4", "id": "V1", "caption": "clip"}, ("video", "V1", "clip")),
        ("document", {"mime_type": "application/pdf", "id": "D1", "filename": "a.pdf"}, ("file", "D1", None)),
        ("sticker", {"mime_type": "image/webp", "id": "S1", "animated": False}, ("sticker", "S1", None)),
    ],
)
def test_other_media_types(kind: str, content: dict, expected: tuple) -> None:
    [message] = parse(message_webhook({"id": f"wamid.{kind}", "type": kind, kind: content}))
    assert (message.input.kind, message.input.media_id, message.input.caption) == expected
    assert message.input.mime_type == content["mime_type"]


def test_reply_button_tap_sample_is_a_postback() -> None:
    tap = {
        "context": {"from": "15550783881", "id": "wamid.OUTBOUND1"},
        "id": "wamid.INBOUND2",
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "confirm_yes", "title": "Yes"}},
    }
    [message] = parse(message_webhook(tap))
    assert message.input == PostbackInput(payload="confirm_yes", title="Yes")
    assert message.dedup_key == "wamid.INBOUND2"


def test_list_row_tap_sample_is_a_postback() -> None:
    tap = {
        "context": {"from": "15550783881", "id": "wamid.OUTBOUND1"},
        "id": "wamid.INBOUND3",
        "type": "interactive",
        "interactive": {
            "type": "list_reply",
            "list_reply": {"id": "row_2", "title": "Medium", "description": "Serves 2"},
        },
    }
    [message] = parse(message_webhook(tap))
    assert message.input == PostbackInput(payload="row_2", title="Medium")


def test_template_quick_reply_button_is_a_postback() -> None:
    tap = {"id": "wamid.BTN", "type": "button", "button": {"text": "Stop promotions", "payload": "STOP"}}
    [message] = parse(message_webhook(tap))
    assert message.input == PostbackInput(payload="STOP", title="Stop promotions")


def test_flow_reply_is_an_event_with_the_decoded_response() -> None:
    reply = {
        "type": "nfm_reply",
        "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"size": "M"}'},
    }
    [message] = parse(message_webhook({"id": "wamid.F", "type": "interactive", "interactive": reply}))
    assert message.input == EventInput(name="flow_reply", data={"name": "flow", "response": {"size": "M"}})


def test_location_is_a_location_input() -> None:
    location = {"latitude": 37.48, "longitude": -122.15, "name": "HQ", "address": "1 Hacker Way"}
    [message] = parse(message_webhook({"id": "wamid.L", "type": "location", "location": location}))
    assert message.input == LocationInput(
        latitude=37.48, longitude=-122.15, name="HQ", address="1 Hacker Way"
    )


def test_shared_contacts_are_an_event() -> None:
    cards = [
        {"name": {"formatted_name": "Ann"}, "phones": [{"phone": "+1 555", "wa_id": "1555", "type": "CELL"}]}
    ]
    [message] = parse(message_webhook({"id": "wamid.C", "type": "contacts", "contacts": cards}))
    assert message.input == EventInput(name="contacts", data={"contacts": cards})


def test_reaction_is_an_event() -> None:
    reaction = {"message_id": "wamid.OUT", "emoji": "\U0001f600"}
    [message] = parse(message_webhook({"id": "wamid.R", "type": "reaction", "reaction": reaction}))
    assert message.input == EventInput(name="reaction", data=reaction)


def test_unsupported_message_is_an_event_and_its_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [{"code": 131051, "title": "Message type unknown", "error_data": {"details": "not supported"}}]
    with caplog.at_level(logging.WARNING):
        [message] = parse(message_webhook({"id": "wamid.U", "type": "unsupported", "errors": errors}))
    assert message.input == EventInput(name="unsupported", data={"type": "unsupported", "errors": errors})
    assert "131051" in caplog.text


def test_delivered_status_sample_is_a_status_update() -> None:
    statuses = [
        {
            "id": "wamid.OUTBOUND1",
            "status": "delivered",
            "timestamp": "1749416500",
            "recipient_id": "16505551234",
        }
    ]
    contacts = [{"wa_id": "16505551234", "user_id": "US.13491208655302741918"}]
    [status] = parse(value_webhook({"statuses": statuses, "contacts": contacts}))
    assert status == StatusUpdate(
        dedup_key="wamid.OUTBOUND1:delivered",
        user_id="16505551234",
        status="delivered",
        platform_message_id="wamid.OUTBOUND1",
        raw=statuses[0],
    )


def test_status_without_contacts_works() -> None:
    """pywa 4.5 fails on this shape (KeyError on value.contacts)."""
    statuses = [{"id": "wamid.O2", "status": "read", "timestamp": "1", "recipient_id": "16505551234"}]
    [status] = parse(value_webhook({"statuses": statuses}))
    assert (status.status, status.user_id) == ("read", "16505551234")


def test_status_to_a_bsuid_only_user() -> None:
    statuses = [{"id": "wamid.O3", "status": "sent", "timestamp": "1", "recipient_user_id": "US.1"}]
    [status] = parse(value_webhook({"statuses": statuses}))
    assert status.user_id == "US.1"


def test_each_status_of_a_message_has_its_own_dedup_key() -> None:
    statuses = [
        {"id": "wamid.O", "status": name, "timestamp": "1", "recipient_id": "1"}
        for name in ("sent", "delivered", "read", "played")
    ]
    updates = parse(value_webhook({"statuses": statuses}))
    assert [u.dedup_key for u in updates] == [
        "wamid.O:sent",
        "wamid.O:delivered",
        "wamid.O:read",
        "wamid.O:played",
    ]
    assert [u.status for u in updates] == ["sent", "delivered", "read", "read"]


def test_failed_status_carries_the_reason() -> None:
    errors = [
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours have passed"},
        }
    ]
    statuses = [
        {"id": "wamid.F", "status": "failed", "timestamp": "1", "recipient_id": "1", "errors": errors}
    ]
    [status] = parse(value_webhook({"statuses": statuses}))
    assert status.status == "failed"
    assert (
        status.reason
        == "131047: Re-engagement message (Message failed to send because more than 24 hours have passed)"
    )


def test_system_level_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [{"code": 130429, "title": "Rate limit hit", "message": "(#130429) Rate limit hit"}]
    with caplog.at_level(logging.WARNING):
        assert parse(value_webhook({"errors": errors})) == []
    assert "130429: Rate limit hit" in caplog.text


def test_webhook_for_another_phone_number_is_ignored() -> None:
    body = value_webhook(
        {"messages": [{"from": "1", "id": "wamid.X", "type": "text", "text": {"body": "x"}}]}, "999"
    )
    assert parse(body) == []


def test_business_account_filter() -> None:
    assert len(parse(TEXT_SAMPLE, business_account_id="102290129340398")) == 1
    assert parse(TEXT_SAMPLE, business_account_id="1") == []


def test_other_fields_and_objects_are_ignored() -> None:
    other_field = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {}}]}],
        }
    ).encode()
    assert parse(other_field) == []
    assert parse(b'{"object":"page","entry":[]}') == []


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"object":"whatsapp_business_account"}', b'{"object":"whatsapp_business_account","entry":[3]}'],
)
def test_malformed_webhooks_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse(body)


def test_batched_messages_and_statuses_are_parsed_in_order() -> None:
    messages = [
        {"from": "1", "id": f"wamid.{i}", "timestamp": "1", "type": "text", "text": {"body": str(i)}}
        for i in range(3)
    ]
    statuses = [{"id": "wamid.S", "status": "sent", "timestamp": "1", "recipient_id": "1"}]
    events = parse(value_webhook({"messages": messages, "statuses": statuses}))
    assert [e.dedup_key for e in events] == ["wamid.0", "wamid.1", "wamid.2", "wamid.S:sent"]
