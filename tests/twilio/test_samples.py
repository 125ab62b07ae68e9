"""Payloads Twilio's own SDK tests publish (sources: samples/README.md): each incoming-SMS form becomes the
full event it must, and Twilio's TwiML answers read as ours do."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from channelgate.channels.base import InboundMessage
from channelgate.channels.twilio import twiml
from channelgate.testing.twilio import TwilioSimulator
from channelgate.turns import TextInput, User

from .kit import channel, post

SAMPLES = Path(__file__).parent / "samples"
SID = "SM" + "a" * 32


def form(name: str) -> list[tuple[str, str]]:
    return parse_qsl((SAMPLES / name).read_text(), keep_blank_values=True)


@pytest.mark.parametrize(
    ("name", "user"),
    [("twilio_node_alert_incoming_sms.form", "+1"), ("twilio_ruby_alert_incoming_sms.form", "+14159152352")],
)
async def test_the_sdk_fixtures_incoming_sms_is_a_text_turn_with_every_field(name: str, user: str) -> None:
    fields = form(name)
    raw_body = (SAMPLES / name).read_bytes()
    ch = channel()
    request = post(fields)
    request = type(request)(
        "POST", request.headers, {}, raw_body, notes=request.notes
    )  # the bytes as published
    verified = ch.authenticate(request)
    await ch.check_replay(request, verified)
    [event] = ch.parse(request, verified)
    assert event == InboundMessage(
        dedup_key=SID,
        user=User(id=user),
        input=TextInput(text="plan 5 potato"),
        raw=dict(fields),
        platform_message_id=SID,
    )
    if "node" in name:
        assert event.raw["FromZp"] == ""  # the fixture's typo: a field without "=", kept and signed


def twiml_of(content: str) -> list[tuple[str, list[str]]]:
    """What Twilio texts back for a TwiML answer, read by the simulator as Twilio reads it."""
    sim = TwilioSimulator()
    sim._read_twiml(httpx.Response(200, text=content, headers={"content-type": "text/xml"}), "+15550001111")
    assert sim.webhook_errors == []
    return [(m.body, m.media) for m in sim.twiml]


def test_the_sdks_twiml_and_ours_say_the_same() -> None:
    published = (SAMPLES / "twilio_python_twiml_message_media.xml").read_text()
    ours = twiml.response([{"To": "+15550001111", "Body": "Hello", "MediaUrl": ["example.com"]}])
    assert twiml_of(published) == twiml_of(ours) == [("Hello", ["example.com"])]
    assert twiml_of((SAMPLES / "twilio_python_twiml_empty.xml").read_text()) == twiml_of(twiml.EMPTY) == []
