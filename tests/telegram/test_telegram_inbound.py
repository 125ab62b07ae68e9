"""Telegram updates → events: the secret header, every update type, nothing authentic dropped."""

from __future__ import annotations

from typing import Any

import pytest

from channelgate.channels.base import BadRequest, Forbidden, InboundMessage, Unauthorized
from channelgate.channels.inbound import skips_of
from channelgate.channels.telegram.callbacks import callback_data, store_key
from channelgate.testing.telegram import TelegramSimulator
from channelgate.turns import EventInput, LocationInput, MediaInput, PostbackInput, TextInput, User

from .kit import channel, post, receive

sim = TelegramSimulator()


def only(events: list[Any]) -> InboundMessage:
    [event] = events
    assert isinstance(event, InboundMessage)
    return event


# --- authentication ---------------------------------------------------------------------------------------


def test_the_secret_header_is_required_and_compared() -> None:
    ch = channel()
    update = sim.text_update(1111111, "hi")
    assert ch.authenticate(post(update)).content is not None
    with pytest.raises(Unauthorized):
        ch.authenticate(post(update, secret=None))
    with pytest.raises(Forbidden):
        ch.authenticate(post(update, secret="simulated-secret-tokeN"))
    with pytest.raises(Forbidden):
        ch.authenticate(post(update, secret="x"))


def test_a_body_that_is_not_an_update_object_is_400_after_authentication() -> None:
    ch = channel()
    with pytest.raises(BadRequest):
        ch.authenticate(post(b"[1, 2]"))
    with pytest.raises(BadRequest):
        ch.authenticate(post(b"{not json"))
    with pytest.raises(Unauthorized):  # the secret is checked before the body is read
        ch.authenticate(post(b"{not json", secret=None))


# --- messages ---------------------------------------------------------------------------------------------


async def test_text_is_a_turn_deduplicated_on_the_update_id() -> None:
    update = sim.text_update(1111111, "hello")
    event = only(await receive(channel(), update))
    assert event.dedup_key == f"update:{update['update_id']}"
    assert event.user == User(id="1111111", name="Ann Lee")
    assert event.input == TextInput(text="hello")
    assert event.platform_message_id == str(update["message"]["message_id"])
    assert event.locale_hint == "en" and event.raw == update


async def test_group_messages_belong_to_the_group_named_by_its_title() -> None:
    event = only(await receive(channel(), sim.text_update(-1001234, "hi all", sender=42)))
    assert event.user == User(id="-1001234", name="Test group")


async def test_the_largest_photo_size_is_the_media_with_its_caption() -> None:
    event = only(await receive(channel(), sim.photo_update(1111111, "AgAD-big", caption="look")))
    assert event.input == MediaInput(
        kind="image", media_id="AgAD-big", mime_type="image/jpeg", caption="look"
    )


@pytest.mark.parametrize(
    ("field", "content", "expected"),
    [
        ("video", {"file_id": "V1", "mime_type": "video/mp4"}, MediaInput(kind="video", media_id="V1",
                                                                         mime_type="video/mp4")),
        ("voice", {"file_id": "O1", "mime_type": "audio/ogg"}, MediaInput(kind="audio", media_id="O1",
                                                                         mime_type="audio/ogg")),
        ("audio", {"file_id": "A1"}, MediaInput(kind="audio", media_id="A1")),
        ("document", {"file_id": "D1", "mime_type": "application/pdf"},
         MediaInput(kind="file", media_id="D1", mime_type="application/pdf")),
        ("sticker", {"file_id": "S1", "is_animated": False, "is_video": False},
         MediaInput(kind="sticker", media_id="S1", mime_type="image/webp")),
        ("video_note", {"file_id": "N1"}, MediaInput(kind="video", media_id="N1")),
    ],
)  # fmt: skip
async def test_every_media_kind(field: str, content: dict[str, Any], expected: MediaInput) -> None:
    update = sim.update("message", sim.message(1111111, {field: content}))
    assert only(await receive(channel(), update)).input == expected


async def test_an_animation_is_a_video_not_its_document_twin() -> None:
    content = {"animation": {"file_id": "G1", "mime_type": "video/mp4"}, "document": {"file_id": "G1"}}
    update = sim.update("message", sim.message(1111111, content))
    assert only(await receive(channel(), update)).input == MediaInput(
        kind="video", media_id="G1", mime_type="video/mp4"
    )


async def test_locations_venues_and_contacts() -> None:
    ch = channel()
    assert only(await receive(ch, sim.location_update(1111111, 48.85, 2.35))).input == LocationInput(
        latitude=48.85, longitude=2.35
    )
    venue = {"location": {"latitude": 1.5, "longitude": 2.5}, "title": "Cafe", "address": "1 Main St"}
    update = sim.update("message", sim.message(1111111, {"venue": venue, "location": venue["location"]}))
    assert only(await receive(ch, update)).input == LocationInput(
        latitude=1.5, longitude=2.5, name="Cafe", address="1 Main St"
    )
    contact = only(await receive(ch, sim.contact_update(1111111, "+15551234567")))
    assert contact.input == EventInput(
        name="contact", data={"phone_number": "+15551234567", "first_name": "Ann", "user_id": 1111111}
    )


async def test_other_message_content_is_an_event_named_for_it_with_the_whole_message() -> None:
    message = sim.message(1111111, {"dice": {"emoji": "🎲", "value": 4}})
    event = only(await receive(channel(), sim.update("message", message)))
    assert event.input == EventInput(name="dice", data=message)


async def test_an_edit_is_an_event_with_the_original_id_and_the_new_message() -> None:
    update = sim.edited_update(1111111, 7, "fixed typo")
    event = only(await receive(channel(), update))
    assert event.input == EventInput(
        name="edit", data={"original_message_id": "7", "message": update["edited_message"]}
    )
    assert event.platform_message_id is None


# --- buttons ----------------------------------------------------------------------------------------------


async def test_a_button_tap_is_a_postback_with_the_buttons_label() -> None:
    keyboard = {"inline_keyboard": [[{"text": "Yes please", "callback_data": "YES"}]]}
    message = sim.message(1111111, {"text": "Sure?", "reply_markup": keyboard})
    update = sim.callback_update(1111111, "YES", message=message, query_id="4382bfdwdsb323b2d9")
    event = only(await receive(channel(), update))
    assert event.input == PostbackInput(payload="YES", title="Yes please")
    assert event.platform_message_id == "callback:4382bfdwdsb323b2d9"
    assert event.user.id == "1111111"


async def test_a_long_payload_comes_back_from_the_store() -> None:
    ch = channel()
    payload = "ORDER:" + "x" * 100
    data, mapped = callback_data(payload)
    assert mapped == payload and len(data.encode()) <= 64
    await ch.ctx.kv.set(store_key(data), payload)
    event = only(await receive(ch, sim.callback_update(1111111, data)))
    assert event.input == PostbackInput(payload=payload)


async def test_a_mapped_payload_the_store_lost_reaches_the_bot_as_an_event() -> None:
    data, _ = callback_data("y" * 80)
    update = sim.callback_update(1111111, data)
    event = only(await receive(channel(), update))
    assert event.input == EventInput(name="callback_query", data=update["callback_query"])


async def test_a_payload_that_looks_like_a_mapped_one_is_mapped_too() -> None:
    data, mapped = callback_data("cg:short")
    assert data != "cg:short" and mapped == "cg:short"


# --- everything else --------------------------------------------------------------------------------------


async def test_blocking_the_bot_is_a_my_chat_member_event() -> None:
    update = sim.my_chat_member_update(1111111, "kicked")
    event = only(await receive(channel(), update))
    assert event.input == EventInput(name="my_chat_member", data=update["my_chat_member"])
    assert event.user.id == "1111111"


async def test_an_update_type_this_channel_has_no_input_for_is_an_event_with_all_its_fields() -> None:
    query = {"id": "99", "from": sim.user(5), "query": "pizza", "offset": ""}
    event = only(await receive(channel(), sim.update("inline_query", query)))
    assert event.input == EventInput(name="inline_query", data=query)
    assert event.user == User(id="5", name="Ann Lee")


async def test_updates_naming_nobody_are_skipped_with_the_reason() -> None:
    ch = channel()
    poll = {"id": "1", "question": "?", "options": [], "is_closed": True}
    request = post(sim.update("poll", poll))
    verified = ch.authenticate(request)
    assert ch.parse(request, verified) == []
    assert skips_of(request).reasons == ["update[0]: poll names no chat and no user to answer"]
    empty = post({"update_id": 5})
    assert ch.parse(empty, ch.authenticate(empty)) == []
    assert "carries nothing" in skips_of(empty).reasons[0]


async def test_a_malformed_update_is_skipped_not_a_5xx() -> None:
    ch = channel()
    for update in (
        {"update_id": 1, "message": {"message_id": 1, "text": "no chat"}},
        {"update_id": {"x": 1}, "message": sim.message(1, {"text": "hi"})},
        {"update_id": 2, "message": sim.message(1, {"photo": []})},
        {"update_id": 3, "message": sim.message(1, {"location": {"latitude": "north", "longitude": 1}})},
    ):
        request = post(update)
        assert ch.parse(request, ch.authenticate(request)) == []
        assert len(skips_of(request).reasons) == 1
