"""Authentic but broken forms (a platform bug, a proxy, a leaked Auth Token): whatever Twilio's signed
fields hold, the channel answers a 400 or events the store and a bot can use, never an unexpected exception
(a 500 would have Twilio log 11200 and call the fallback URL). Mutations of published and simulated forms."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qsl

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channelgate.channels.base import InboundMessage, StatusUpdate, WebhookError
from channelgate.channels.inbound import screen_all
from channelgate.testing.twilio import TwilioSimulator
from channelgate.turns import input_adapter

from .kit import channel, receive

_sim = TwilioSimulator()
SAMPLES = [
    parse_qsl(p.read_text(), keep_blank_values=True)
    for p in sorted((Path(__file__).parent / "samples").glob("*.form"))
]
SAMPLES += [
    _sim.incoming("+14155550100", "hi", media=[("https://cdn.example/a.png", "image/png")]),
    _sim.incoming("whatsapp:+1", "", Latitude="1", Longitude="2", ButtonPayload="P"),
    _sim.incoming("+1", "stop", OptOutType="STOP"),
    [("MessageSid", "SM1"), ("MessageStatus", "undelivered"), ("To", "+1"), ("ErrorCode", "30006")],
]
NAMES = sorted(
    {name for form in SAMPLES for name, _ in form} | {"NumMedia", "MediaUrl0", "MediaUrl1", "MessageStatus"}
)
CHANNEL = channel()
LOOP = asyncio.new_event_loop()

values = st.one_of(
    st.text(max_size=40), st.sampled_from(["", "-1", "3", "1e999", "nan", "https://x", "\x00", "received"])
)


@st.composite
def forms(draw: st.DrawFn) -> list[tuple[str, str]]:
    form = list(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.one_of(st.sampled_from(NAMES), st.text(min_size=1, max_size=12)))
        value = draw(values)
        if draw(st.booleans()):
            form = [(n, value if n == name else v) for n, v in form]
        else:
            form.append((name, value))
    if draw(st.booleans()) and form:
        del form[draw(st.integers(0, len(form) - 1))]
    return form


@settings(max_examples=200, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(forms())
def test_any_authentic_form_is_a_400_or_usable_events(form: list[tuple[str, str]]) -> None:
    try:
        events = LOOP.run_until_complete(receive(CHANNEL, form))
    except WebhookError as exc:
        assert exc.status == 400
        return
    kept, _ = screen_all(events)
    for event in kept:
        assert isinstance(event, InboundMessage | StatusUpdate)
        if isinstance(event, InboundMessage):
            assert input_adapter.validate_python(event.input.model_dump(mode="json")) == event.input
        orjson.dumps(event.raw)  # the store can keep it
