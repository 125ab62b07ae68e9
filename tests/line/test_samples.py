"""LINE's own published webhook fixture (line-bot-sdk-python, samples/README.md): every one of its 28 events
becomes the full event it must, none is skipped, and nothing the user did is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from channelgate.channels.base import InboundMessage
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, TextInput, User

from .kit import channel, post

SAMPLE = Path(__file__).parent / "samples" / "line_bot_sdk_python_v3_webhook.json"

ANN = "U206d25c2ea6bd87c17655609a1c37cb8"
GROUP = "Ca56f94637cc4347f90a25382909b24b9"
ROOM = "Ra8dbf4673c4c812cd491258042226c99"
TOKEN = "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"
T = 1462629479.859
BUY = "action=buyItem&itemId=123123&color=red"
MEMBERS = [{"type": "user", "userId": "U4af4980629..."}, {"type": "user", "userId": "U91eeaf62d9..."}]

#: (conversation, input, reply token, timestamp) for each event of the file, in order
EXPECTED: list[tuple[str, Input, str | None, float]] = [
    (ANN, TextInput(text="Hello, world"), TOKEN, T),
    (ROOM, MediaInput(kind="image", url="https://example.com"), TOKEN, T),
    (ANN, MediaInput(kind="video", url="https://example.com"), TOKEN, T),
    (ANN, MediaInput(kind="audio", url="https://example.com"), TOKEN, T),
    (
        ANN,
        LocationInput(
            latitude=35.65910807942215, longitude=139.70372892916203, name="my location", address="Tokyo"
        ),
        TOKEN,
        T,
    ),
    (ANN, MediaInput(kind="sticker", media_id="1/1"), TOKEN, T),
    (ANN, EventInput(name="follow", data={"follow": {"isUnblocked": True}}), TOKEN, T),
    (ANN, EventInput(name="unfollow", data={}), None, T),
    (GROUP, EventInput(name="join", data={}), TOKEN, T),
    (GROUP, EventInput(name="leave", data={}), None, T),
    (
        ANN,
        EventInput(name="postback", data={"data": BUY, "params": {"datetime": "2017-12-25T01:00"}}),
        TOKEN,
        T,
    ),
    (ANN, EventInput(name="beacon", data={"beacon": {"hwid": "d41d8cd98f", "type": "enter"}}), TOKEN, T),
    (
        ANN,
        EventInput(
            name="beacon", data={"beacon": {"hwid": "d41d8cd98f", "type": "enter", "dm": "1234567890abcdef"}}
        ),
        TOKEN,
        T,
    ),
    (
        ANN,
        EventInput(name="accountLink", data={"link": {"result": "ok", "nonce": "Vb771wDYtXuammLszK6h9A"}}),
        TOKEN,
        T,
    ),
    (GROUP, TextInput(text="Hello, world"), TOKEN, T),
    (ROOM, TextInput(text="Hello, world"), TOKEN, T),
    (ANN, EventInput(name="postback", data={"data": BUY, "params": {"date": "2013-04-01"}}), TOKEN, T),
    (ANN, EventInput(name="postback", data={"data": BUY, "params": {"time": "10:00"}}), TOKEN, T),
    (
        ANN,
        EventInput(name="postback", data={"data": BUY, "params": {"datetime": "2013-04-01T10:00"}}),
        TOKEN,
        T,
    ),
    (
        "C4af4980629...",
        EventInput(name="memberJoined", data={"joined": {"members": MEMBERS}}),
        "0f3779fba3b349968c5d07db31eabf65",
        T,
    ),
    (
        "C4af4980629...",
        EventInput(name="memberLeft", data={"left": {"members": MEMBERS}}),
        None,
        1462629479.96,
    ),
    (ANN, MediaInput(kind="file", media_id="325708"), TOKEN, T),
    (GROUP, EventInput(name="unsend", data={"unsend": {"messageId": "325708"}}), None, 1547817848.122),
    (
        ANN,
        EventInput(name="videoPlayComplete", data={"videoPlayComplete": {"trackingId": "track_id"}}),
        TOKEN,
        T,
    ),
    (
        ANN,
        MediaInput(kind="image", media_id="354718705033693861"),
        "fbf94e269485410da6b7e3a5e33283e8",
        1627356924.722,
    ),
    (ANN, TextInput(text="Hello, world"), TOKEN, T),  # the redelivery: the same event, answered once
    (
        ANN,
        EventInput(
            name="edit",
            data={
                "original_message_id": "325708",
                "message": {
                    "id": "325708",
                    "type": "text",
                    "text": "Hello, edited world",
                    "quoteToken": "quoteToken",
                },
            },
        ),
        TOKEN,
        T,
    ),
    (ANN, EventInput(name="undefined", data={"undefinedField": {"1": 1}}), None, T),
]


def test_every_event_of_lines_own_fixture_becomes_its_full_event() -> None:
    body = SAMPLE.read_bytes()
    events: list[dict[str, Any]] = json.loads(body)["events"]
    ch = channel()
    request = post(body)
    parsed = ch.parse(request, ch.authenticate(request))
    assert "skips" not in request.notes  # nothing skipped
    assert len(parsed) == len(events) == len(EXPECTED)
    for got, raw, (user, input_, token, timestamp) in zip(parsed, events, EXPECTED, strict=True):
        assert got == InboundMessage(
            dedup_key="testwebhookeventid",
            user=User(id=user),
            input=input_,
            raw=raw,
            platform_message_id=token,
            timestamp=timestamp,
        )


def test_the_fixtures_redelivery_is_the_same_event_and_the_sender_in_a_group_is_kept() -> None:
    events = json.loads(SAMPLE.read_bytes())["events"]
    first, again = events[0], events[25]
    assert {**first, "deliveryContext": {"isRedelivery": True}} == again
    in_group = events[14]
    assert in_group["source"]["userId"] == ANN  # in raw, where the bot finds who spoke
