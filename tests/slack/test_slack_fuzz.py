"""Authentic but broken requests (a platform bug, a proxy, a leaked signing secret): whatever the body, the
channel answers a 4xx or events the store and a bot can use, never an unexpected exception (a 500 makes
Slack retry and, after enough failures, disable the app's events). Mutations of the published samples,
as JSON envelopes and as interactivity forms."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channelgate.channels.base import InboundMessage, WebhookError
from channelgate.channels.inbound import screen_all
from channelgate.turns import input_adapter
from tests.fuzz.strategies import damaged, dumps, mutated_trees

from .kit import channel, receive

SAMPLES_DIR = Path(__file__).parent / "samples"
EVENTS: list[Any] = [
    json.loads(p.read_text()) for p in sorted(SAMPLES_DIR.glob("*.json")) if ".payload." not in p.name
]
PAYLOADS: list[Any] = [json.loads(p.read_text()) for p in sorted(SAMPLES_DIR.glob("*.payload.json"))]
CHANNEL = channel()
LOOP = asyncio.new_event_loop()

BODIES = st.one_of(
    mutated_trees(EVENTS).map(dumps).flatmap(damaged),
    mutated_trees(PAYLOADS).map(lambda tree: b"payload=" + quote_from_bytes(dumps(tree)).encode()),
)


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(BODIES)
def test_any_authentic_body_is_a_4xx_or_usable_events(body: bytes) -> None:
    try:
        events = LOOP.run_until_complete(receive(CHANNEL, body))
    except WebhookError as exc:
        assert exc.status == 400
        return
    kept, _ = screen_all(events)
    for event in kept:
        assert isinstance(event, InboundMessage)
        assert input_adapter.validate_python(event.input.model_dump(mode="json")) == event.input
        orjson.dumps(event.raw)  # the store can keep it
