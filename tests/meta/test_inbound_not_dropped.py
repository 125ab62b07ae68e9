"""Issue 13's inbound rule on the Meta channels: an authentic event becomes an input, or is skipped with a
logged reason, never dropped in silence; and ``parse`` reads what ``authenticate`` verified."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from metakit import PHONE_NUMBER_ID, messenger, parse, post, whatsapp

from channelgate.channels.base import InboundMessage, Verified
from channelgate.channels.meta import sign
from channelgate.turns import EventInput, TextInput


def page_webhook(*items: dict[str, Any], **entry: Any) -> bytes:
    body = {"object": "page", "entry": [{"id": "PAGE_ID", "time": 1, "messaging": list(items), **entry}]}
    return json.dumps(body).encode()


def item(**content: Any) -> dict[str, Any]:
    return {"sender": {"id": "PSID"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 7, **content}


def wa_webhook(value: dict[str, Any], field: str = "messages") -> bytes:
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID}, **value}
    entry = [{"id": "WABA", "changes": [{"field": field, "value": value}]}]
    return json.dumps({"object": "whatsapp_business_account", "entry": entry}).encode()


# --- Messenger ----------------------------------------------------------------------------------------------


def test_a_message_with_nothing_readable_reaches_the_bot_whole() -> None:
    message = {"mid": "m_1", "reply_to": {"mid": "m_0"}}
    [event] = parse(messenger(), post(page_webhook(item(message=message))))
    assert isinstance(event, InboundMessage)
    assert event.dedup_key == event.platform_message_id == "m_1"
    assert event.input == EventInput(name="unsupported", data=message)


@pytest.mark.parametrize(
    "attachment",
    [
        {"type": "location", "title": "Somewhere", "payload": {}},
        {"type": "fallback", "title": None, "payload": {}},
        {"payload": {"product": {"elements": [{"id": "1"}]}}},
    ],
)
def test_an_attachment_the_channel_cannot_type_is_a_shared_event(attachment: dict[str, Any]) -> None:
    [event] = parse(
        messenger(), post(page_webhook(item(message={"mid": "m_2", "attachments": [attachment]})))
    )
    assert isinstance(event, InboundMessage)
    assert event.input == EventInput(name="shared", data=attachment)


def test_text_and_an_untyped_attachment_are_both_kept() -> None:
    attachment = {"type": "location", "payload": {}}
    message = {"mid": "m_3", "text": "here", "attachments": [attachment]}
    text, shared = parse(messenger(), post(page_webhook(item(message=message))))
    assert isinstance(text, InboundMessage) and isinstance(shared, InboundMessage)
    assert text.input == TextInput(text="here")
    assert shared.input == EventInput(name="shared", data=attachment)
    assert (text.dedup_key, shared.dedup_key) == ("m_3", "m_3#1")


def test_standby_events_are_not_turns_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    standby = [item(message={"mid": "m_S", "text": "for the human agent"})]
    with caplog.at_level(logging.INFO, "channelgate.channels"):
        assert parse(messenger(), post(page_webhook(standby=standby))) == []
    assert "1 standby event(s) not answered" in caplog.text


# --- WhatsApp -----------------------------------------------------------------------------------------------


def test_a_status_this_channel_does_not_track_is_skipped_with_its_reason() -> None:
    statuses = [{"id": "wamid.D", "status": "deleted", "timestamp": "1", "recipient_id": "1"}]
    request = post(wa_webhook({"statuses": statuses}))
    assert parse(whatsapp(), request) == []
    assert request.notes["skips"].reasons == [
        "statuses[0]: status 'deleted' of wamid.D is not one this channel tracks"
    ]


def test_a_status_without_a_message_id_is_skipped_with_its_reason() -> None:
    request = post(wa_webhook({"statuses": [{"status": "read", "recipient_id": "1"}]}))
    assert parse(whatsapp(), request) == []
    assert request.notes["skips"].reasons == ["statuses[0]: status 'read' names no message id"]


def test_another_subscription_field_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    body = wa_webhook({"event": "APPROVED", "message_template_id": 1}, field="message_template_status_update")
    with caplog.at_level(logging.INFO, "channelgate.channels"):
        assert parse(whatsapp(), post(body)) == []
    assert "ignored a 'message_template_status_update' change" in caplog.text


def test_a_messages_change_without_a_value_is_skipped_with_its_reason() -> None:
    body = json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages"}]}]}
    ).encode()
    request = post(body)
    assert parse(whatsapp(), request) == []
    assert request.notes["skips"].reasons == ["a 'messages' change without a value object"]


# --- authenticate → parse -----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [messenger, whatsapp])
def test_parse_reads_the_body_authenticate_verified(make) -> None:
    """``parse`` decodes ``verified.body``, the bytes the signature covered, not the request again."""
    channel = make()
    body = page_webhook(item(message={"mid": "m_V", "text": "signed"}))
    request = post(body, {"X-Hub-Signature-256": sign(body, "my_app_secret")})
    verified = channel.authenticate(request)
    assert verified == Verified(body)
    if channel.name == "messenger":
        [event] = channel.parse(request, verified)
        assert event.input == TextInput(text="signed")
    assert channel.parse(request, Verified(b'{"object":"other","entry":[]}')) == []
