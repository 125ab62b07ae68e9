"""Instagram webhooks → inbound events: the signature (with the reference's test vector), the handshake, and
every documented messaging item and change, each a typed input, an event with all its fields, or a skip
with its reason — never dropped in silence."""

from __future__ import annotations

from typing import Any

import pytest

from channelgate.channels.base import (
    Forbidden,
    InboundMessage,
    StatusUpdate,
    Unauthorized,
    WebhookRequest,
)
from channelgate.channels.meta import sign
from channelgate.turns import EventInput, MediaInput, PostbackInput, TextInput, User

from .kit import ACCOUNT, IGSID, SIM, channel, post, receive

CDN = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"


def one(payload: dict[str, Any]) -> InboundMessage:
    events, skips = receive(channel(), payload)
    assert skips == []
    [event] = events
    assert isinstance(event, InboundMessage)
    assert event.user.id == IGSID
    return event


# --- authentication ---


def test_the_reference_vector_authenticates() -> None:
    """channel-protocols-2.md §0.5: app_secret=my_app_secret over {"object":"instagram","entry":[]}."""
    body = b'{"object":"instagram","entry":[]}'
    expected = "sha256=a6fe43e7fccbea5be5604ac00da14a47dd4813a83c2f868710cd558b9d0b73ab"
    assert sign(body, "my_app_secret") == expected
    ch = channel(app_secret="my_app_secret")
    request = post(body, signature=expected)
    assert ch.parse(request, ch.authenticate(request)) == []


def test_a_missing_signature_is_401_and_a_wrong_one_403() -> None:
    ch = channel()
    body = b'{"object":"instagram","entry":[]}'
    with pytest.raises(Unauthorized):
        ch.authenticate(post(body, secret=None))
    with pytest.raises(Forbidden):
        ch.authenticate(post(body, secret="guessed-secret"))
    with pytest.raises(Forbidden):
        ch.authenticate(post(body + b" ", signature=sign(body, SIM.app_secret)))  # signed other bytes


def test_an_app_secret_is_required_unless_running_insecure() -> None:
    with pytest.raises(ValueError, match="app_secret is required"):
        type(channel()).check_config(channel(app_secret="").config)
    warnings = type(channel()).check_config(channel(app_secret="", insecure_no_signature=True).config)
    assert "NOT checked" in warnings[0]


def test_the_hub_handshake() -> None:
    ch = channel()
    ok = WebhookRequest(
        "GET", {}, {"hub.mode": "subscribe", "hub.verify_token": SIM.verify_token, "hub.challenge": "42"}
    )
    answer = ch.handshake(ok)
    assert answer is not None and (answer.status, answer.body) == (200, "42")
    wrong = WebhookRequest(
        "GET", {}, {"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "42"}
    )
    refused = ch.handshake(wrong)
    assert refused is not None and refused.status == 403


# --- messages ---


def test_text() -> None:
    event = one(SIM.text(IGSID, "hello", mid="aWdf-1"))
    assert event.input == TextInput(text="hello")
    assert (event.dedup_key, event.platform_message_id) == ("aWdf-1", "aWdf-1")
    assert event.timestamp is not None and event.timestamp < 1e11  # milliseconds made seconds


def test_a_quick_reply_tap_is_a_postback_titled_with_the_tap() -> None:
    assert one(SIM.quick_reply(IGSID, "Yes", "YES")).input == PostbackInput(payload="YES", title="Yes")


def test_a_postback_from_a_generic_template_button() -> None:
    event = one(SIM.postback(IGSID, "Buy", "BUY"))
    assert event.input == PostbackInput(payload="BUY", title="Buy")
    assert event.dedup_key.startswith("aWdf")


@pytest.mark.parametrize("kind", ["image", "video", "audio", "file"])
def test_media_attachments(kind: str) -> None:
    assert one(SIM.attachment(IGSID, kind, {"url": CDN})).input == MediaInput(kind=kind, url=CDN)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("share", {"url": CDN}),
        ("story_mention", {"url": CDN}),
        ("ig_reel", {"reel_video_id": "1790", "title": "A reel", "url": CDN}),
        ("reel", {"reel_video_id": "1790", "url": CDN}),
        ("ig_post", {"ig_post_media_id": "1813", "title": "A post", "url": CDN}),
        ("like_heart", {}),
    ],
)
def test_instagram_attachments_are_events_with_all_their_fields(kind: str, payload: dict[str, Any]) -> None:
    event = one(SIM.attachment(IGSID, kind, payload))
    assert event.input == EventInput(name=kind, data={"type": kind, "payload": payload})


def test_a_post_share_with_both_attachments_is_the_ig_post_alone() -> None:
    post_ = {"type": "ig_post", "payload": {"ig_post_media_id": "1813", "title": "T", "url": CDN}}
    event = one(SIM.message(IGSID, attachments=[{"type": "share", "payload": {"url": CDN}}, post_]))
    assert event.input == EventInput(name="ig_post", data=post_)


def test_several_attachments_give_one_input_each() -> None:
    payload = SIM.message(
        IGSID, "aWdf-2", text="look", attachments=[{"type": "image", "payload": {"url": CDN}}]
    )
    events, _ = receive(channel(), payload)
    assert [e.dedup_key for e in events] == ["aWdf-2", "aWdf-2#1"]
    assert [e.input for e in events if isinstance(e, InboundMessage)] == [
        TextInput(text="look"),
        MediaInput(kind="image", url=CDN),
    ]


def test_a_story_reply_is_the_text_with_the_story_in_raw() -> None:
    event = one(SIM.story_reply(IGSID, "Love it", "17858893269000001", CDN))
    assert event.input == TextInput(text="Love it")
    assert event.raw["message"]["reply_to"] == {"story": {"url": CDN, "id": "17858893269000001"}}


def test_an_unsend_is_an_event() -> None:
    event = one(SIM.unsend(IGSID, "aWdf-3"))
    assert event.input == EventInput(name="message_deleted", data={"mid": "aWdf-3", "is_deleted": True})
    assert event.dedup_key == "deleted:aWdf-3"


def test_an_edit_is_an_event() -> None:
    event = one(SIM.edit(IGSID, "aWdf-4", "fixed", num_edit=2))
    assert event.input == EventInput(
        name="message_edit", data={"mid": "aWdf-4", "text": "fixed", "num_edit": 2}
    )
    assert event.dedup_key == "edit:aWdf-4:2"


def test_an_unsupported_message_keeps_all_its_fields() -> None:
    event = one(SIM.message(IGSID, "aWdf-5", is_unsupported=True))
    assert event.input == EventInput(name="unsupported", data={"mid": "aWdf-5", "is_unsupported": True})


def test_reactions_and_unreactions_are_events_keyed_apart() -> None:
    react = one(SIM.reaction(IGSID, "aWdf-6"))
    unreact = one(SIM.reaction(IGSID, "aWdf-6", action="unreact"))
    assert react.input == EventInput(
        name="reaction", data={"mid": "aWdf-6", "action": "react", "reaction": "love", "emoji": "\u2764"}
    )
    assert unreact.input == EventInput(name="reaction", data={"mid": "aWdf-6", "action": "unreact"})
    assert react.dedup_key != unreact.dedup_key


def test_a_read_receipt_is_a_status_update() -> None:
    events, _ = receive(channel(), SIM.read(IGSID, "aWdf-out"))
    assert events == [
        StatusUpdate(
            dedup_key=f"read:{IGSID}:aWdf-out",
            user_id=IGSID,
            status="read",
            platform_message_id="aWdf-out",
            raw=events[0].raw,
        )
    ]


def test_a_referral_is_an_event() -> None:
    referral = {"ref": "summer", "source": "IGME_LINK", "type": "OPEN_THREAD"}
    event = one(SIM.webhook(SIM.item(IGSID, referral=referral)))
    assert event.input == EventInput(name="referral", data=referral)


def test_echoes_are_skipped_with_a_reason() -> None:
    events, skips = receive(channel(), SIM.echo(IGSID, "our own reply"))
    assert events == []
    assert len(skips) == 1 and "is_echo" in skips[0]


def test_an_item_with_nothing_documented_is_skipped_with_its_fields_named() -> None:
    events, skips = receive(channel(), SIM.webhook(SIM.item(IGSID, mystery={"x": 1})))
    assert events == [] and "mystery" in skips[0]


# --- changes ---


def test_a_comment_is_an_event_from_its_author() -> None:
    payload = SIM.comment(IGSID, "ann.lee", "Nice!")
    [change] = payload["entry"][0]["changes"]
    events, _ = receive(channel(), payload)
    [event] = events
    assert isinstance(event, InboundMessage)
    assert event.input == EventInput(name="comments", data=change["value"])
    assert event.user == User(id=IGSID, name="ann.lee")
    assert event.dedup_key == f"comments:{change['value']['id']}"


def test_a_mention_names_nobody_to_answer_and_is_skipped_with_that_reason() -> None:
    payload = SIM.webhook(changes=[{"field": "mentions", "value": {"media_id": "1", "comment_id": "2"}}])
    events, skips = receive(channel(), payload)
    assert events == [] and "mentions change names no user" in skips[0]


def test_a_messaging_item_in_the_changes_form_is_read_as_one() -> None:
    """The App Dashboard's test button sends messages this way, with entry id "0"."""
    value = {
        "sender": {"id": "12334"},
        "recipient": {"id": "23245"},
        "timestamp": "1527459824",
        "message": {"mid": "random_mid", "text": "random_text"},
    }
    payload = {
        "object": "instagram",
        "entry": [{"id": "0", "time": 1, "changes": [{"field": "messages", "value": value}]}],
    }
    events, _ = receive(channel(), payload)
    [event] = events
    assert isinstance(event, InboundMessage)
    assert (event.input, event.user.id, event.timestamp) == (
        TextInput(text="random_text"),
        "12334",
        1527459824,
    )


# --- the envelope ---


def test_an_entry_for_another_account_is_skipped_with_that_reason() -> None:
    payload = SIM.text(IGSID, "hi")
    payload["entry"][0]["id"] = "17841499999999999"
    events, skips = receive(channel(), payload)
    assert events == [] and "not this integration's" in skips[0]


def test_another_object_is_acknowledged_and_ignored() -> None:
    events, _ = receive(channel(), {"object": "page", "entry": [{"id": ACCOUNT, "messaging": []}]})
    assert events == []


def test_a_malformed_item_is_skipped_and_the_rest_kept() -> None:
    payload = SIM.text(IGSID, "kept")
    payload["entry"][0]["messaging"].insert(
        0, {"sender": {"id": ["not", "an", "id"]}, "message": {"mid": "x"}}
    )
    events, skips = receive(channel(), payload)
    assert [e.input for e in events if isinstance(e, InboundMessage)] == [TextInput(text="kept")]
    assert len(skips) == 1
