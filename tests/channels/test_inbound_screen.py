"""Screening inputs: a field that held nothing but NUL characters skips the event, never a 500."""

from __future__ import annotations

from channelgate.channels.base import InboundMessage
from channelgate.channels.inbound import screen_all
from channelgate.turns import EventInput, TextInput, User


def message(key: str, value: EventInput | TextInput) -> InboundMessage:
    return InboundMessage(dedup_key=key, user=User(id="u1"), input=value)


def test_an_event_named_only_nul_is_skipped_with_its_reason() -> None:
    kept, reasons = screen_all(
        [message("e1", EventInput(name="\x00\x00", data={})), message("e2", TextInput(text="hi\x00"))]
    )
    assert [(k.dedup_key, k.input) for k in kept] == [("e2", TextInput(text="hi"))]
    assert reasons == ["'e1': nothing left once NUL characters are removed"]
