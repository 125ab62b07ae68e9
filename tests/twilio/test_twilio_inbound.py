"""Incoming messages, media, opt-outs and status callbacks → events; numbered answers → postbacks; the
form read strictly."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from channelgate.channels.base import BadRequest, InboundMessage, StatusUpdate
from channelgate.channels.inbound import skips_of
from channelgate.channels.twilio import menus
from channelgate.testing.twilio import TwilioSimulator
from channelgate.turns import EventInput, LocationInput, MediaInput, PostbackInput, TextInput, User

from .kit import SID, USER, channel, post, receive

SIM = TwilioSimulator()
MM = "MM" + "b" * 32
MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/{MM}/Media/ME" + "c" * 32


async def test_a_text_is_a_text_turn_deduplicated_on_its_message_sid() -> None:
    form = SIM.incoming(USER, "hello there", message_sid="SM" + "1" * 32)
    [event] = await receive(channel(), form)
    assert isinstance(event, InboundMessage)
    assert event.input == TextInput(text="hello there")
    assert (event.dedup_key, event.platform_message_id) == ("SM" + "1" * 32, "SM" + "1" * 32)
    assert event.user == User(id=USER)
    assert event.raw == dict(form)  # every field Twilio sent


async def test_mms_media_become_media_inputs_the_first_with_the_body_as_caption() -> None:
    media = [
        (MEDIA, "image/jpeg"),
        ("https://cdn.example/v.mp4", "video/mp4"),
        ("https://cdn.example/c.vcf", "text/vcard"),
    ]
    first, second, third = await receive(channel(), SIM.incoming(USER, "look", media=media, message_sid=MM))
    assert (
        isinstance(first, InboundMessage)
        and isinstance(second, InboundMessage)
        and isinstance(third, InboundMessage)
    )
    assert first.input == MediaInput(
        kind="image", media_id=f"{MM}-ME" + "c" * 32, mime_type="image/jpeg", caption="look"
    )
    assert second.input == MediaInput(kind="video", url="https://cdn.example/v.mp4", mime_type="video/mp4")
    assert third.input == MediaInput(kind="file", url="https://cdn.example/c.vcf", mime_type="text/vcard")
    assert [first.dedup_key, second.dedup_key, third.dedup_key] == [MM, f"{MM}:media:1", f"{MM}:media:2"]


async def test_a_media_without_its_url_is_skipped_with_a_reason_and_the_rest_kept() -> None:
    form = [
        (k, "2" if k == "NumMedia" else v) for k, v in SIM.incoming(USER, "x", media=[(MEDIA, "image/png")])
    ]
    request = post(form)
    ch = channel()
    events = ch.parse(request, ch.authenticate(request))
    assert len(events) == 1 and isinstance(events[0], InboundMessage)
    assert "MediaUrl1 is missing" in skips_of(request).reasons[0]


async def test_an_empty_message_and_a_form_without_message_sid_are_skipped_with_their_reasons() -> None:
    ch = channel()
    for form, reason in [
        (SIM.incoming(USER, ""), "has no body and no media"),
        ([("From", USER), ("Body", "hi")], "MessageSid is missing"),
    ]:
        request = post(form)
        assert ch.parse(request, ch.authenticate(request)) == []
        assert reason in skips_of(request).reasons[0]


@pytest.mark.parametrize(("keyword", "name"), [("STOP", "opt_out"), ("START", "opt_in"), ("HELP", "help")])
async def test_opt_out_keywords_are_events_with_every_field(keyword: str, name: str) -> None:
    form = SIM.incoming(USER, keyword.lower(), OptOutType=keyword)
    [event] = await receive(channel(), form)
    assert isinstance(event, InboundMessage) and event.input == EventInput(name=name, data=dict(form))


async def test_whatsapp_senders_locations_and_buttons() -> None:
    location = SIM.incoming(
        "whatsapp:+14155550100", "", Latitude="48.85", Longitude="2.35", Label="Louvre", Address="Paris",
        ProfileName="Ann",
    )  # fmt: skip
    [event] = await receive(channel(), location)
    assert isinstance(event, InboundMessage)
    assert event.input == LocationInput(latitude=48.85, longitude=2.35, name="Louvre", address="Paris")
    assert event.user == User(id="whatsapp:+14155550100", name="Ann")
    [tap] = await receive(channel(), SIM.incoming(USER, "Yes", ButtonPayload="YES", ButtonText="Yes"))
    assert isinstance(tap, InboundMessage) and tap.input == PostbackInput(payload="YES", title="Yes")


def status(message_sid: str, value: str, **more: str) -> list[tuple[str, str]]:
    form = [("SmsSid", message_sid), ("SmsStatus", value), ("MessageStatus", value), ("To", USER),
            ("MessageSid", message_sid), ("AccountSid", SID), ("From", SIM.phone_number),
            ("ApiVersion", "2010-04-01")]  # fmt: skip
    return form + list(more.items())


@pytest.mark.parametrize(
    ("value", "name"),
    [("sent", "sent"), ("delivered", "delivered"), ("read", "read"), ("partially_delivered", "sent")],
)
async def test_status_callbacks_are_statuses_of_the_message(value: str, name: str) -> None:
    [event] = await receive(channel(), status("SM" + "2" * 32, value))
    assert isinstance(event, StatusUpdate)
    assert (event.status, event.platform_message_id, event.user_id) == (name, "SM" + "2" * 32, USER)
    assert event.dedup_key == f"status:{'SM' + '2' * 32}:{value}"


async def test_a_failed_delivery_says_why() -> None:
    form = status(
        "SM" + "3" * 32, "undelivered", ErrorCode="30006", ErrorMessage="Landline or unreachable carrier"
    )
    [event] = await receive(channel(), form)
    assert isinstance(event, StatusUpdate) and event.status == "failed"
    assert event.reason == "Twilio: undelivered, error 30006: Landline or unreachable carrier"


async def test_statuses_still_inside_twilio_record_nothing_and_unknown_ones_are_skipped_with_a_reason() -> (
    None
):
    assert await receive(channel(), status("SM" + "4" * 32, "queued")) == []
    ch = channel()
    request = post(status("SM" + "4" * 32, "teleported"))
    assert ch.parse(request, ch.authenticate(request)) == []
    assert "not one Twilio documents" in skips_of(request).reasons[0]


async def test_a_number_or_a_title_picks_from_the_menu_the_user_was_last_offered() -> None:
    ch = channel()
    await ch.ctx.kv.set(menus.store_key(USER), menus.encode([("Yes", "YES"), ("No thanks", "NO")]))
    for said, expected in [("2", "NO"), ("#1", "YES"), (" no THANKS ", "NO"), ("2.", "NO")]:
        [event] = await receive(ch, SIM.incoming(USER, said))
        assert isinstance(event, InboundMessage) and isinstance(event.input, PostbackInput)
        assert event.input.payload == expected
    for said in ("3", "0", "2 please", "yes!"):
        [event] = await receive(ch, SIM.incoming(USER, said))
        assert isinstance(event, InboundMessage) and event.input == TextInput(text=said)
    [other] = await receive(ch, SIM.incoming("+14155550199", "1"))  # menus are per user
    assert isinstance(other, InboundMessage) and other.input == TextInput(text="1")


def test_the_form_is_read_strictly() -> None:
    ch = channel()
    with pytest.raises(BadRequest, match="UTF-8"):
        ch.authenticate(post(b"Body=%FF&From=x\xff"))
    with pytest.raises(BadRequest):
        ch.authenticate(post(urlencode([(f"F{i}", "v") for i in range(600)]).encode()))
    with pytest.raises(BadRequest):
        ch.authenticate(post(urlencode([("x" * 200, "v")]).encode()))
