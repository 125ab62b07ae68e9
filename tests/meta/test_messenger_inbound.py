"""Messenger webhooks → events: every sample of the reference notes (§1.3), batching, echoes, receipts."""

from __future__ import annotations

import json
from typing import Any

import metakit
import pytest
from metakit import messenger, post

from channelgate.channels.base import BadRequest, InboundMessage, StatusUpdate
from channelgate.turns import EventInput, LocationInput, MediaInput, PostbackInput, TextInput


def webhook(*events: dict[str, Any], entries: int = 1) -> bytes:
    entry = [{"id": "PAGE_ID", "time": 1458692752478, "messaging": list(events)} for _ in range(entries)]
    return json.dumps({"object": "page", "entry": entry}).encode()


def parse(body: bytes) -> list:
    return metakit.parse(messenger(), post(body))


def event(**content: Any) -> dict[str, Any]:
    return {"sender": {"id": "PSID"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1458692752478, **content}


def test_text_sample_becomes_a_text_input() -> None:
    body = (
        b'{"object":"page","entry":[{"id":"PAGE_ID","time":1458692752478,"messaging":[{"sender":{"id":"PSID"},'
        b'"recipient":{"id":"PAGE_ID"},"timestamp":1458692752478,"message":{"mid":"m_AAA1","text":"hello"}}]}]}'
    )
    [message] = parse(body)
    assert isinstance(message, InboundMessage)
    assert message.dedup_key == message.platform_message_id == "m_AAA1"
    assert message.user.id == "PSID"
    assert message.input == TextInput(text="hello")
    assert message.timestamp == pytest.approx(1458692752.478)


def test_quick_reply_tap_is_a_postback_with_payload_and_title() -> None:
    tap = event(message={"mid": "m_AAA2", "text": "Red", "quick_reply": {"payload": "COLOR_RED"}})
    [message] = parse(webhook(tap))
    assert message.input == PostbackInput(payload="COLOR_RED", title="Red")
    assert message.dedup_key == "m_AAA2"


def test_image_attachment_is_media_with_its_url() -> None:
    image = event(
        message={
            "mid": "m_AAA3",
            "attachments": [{"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/x.jpg"}}],
        }
    )
    [message] = parse(webhook(image))
    assert message.input == MediaInput(kind="image", url="https://scontent.xx.fbcdn.net/x.jpg")
    assert message.dedup_key == "m_AAA3"


@pytest.mark.parametrize("kind", ["video", "audio", "file", "sticker"])
def test_other_attachments_are_media(kind: str) -> None:
    message = event(
        message={"mid": "m_1", "attachments": [{"type": kind, "payload": {"url": "https://cdn/x"}}]}
    )
    [parsed] = parse(webhook(message))
    assert parsed.input == MediaInput(kind=kind, url="https://cdn/x")


def test_sticker_sent_twice_during_the_transition_is_one_sticker() -> None:
    """Until Aug 2026 a sticker carries the new sticker attachment and the old image one."""
    sticker = event(
        message={
            "mid": "m_ST",
            "attachments": [
                {"type": "sticker", "payload": {"url": "https://cdn/s.png", "sticker_id": 369239263222822}},
                {"type": "image", "payload": {"url": "https://cdn/s.png", "sticker_id": 369239263222822}},
            ],
        }
    )
    [message] = parse(webhook(sticker))
    assert message.input == MediaInput(kind="sticker", url="https://cdn/s.png")


def test_old_style_sticker_image_is_a_sticker() -> None:
    sticker = event(
        message={"mid": "m_S", "attachments": [{"type": "image", "payload": {"url": "u", "sticker_id": 1}}]}
    )
    assert parse(webhook(sticker))[0].input.kind == "sticker"


def test_several_attachments_give_several_events_with_distinct_keys() -> None:
    photos = event(
        message={
            "mid": "m_P",
            "attachments": [{"type": "image", "payload": {"url": f"https://cdn/{i}.jpg"}} for i in range(3)],
        }
    )
    messages = parse(webhook(photos))
    assert [m.dedup_key for m in messages] == ["m_P", "m_P#1", "m_P#2"]
    assert {m.platform_message_id for m in messages} == {"m_P"}


def test_location_attachment_is_a_location_input() -> None:
    location = event(
        message={
            "mid": "m_L",
            "attachments": [
                {"title": "Pin", "type": "location", "payload": {"coordinates": {"lat": 48.85, "long": 2.35}}}
            ],
        }
    )
    [message] = parse(webhook(location))
    assert message.input == LocationInput(latitude=48.85, longitude=2.35, name="Pin")


def test_postback_sample_is_a_postback_input() -> None:
    postback = {
        "sender": {"id": "PSID"},
        "recipient": {"id": "PAGE_ID"},
        "timestamp": 1527459824,
        "postback": {"mid": "m_AAA4", "title": "Start Chatting", "payload": "GET_STARTED"},
    }
    [message] = parse(webhook(postback))
    assert message.input == PostbackInput(payload="GET_STARTED", title="Start Chatting")
    assert message.dedup_key == "m_AAA4"
    assert message.timestamp == 1527459824  # seconds in this sample, milliseconds elsewhere


def test_referral_is_an_event() -> None:
    referral = event(referral={"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"})
    [message] = parse(webhook(referral))
    assert message.input == EventInput(
        name="referral", data={"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    )
    assert message.dedup_key == "referral:PSID:1458692752478"


def test_messaging_optin_is_an_event_even_with_a_user_ref() -> None:
    optin = {
        "sender": {"user_ref": "UREF"},
        "recipient": {"id": "PAGE_ID"},
        "timestamp": 1458692752478,
        "optin": {"ref": "PASS_THROUGH", "user_ref": "UREF"},
    }
    [message] = parse(webhook(optin))
    assert message.user.id == "UREF"
    assert message.input == EventInput(name="optin", data={"ref": "PASS_THROUGH", "user_ref": "UREF"})


def test_delivery_receipt_with_mids_gives_a_status_per_mid_and_the_watermark() -> None:
    delivery = {
        "sender": {"id": "PSID"},
        "recipient": {"id": "PAGE_ID"},
        "delivery": {"mids": ["mid.1458668856218:ed81099e15d3f4f233"], "watermark": 1458668856253},
    }
    by_mid, by_watermark = parse(webhook(delivery))
    assert by_mid == StatusUpdate(
        dedup_key="delivery:mid.1458668856218:ed81099e15d3f4f233",
        user_id="PSID",
        status="delivered",
        platform_message_id="mid.1458668856218:ed81099e15d3f4f233",
        raw=delivery,
    )
    assert by_watermark.watermark == pytest.approx(1458668856.253)
    assert by_watermark.dedup_key == "delivery:PSID:1458668856253"
    assert by_watermark.platform_message_id is None


def test_delivery_receipt_without_mids_has_only_the_watermark() -> None:
    [status] = parse(
        webhook(
            {"sender": {"id": "PSID"}, "recipient": {"id": "P"}, "delivery": {"watermark": 5000000000000}}
        )
    )
    assert (status.status, status.watermark) == ("delivered", 5000000000.0)


def test_read_receipt_is_a_read_status_with_watermark() -> None:
    read = event(read={"watermark": 1458668856253})
    [status] = parse(webhook(read))
    assert isinstance(status, StatusUpdate)
    assert (status.status, status.user_id, status.dedup_key) == ("read", "PSID", "read:PSID:1458668856253")
    assert status.watermark == pytest.approx(1458668856.253)


def test_echo_of_the_pages_own_message_is_ignored() -> None:
    echo = {
        "sender": {"id": "PAGE_ID"},
        "recipient": {"id": "PSID"},
        "timestamp": 1458692752478,
        "message": {"is_echo": True, "app_id": 1517776481860111, "mid": "m_ECHO", "text": "hi from the page"},
    }
    assert parse(webhook(echo)) == []


def test_every_entry_and_every_event_is_parsed_in_order() -> None:
    events = [event(message={"mid": f"m_{i}", "text": f"t{i}"}) for i in range(3)]
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {"id": "P", "time": 1, "messaging": events[:2]},
                {"id": "P", "time": 2, "messaging": events[2:]},
            ],
        }
    ).encode()
    assert [m.dedup_key for m in parse(body)] == ["m_0", "m_1", "m_2"]


def test_reaction_is_an_event() -> None:
    reaction = event(reaction={"mid": "m_X", "action": "react", "reaction": "love", "emoji": "\u2764"})
    [message] = parse(webhook(reaction))
    assert message.input.name == "reaction"
    assert message.dedup_key == "reaction:PSID:m_X:react:1458692752478"


def test_other_objects_are_acknowledged_and_ignored() -> None:
    assert parse(b'{"object":"instagram","entry":[]}') == []


@pytest.mark.parametrize(
    "body", [b"[1,2]", b'{"object":"page","entry":{}}', b'{"object":"page","entry":[1]}', b"{"]
)
def test_malformed_webhooks_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse(body)


def test_unknown_events_are_skipped() -> None:
    assert parse(webhook(event(message_edit={"mid": "m_1", "text": "x"}))) == []


def test_ack_is_event_received() -> None:
    response = messenger().ack(post(b""), [])
    assert (response.status, response.body) == (200, b"EVENT_RECEIVED")
