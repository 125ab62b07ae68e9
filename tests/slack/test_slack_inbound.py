"""Slack requests → inbound events: the v0 signature (the documented vector), the timestamp window, the
challenge, every kind of request, and the events skipped on purpose with a logged reason."""

from __future__ import annotations

import logging

import pytest

from channelgate.channels.base import BadRequest, Forbidden, InboundMessage, Unauthorized, WebhookRequest
from channelgate.channels.slack.inbound import reply_ref, strip_mention
from channelgate.channels.slack.signature import sign
from channelgate.turns import EventInput, MediaInput, PostbackInput, TextInput, User

from .kit import DM, channel, form, post, receive

# docs.slack.dev "Verifying requests from Slack", asserted by python-slack-sdk (reference §0.2)
VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VECTOR_TIMESTAMP = "1531420618"
VECTOR_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def vector_request(signature: str = VECTOR_SIGNATURE) -> WebhookRequest:
    headers = {"x-slack-request-timestamp": VECTOR_TIMESTAMP, "x-slack-signature": signature}
    return WebhookRequest("POST", headers, {}, VECTOR_BODY)


def test_the_documented_signature_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    ch = channel(signing_secret=VECTOR_SECRET)
    ch.clock = lambda: int(VECTOR_TIMESTAMP) + 300
    request = vector_request()
    events = ch.parse(request, ch.authenticate(request))
    assert len(events) == 1 and isinstance(events[0], InboundMessage)
    assert events[0].dedup_key == "command:398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    assert events[0].user == User(id="G8PSS9T3V", name="foobar")
    assert isinstance(events[0].input, EventInput) and events[0].input.name == "slash_command"
    assert events[0].input.data is not None and "token" not in events[0].input.data
    assert events[0].input.data["command"] == "/webhook-collect"


def test_the_vector_301_seconds_later_is_refused() -> None:
    ch = channel(signing_secret=VECTOR_SECRET)
    ch.clock = lambda: int(VECTOR_TIMESTAMP) + 301
    with pytest.raises(Forbidden, match="five minutes"):
        ch.authenticate(vector_request())
    ch.clock = lambda: int(VECTOR_TIMESTAMP) - 301  # from the future, too
    with pytest.raises(Forbidden):
        ch.authenticate(vector_request())


def test_missing_signature_is_401_and_a_wrong_one_403() -> None:
    ch = channel(signing_secret=VECTOR_SECRET)
    ch.clock = lambda: int(VECTOR_TIMESTAMP)
    with pytest.raises(Unauthorized):
        ch.authenticate(
            WebhookRequest("POST", {"x-slack-request-timestamp": VECTOR_TIMESTAMP}, {}, VECTOR_BODY)
        )
    with pytest.raises(Unauthorized):
        ch.authenticate(WebhookRequest("POST", {"x-slack-signature": VECTOR_SIGNATURE}, {}, VECTOR_BODY))
    with pytest.raises(Forbidden):
        ch.authenticate(vector_request("v0=" + "0" * 64))
    with pytest.raises(Forbidden):  # the same signature over another body
        ch.authenticate(WebhookRequest("POST", vector_request().headers, {}, VECTOR_BODY + b"&x=1"))
    with pytest.raises(Forbidden):
        ch.authenticate(post({"type": "event_callback"}, secret="another-secret"))
    with pytest.raises(Forbidden):
        ch.authenticate(post({"type": "event_callback"}, timestamp="soon"))


def test_url_verification_is_answered_with_the_challenge_after_the_signature() -> None:
    ch = channel()
    body = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    }
    body["type"] = "url_verification"
    request = post(body)
    assert ch.handshake(request) is None  # not before the signature is checked
    events = ch.parse(request, ch.authenticate(request))
    assert events == []
    answer = ch.ack(request, events)
    assert (answer.status, answer.media_type) == (200, "application/json")
    assert answer.body == b'{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}'
    with pytest.raises(Unauthorized):
        ch.authenticate(post(body, signed=False))
    for broken in ([], None, 7, ""):  # found by the fuzz test: never an unexpected exception
        odd = post({**body, "challenge": broken})
        with pytest.raises(BadRequest):
            ch.parse(odd, ch.authenticate(odd))


def test_ssl_check_is_answered_without_anything_created() -> None:
    answer = channel().handshake(WebhookRequest("POST", {}, {}, b"token=random&ssl_check=1"))
    assert answer is not None and (answer.status, answer.body) == (200, b"")
    assert channel().handshake(WebhookRequest("POST", {}, {}, b"token=x&ssl_check=1&text=hi")) is None
    many = b"&".join(b"f%d=1" % i for i in range(30)) + b"&ssl_check=1"
    assert channel().handshake(WebhookRequest("POST", {}, {}, many)) is None


async def test_a_direct_message_becomes_text_in_the_dm_conversation() -> None:
    envelope = {
        "token": "verification",
        "team_id": "T1",
        "event": {"type": "message", "channel": DM, "user": "U1", "text": "hi", "ts": "1700000000.000100"},
        "type": "event_callback",
        "event_id": "Ev1",
        "event_time": 1700000000,
    }
    (event,) = await receive(channel(), envelope)
    assert isinstance(event, InboundMessage)
    assert (event.dedup_key, event.user, event.input) == ("event:Ev1", User(id=DM), TextInput(text="hi"))
    assert event.platform_message_id == "1700000000.000100"
    assert event.timestamp == 1700000000.0001
    assert event.raw == {k: v for k, v in envelope.items() if k != "token"}


async def test_a_message_in_a_thread_remembers_its_thread() -> None:
    event = {"type": "message", "channel": DM, "user": "U1", "text": "more", "ts": "2.0", "thread_ts": "1.0"}
    (parsed,) = await receive(channel(), {"type": "event_callback", "event_id": "Ev2", "event": event})
    assert isinstance(parsed, InboundMessage) and parsed.platform_message_id == "2.0@1.0"
    assert reply_ref("1.0", "1.0") == "1.0" and reply_ref(None, "1.0") is None


async def test_an_app_mention_loses_the_leading_mention_of_the_bot() -> None:
    event = {"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UBOT> what's up?", "ts": "3.0"}
    body = {"type": "event_callback", "event_id": "Ev3", "event": event, "authed_users": ["UBOT"]}
    (parsed,) = await receive(channel(), body)
    assert isinstance(parsed, InboundMessage)
    assert (parsed.user.id, parsed.input) == ("C1", TextInput(text="what's up?"))
    assert strip_mention("<@UOTHER> hi", {"UBOT"}) == "<@UOTHER> hi"
    assert strip_mention("<@UBOT|bot>  hi", set()) == "hi"
    in_dm = {**event, "channel": DM}
    assert await receive(channel(), {**body, "event": in_dm}) == []  # its message.im event is the turn
    only = {**event, "text": "<@UBOT>"}
    (bare,) = await receive(channel(), {**body, "event": only})
    assert isinstance(bare, InboundMessage) and bare.input == EventInput(name="app_mention", data=only)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"bot_id": "B1"}, "from bot B1"),
        ({"subtype": "bot_message", "bot_id": "B2", "username": "classic"}, "from bot B2"),
        ({"subtype": "message_changed", "message": {"text": "edited"}}, "message_changed"),
    ],
)
async def test_bot_messages_and_edits_are_skipped_with_a_logged_reason(
    extra: dict[str, object], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = {"type": "message", "channel": DM, "user": "U1", "text": "hi", "ts": "4.0", **extra}
    with caplog.at_level(logging.INFO, logger="channelgate.channels"):
        assert await receive(channel(), {"type": "event_callback", "event_id": "Ev4", "event": event}) == []
    assert any("event skipped" in r.getMessage() and reason in r.getMessage() for r in caplog.records)


async def test_shared_files_are_media_by_id_after_the_text() -> None:
    files = [
        {"id": "F1", "mimetype": "image/png", "name": "a.png"},
        {"id": "F2", "mimetype": "application/pdf", "name": "b.pdf"},
    ]
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": DM,
        "user": "U1",
        "text": "see",
        "ts": "5.0",
    }
    events = await receive(
        channel(), {"type": "event_callback", "event_id": "Ev5", "event": {**event, "files": files}}
    )
    assert [e.dedup_key for e in events] == ["event:Ev5", "event:Ev5#1", "event:Ev5#2"]
    assert [e.input for e in events if isinstance(e, InboundMessage)] == [
        TextInput(text="see"),
        MediaInput(kind="image", media_id="F1", mime_type="image/png"),
        MediaInput(kind="file", media_id="F2", mime_type="application/pdf"),
    ]


async def test_other_subtypes_and_events_keep_all_their_fields() -> None:
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C1",
        "deleted_ts": "1.0",
        "ts": "6.0",
    }
    (parsed,) = await receive(channel(), {"type": "event_callback", "event_id": "Ev6", "event": deleted})
    assert isinstance(parsed, InboundMessage) and parsed.input == EventInput(
        name="message_deleted", data=deleted
    )
    assert parsed.platform_message_id is None
    reaction = {
        "type": "reaction_added",
        "user": "U1",
        "item": {"type": "message", "channel": "C9", "ts": "1.0"},
        "reaction": "thumbsup",
        "event_ts": "7.0",
    }
    (parsed,) = await receive(channel(), {"type": "event_callback", "event_id": "Ev7", "event": reaction})
    assert isinstance(parsed, InboundMessage)
    assert (parsed.user.id, parsed.input) == ("C9", EventInput(name="reaction_added", data=reaction))


async def test_uninstalling_the_app_turns_the_integration_red() -> None:
    ch = channel()
    body = {
        "type": "event_callback",
        "team_id": "T1",
        "event_id": "Ev8",
        "event": {"type": "app_uninstalled"},
    }
    (parsed,) = await receive(ch, body)
    assert isinstance(parsed, InboundMessage) and parsed.user.id == "T1"
    assert ch.ctx.health.status == "failing" and "app_uninstalled" in ch.ctx.health.message
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": ["U1"], "bot": []}}
    other = channel()
    await receive(other, {"type": "event_callback", "team_id": "T1", "event_id": "Ev9", "event": revoked})
    assert other.ctx.health.status == "ok"  # a user's token, not the bot's


async def test_a_button_click_is_a_postback_deduplicated_on_its_trigger_and_action_ts() -> None:
    payload = {
        "type": "block_actions",
        "token": "verification",
        "user": {"id": "U1", "name": "ann"},
        "trigger_id": "111.222.abc",
        "container": {"type": "message", "message_ts": "9.0", "channel_id": DM},
        "channel": {"id": DM, "name": "directmessage"},
        "message": {"ts": "9.0", "thread_ts": "8.0"},
        "actions": [
            {
                "action_id": "cg_1",
                "type": "button",
                "value": "YES",
                "text": {"type": "plain_text", "text": "Yes"},
            }
            | {"action_ts": "1596530385.194939"}
        ],
    }
    (parsed,) = await receive(channel(), form({"payload": payload}))
    assert isinstance(parsed, InboundMessage)
    assert parsed.dedup_key == "action:111.222.abc:1596530385.194939"
    assert (parsed.user, parsed.input) == (User(id=DM, name="ann"), PostbackInput(payload="YES", title="Yes"))
    assert parsed.platform_message_id == "9.0@8.0"
    assert parsed.raw is not None and "token" not in parsed.raw
    option = {"value": "RED", "text": {"type": "plain_text", "text": "Red"}}
    select = {"action_id": "m", "type": "static_select", "action_ts": "2.0", "selected_option": option}
    picker = {"action_id": "d", "type": "datepicker", "selected_date": "2026-01-01", "action_ts": "3.0"}
    events = await receive(channel(), form({"payload": {**payload, "actions": [select, picker]}}))
    assert [e.input for e in events if isinstance(e, InboundMessage)] == [
        PostbackInput(payload="RED", title="Red"),
        EventInput(name="block_actions", data=picker),
    ]


async def test_other_interactions_are_events_with_the_whole_payload() -> None:
    shortcut = {
        "type": "shortcut",
        "token": "t",
        "callback_id": "go",
        "trigger_id": "1.2.3",
        "user": {"id": "U1"},
    }
    (parsed,) = await receive(channel(), form({"payload": shortcut}))
    assert isinstance(parsed, InboundMessage)
    assert parsed.dedup_key == "shortcut:1.2.3" and parsed.user == User(id="U1")
    assert parsed.input == EventInput(
        name="shortcut", data={k: v for k, v in shortcut.items() if k != "token"}
    )
    closed = {"type": "view_closed", "user": {"id": "U1"}, "view": {"id": "V1"}}
    (first,) = await receive(channel(), form({"payload": closed}))
    (again,) = await receive(channel(), form({"payload": closed}))
    assert first.dedup_key == again.dedup_key and first.dedup_key.startswith("view_closed:")


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b"payload=%7Bnot",
        b"hello=world",
        b'{"type": "event_callback"',
        b"\xff\xfe",
        b"&".join(b"f%d=1" % i for i in range(300)),
    ],
)
async def test_malformed_bodies_are_400(body: bytes) -> None:
    with pytest.raises(BadRequest):
        await receive(channel(), body)


async def test_events_that_cannot_be_read_are_skipped_with_their_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = post(
        {"type": "event_callback", "event": {"type": "message", "text": "no channel"}, "event_id": "E"}
    )
    ch = channel()
    assert ch.parse(request, ch.authenticate(request)) == []
    assert "event.channel is missing" in request.notes["skips"].reasons[0]
    odd = post({"type": "something_new"})
    assert ch.parse(odd, ch.authenticate(odd)) == []
    assert "something_new" in odd.notes["skips"].reasons[0]
