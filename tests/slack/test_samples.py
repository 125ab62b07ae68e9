"""Slack's own published payloads (samples/README.md names each source), signed as Slack signs them, each
asserting the full event the channel makes of it: nothing authentic is dropped without a logged reason."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from channelgate.channels.base import InboundEvent, InboundMessage
from channelgate.turns import EventInput, MediaInput, PostbackInput, TextInput, User

from .kit import channel, form, post, receive

SAMPLES = Path(__file__).parent / "samples"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


def without_token(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "token"}


async def events_of(name: str) -> list[InboundEvent]:
    if name.endswith(".payload.json"):
        return await receive(channel(), form({"payload": load(name)}))
    if name.endswith(".form"):
        return await receive(channel(), (SAMPLES / name).read_bytes().strip())
    return await receive(channel(), load(name))


def test_every_sample_is_tested() -> None:
    tested = {name for name, _ in EXPECTED} | set(SKIPPED) | {"bolt_url_verification.json"}
    assert tested == {p.name for p in SAMPLES.iterdir() if p.name != "README.md"}


def _message(name: str, key: str, user: str, input: Any, ref: str | None, ts: float | None) -> InboundMessage:
    return InboundMessage(
        dedup_key=key,
        user=User(id=user),
        input=input,
        raw=without_token(load(name)),
        platform_message_id=ref,
        timestamp=ts,
    )


EXPECTED: list[tuple[str, list[InboundMessage]]] = [
    (
        "docs_message_im.json",
        [
            _message(
                "docs_message_im.json",
                "event:Ev0PV52K21",
                "D024BE91L",
                TextInput(text="Hello hello can you hear me?"),
                "1355517523.000005",
                1355517523.000005,
            )
        ],
    ),
    (
        "bolt_message_channel.json",
        [
            _message(
                "bolt_message_channel.json",
                "event:Ev111",
                "C111",
                TextInput(text="Hello World!"),
                "1596183880.004200",
                1596183880.0042,
            )
        ],
    ),
    (
        "bolt_app_mention.json",
        [
            _message(
                "bolt_app_mention.json",
                "event:Ev111",
                "C111",
                TextInput(text="Hi there!"),
                "1595926230.009600",
                1595926230.0096,
            )
        ],
    ),
    (
        "bolt_reaction_added.json",
        [
            _message(
                "bolt_reaction_added.json",
                "event:Ev111",
                "C111",
                EventInput(name="reaction_added", data=load("bolt_reaction_added.json")["event"]),
                None,
                1599616881.0,
            )
        ],
    ),
    (
        "bolt_member_joined_channel.json",
        [
            _message(
                "bolt_member_joined_channel.json",
                "event:Ev111",
                "C111",
                EventInput(
                    name="member_joined_channel", data=load("bolt_member_joined_channel.json")["event"]
                ),
                None,
                1599616881.0,
            )
        ],
    ),
    (
        "bolt_app_uninstalled.json",
        [
            _message(
                "bolt_app_uninstalled.json",
                "event:Ev111",
                "T111",
                EventInput(name="app_uninstalled", data={"type": "app_uninstalled"}),
                None,
                1599616881.0,
            )
        ],
    ),
    (
        "bolt_tokens_revoked.json",
        [
            _message(
                "bolt_tokens_revoked.json",
                "event:Ev111",
                "T111",
                EventInput(name="tokens_revoked", data=load("bolt_tokens_revoked.json")["event"]),
                None,
                1599616881.0,
            )
        ],
    ),
    (
        "bolt_message_file_share.json",
        [
            _message(
                "bolt_message_file_share.json",
                "event:Ev03EGJQAVMM",
                "C111",
                TextInput(text="Hi there!"),
                "1652227646.593159",
                1652227646.593159,
            ),
            _message(
                "bolt_message_file_share.json",
                "event:Ev03EGJQAVMM#1",
                "C111",
                MediaInput(kind="image", media_id="F111", mime_type="image/png"),
                "1652227646.593159",
                1652227646.593159,
            ),
        ],
    ),
    (
        "bolt_message_deleted.json",
        [
            _message(
                "bolt_message_deleted.json",
                "event:Ev111",
                "C111",
                EventInput(name="message_deleted", data=load("bolt_message_deleted.json")["event"]),
                None,
                1665368629.0071,
            )
        ],
    ),
    (
        "bolt_message_thread_broadcast.json",
        [
            _message(
                "bolt_message_thread_broadcast.json",
                "event:Ev111",
                "C111",
                TextInput(text="Hi there!"),
                "1633670813.007500@1633663824.000500",
                1633670813.0075,
            )
        ],
    ),
    (
        "bolt_block_actions.payload.json",
        [
            InboundMessage(
                dedup_key="action:111.222.valid:1596530385.194939",
                user=User(id="C111", name="test-channel"),
                input=PostbackInput(payload="click_me_123", title="Button"),
                raw=without_token(load("bolt_block_actions.payload.json")),
                platform_message_id="111.222",
                timestamp=1596530385.194939,
            )
        ],
    ),
    (
        "bolt_shortcut.payload.json",
        [
            InboundMessage(
                dedup_key="shortcut:111.111.xxxxxx",
                user=User(id="W111", name="primary-owner"),
                input=EventInput(name="shortcut", data=without_token(load("bolt_shortcut.payload.json"))),
                raw=without_token(load("bolt_shortcut.payload.json")),
            )
        ],
    ),
    (
        "bolt_view_submission.payload.json",
        [
            InboundMessage(
                dedup_key="view_submission:111.222.valid",
                user=User(id="W111", name="primary-owner"),
                input=EventInput(
                    name="view_submission", data=without_token(load("bolt_view_submission.payload.json"))
                ),
                raw=without_token(load("bolt_view_submission.payload.json")),
            )
        ],
    ),
]

_COMMAND = {
    "team_id": "T111",
    "team_domain": "test-domain",
    "channel_id": "C111",
    "channel_name": "random",
    "user_id": "W111",
    "user_name": "primary-owner",
    "command": "/hello-world",
    "text": "Hi",
    "enterprise_id": "E111",
    "enterprise_name": "Org Name",
    "response_url": "https://hooks.slack.com/commands/T111/111/xxxxx",
    "trigger_id": "111.111.xxx",
}
EXPECTED.append(
    (
        "bolt_slash_command.form",
        [
            InboundMessage(
                dedup_key="command:111.111.xxx",
                user=User(id="C111", name="random"),
                input=EventInput(name="slash_command", data=_COMMAND),
                raw=_COMMAND,
            )
        ],
    )
)

#: Samples skipped on purpose, with the reason logged.
SKIPPED = {
    "bolt_message_bot.json": "from bot B999",
    "bolt_message_classic_bot.json": "from bot B888",
    "bolt_message_changed.json": "message_changed",
}


@pytest.mark.parametrize(("name", "expected"), EXPECTED, ids=[name for name, _ in EXPECTED])
async def test_a_published_sample_becomes_its_full_event(name: str, expected: list[InboundMessage]) -> None:
    assert await events_of(name) == expected


@pytest.mark.parametrize(("name", "reason"), SKIPPED.items())
async def test_published_bot_messages_and_edits_are_skipped_with_their_reason(
    name: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="channelgate.channels"):
        assert await events_of(name) == []
    assert any(reason in record.getMessage() for record in caplog.records)


def test_the_published_url_verification_is_answered_with_its_challenge() -> None:
    ch = channel()
    body = load("bolt_url_verification.json")
    request = post(body)
    answer = ch.ack(request, ch.parse(request, ch.authenticate(request)))
    assert json.loads(answer.body) == {"challenge": body["challenge"]}
