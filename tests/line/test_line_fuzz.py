"""Authentic but broken webhooks (a platform bug, a proxy, a leaked secret): whatever the signed body, the
channel answers a 4xx or events the store and a bot can use, never an unexpected exception (a 500 would make
LINE redeliver the whole batch). Mutations of LINE's published fixture and of the simulator's events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings

from channelgate.channels.base import InboundMessage, WebhookError
from channelgate.channels.inbound import screen_all
from channelgate.testing.line import LineSimulator
from channelgate.turns import input_adapter
from tests.fuzz.strategies import damaged, dumps, mutated_trees

from .kit import USER, channel, receive

_sim = LineSimulator()
_FIXTURE = json.loads((Path(__file__).parent / "samples" / "line_bot_sdk_python_v3_webhook.json").read_text())
SAMPLES: list[Any] = [{"destination": "U1", "events": [event]} for event in _FIXTURE["events"]]
SAMPLES += [
    {
        "destination": "U1",
        "events": [_sim.text_event(USER, "hi", group="Cg"), _sim.postback_event(USER, "p")],
    },
    {"destination": "U1", "events": [_sim.image_event(USER), _sim.follow_event(USER), _sim.join_event("Cg")]},
]
CHANNEL = channel()


@settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(mutated_trees(SAMPLES).map(dumps).flatmap(damaged))
def test_any_authentic_body_is_a_4xx_or_usable_events(body: bytes) -> None:
    try:
        events = receive(CHANNEL, body)
    except WebhookError as exc:
        assert exc.status == 400
        return
    kept, _ = screen_all(events)
    for event in kept:
        assert isinstance(event, InboundMessage)
        assert input_adapter.validate_python(event.input.model_dump(mode="json")) == event.input
        orjson.dumps(event.raw)  # the store can keep it
