"""Authentic but broken updates (a platform bug, a proxy, a leaked secret): whatever the body, the channel
answers a 4xx or events the store and a bot can use, never an unexpected exception (a 500 would make
Telegram redeliver it for a day). Mutations of the published samples and the simulator's updates."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings

from channelgate.channels.base import InboundMessage, WebhookError
from channelgate.channels.inbound import screen_all
from channelgate.testing.telegram import TelegramSimulator
from channelgate.turns import input_adapter
from tests.fuzz.strategies import damaged, dumps, mutated_trees

from .kit import channel, receive

_sim = TelegramSimulator()
SAMPLES: list[Any] = [
    json.loads(p.read_text()) for p in sorted((Path(__file__).parent / "samples").glob("*.json"))
]
SAMPLES += [
    _sim.photo_update(1, "AgAD", caption="c"),
    _sim.contact_update(1, "+1555"),
    _sim.callback_update(-100, "cg:AAAAAAAAAAAAAAAAAAAAAA", message=_sim.message(-100, {"text": "x"})),
    _sim.my_chat_member_update(1, "kicked"),
    _sim.update("message", _sim.message(1, {"venue": {"location": {"latitude": 1, "longitude": 2}}})),
]
CHANNEL = channel()
LOOP = asyncio.new_event_loop()


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
        events = LOOP.run_until_complete(receive(CHANNEL, body))
    except WebhookError as exc:
        assert exc.status == 400
        return
    kept, _ = screen_all(events)
    for event in kept:
        assert isinstance(event, InboundMessage)
        assert input_adapter.validate_python(event.input.model_dump(mode="json")) == event.input
        orjson.dumps(event.raw)  # the store can keep it
