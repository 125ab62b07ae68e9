"""Published Instagram webhooks that these tests did not write (Meta's docs, the App Dashboard's test): each
becomes the full event it must, nothing the user did is lost. Sources: samples/README.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from channelgate.channels.base import InboundMessage
from channelgate.turns import EventInput, PostbackInput, TextInput, User

from .kit import ACCOUNT, channel, receive

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    for entry in data["entry"]:
        if entry["id"] != "0":  # the dashboard's test keeps its own
            entry["id"] = ACCOUNT
    return data


def event_of(name: str) -> InboundMessage:
    data = sample(name)
    events, skips = receive(channel(), data)
    assert skips == []
    [event] = events
    assert isinstance(event, InboundMessage)
    entry = data["entry"][0]
    if "messaging" in entry:
        assert event.raw == entry["messaging"][0]
    else:  # a messaging item in the changes form is its value; another change is the whole change
        change = entry["changes"][0]
        assert event.raw == (change["value"] if "sender" in change["value"] else change)
    return event


def test_story_mention() -> None:
    event = event_of("meta_story_mention.json")
    assert event.input == EventInput(
        name="story_mention", data={"type": "story_mention", "payload": {"url": "<CDN_URL>"}}
    )
    assert (event.dedup_key, event.user, event.platform_message_id) == (
        "<MESSAGE_ID>",
        User(id="<IGSID>"),
        "<MESSAGE_ID>",
    )
    assert event.timestamp == 1569262485.349


def test_post_share() -> None:
    event = event_of("meta_post_share.json")
    payload = {
        "ig_post_media_id": "18139494541428835",
        "title": "Build a workspace that attracts talent and supports your team with solutions made for "
        "growing businesses.",
        "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18139494541428835={SIGNATURE}",
    }
    assert event.input == EventInput(name="share", data={"type": "share", "payload": payload})
    assert (event.dedup_key, event.user.id, event.timestamp) == (
        "{MESSAGE_ID}",
        "{SENDER_ID}",
        1761287294.014,
    )


def test_quick_reply() -> None:
    event = event_of("meta_quick_reply.json")
    assert event.input == PostbackInput(payload="<POSTBACK_PAYLOAD_1>", title="<TITLE_1>")
    assert (event.dedup_key, event.user.id, event.timestamp) == ("<MID>", "<IGSID>", 1502905976.377)


def test_text_message() -> None:
    event = event_of("meta_text_message.json")
    assert event.input == TextInput(text="MESSAGE-TEXT")
    assert (event.dedup_key, event.user.id, event.platform_message_id) == (
        "MESSAGE-ID",
        "IGSID",
        "MESSAGE-ID",
    )


def test_comment() -> None:
    event = event_of("meta_comment.json")
    value = sample("meta_comment.json")["entry"][0]["changes"][0]["value"]
    assert event.input == EventInput(name="comments", data=value)
    assert event.user == User(id="<INSTAGRAM_SCOPED_USER_ID>", name="<USERNAME>")
    assert event.dedup_key == "comments:<COMMENT_ID>"


def test_message_reaction() -> None:
    event = event_of("meta_message_reaction.json")
    data = {
        "reaction": "love",
        "emoji": "\u2764\ufe0f",
        "action": "react",
        "mid": "<MID_OF_ReactedTo_Message>",
    }
    assert event.input == EventInput(name="reaction", data=data)
    assert event.user.id == "<PSID>"
    assert event.dedup_key == "reaction:<PSID>:<MID_OF_ReactedTo_Message>:react:1458668856463"


def test_dashboard_test_message() -> None:
    event = event_of("captured_dashboard_test_messages.json")
    assert event.input == TextInput(text="random_text")
    assert (event.dedup_key, event.user.id, event.timestamp) == ("random_mid", "12334", 1527459824)
