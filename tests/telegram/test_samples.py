"""Published Telegram updates that these tests did not write (the Bot API's webhook guide, aiogram's test
data): each becomes the full event it must, nothing the user did is lost. Sources: samples/README.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from channelgate.channels.base import InboundMessage
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

from .kit import channel, receive

SAMPLES = Path(__file__).parent / "samples"
TEST_USER = User(id="1111111", name="Test Firstname Test Lastname")
AIOGRAM_USER = User(id="12345678", name="FirstName LastName")


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


async def event_of(name: str) -> InboundMessage:
    [event] = await receive(channel(), (SAMPLES / name).read_bytes())
    assert isinstance(event, InboundMessage)
    assert event.raw == sample(name)
    return event


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("botapi_message_text.json", TextInput(text="/start")),
        ("botapi_forwarded_message.json", TextInput(text="/start")),
        ("botapi_message_reply.json", TextInput(text="/start")),
        ("botapi_message_entities.json", TextInput(text="Bold and italics")),
        ("botapi_message_audio.json",
         MediaInput(kind="audio", media_id="AwADBAADbXXXXXXXXXXXGBdhD2l6_XX", mime_type="audio/mpeg")),
        ("botapi_voice_message.json",
         MediaInput(kind="audio", media_id="AwADBAADbXXXXXXXXXXXGBdhD2l6_XX", mime_type="audio/ogg")),
        ("botapi_message_document.json",
         MediaInput(kind="file", media_id="AwADBAADbXXXXXXXXXXXGBdhD2l6_XX", mime_type="application/pdf")),
    ],
)  # fmt: skip
async def test_bot_api_guide_messages(name: str, expected: Input) -> None:
    event = await event_of(name)
    assert event.input == expected
    assert (event.dedup_key, event.user, event.platform_message_id) == ("update:10000", TEST_USER, "1365")
    assert event.timestamp == 1441645532


async def test_bot_api_guide_edit() -> None:
    event = await event_of("botapi_edited_message.json")
    message = sample("botapi_edited_message.json")["edited_message"]
    assert event.input == EventInput(name="edit", data={"original_message_id": "1365", "message": message})
    assert event.user == TEST_USER and event.timestamp == 1441646600


async def test_bot_api_guide_callback_on_an_inline_message() -> None:
    """A tap on a button of an inline-mode message: no ``message``, so the answer goes to the user."""
    event = await event_of("botapi_callback_query.json")
    assert event.input == PostbackInput(payload="Data from button callback")
    assert event.platform_message_id == "callback:4382bfdwdsb323b2d9"
    assert event.user == TEST_USER


@pytest.mark.parametrize(
    ("name", "kind"), [("botapi_inline_query.json", "inline_query"),
                       ("botapi_chosen_inline_result.json", "chosen_inline_result")]
)  # fmt: skip
async def test_bot_api_guide_inline_mode_updates_are_events_with_all_fields(name: str, kind: str) -> None:
    event = await event_of(name)
    assert event.input == EventInput(name=kind, data=sample(name)[kind])
    assert event.user == TEST_USER


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("aiogram_message_with_photo.json",
         MediaInput(kind="image", media_id="AgADBAADFak0G88YZAf8OAug7bHyS9x2ZxkABHVfpJywcloRAAGAAQABAg",
                    mime_type="image/jpeg", caption="photo description")),
        ("aiogram_message_with_video.json",
         MediaInput(kind="video", media_id="BAADAgpAADdawy_JxS72kRvV3cortAg", mime_type="video/quicktime",
                    caption="description")),
        ("aiogram_message_with_sticker.json",
         MediaInput(kind="sticker", media_id="AAbbCCddEEffGGhh1234567890", mime_type="image/webp")),
        ("aiogram_message_with_location.json", LocationInput(latitude=55.693416, longitude=37.624605)),
    ],
)  # fmt: skip
async def test_aiogram_messages(name: str, expected: Input) -> None:
    event = await event_of(name)
    assert event.input == expected
    assert (event.dedup_key, event.user, event.locale_hint) == ("update:123456789", AIOGRAM_USER, "ru")


async def test_aiogram_pre_checkout_query_is_an_event_for_the_buyer() -> None:
    event = await event_of("aiogram_pre_checkout_query.json")
    query = sample("aiogram_pre_checkout_query.json")["pre_checkout_query"]
    assert event.input == EventInput(name="pre_checkout_query", data=query)
    assert event.user == AIOGRAM_USER
