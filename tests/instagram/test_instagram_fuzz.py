"""Authentic but broken webhooks (a platform bug, a proxy, a leaked secret): whatever the signed body, the
channel answers a 400 or events the store and a bot can use, never an unexpected exception (a 500 would make
Meta redeliver it for hours). Mutations of Meta's published samples and the simulator's payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings

from channelgate.channels.base import InboundMessage, StatusUpdate, WebhookError
from channelgate.channels.inbound import screen_all
from channelgate.turns import input_adapter
from tests.fuzz.strategies import damaged, dumps, mutated_trees

from .kit import ACCOUNT, IGSID, SIM, channel, receive

SAMPLES: list[Any] = [
    json.loads(p.read_text()) for p in sorted((Path(__file__).parent / "samples").glob("*.json"))
]
for sample in SAMPLES:
    sample["entry"][0]["id"] = ACCOUNT
SAMPLES += [
    SIM.quick_reply(IGSID, "Yes", "YES"),
    SIM.story_reply(IGSID, "wow", "1785", "https://lookaside.fbsbx.com/x"),
    SIM.unsend(IGSID, "aWdf-1"),
    SIM.edit(IGSID, "aWdf-1", "fixed"),
    SIM.read(IGSID, "aWdf-1"),
    SIM.echo(IGSID, "ours"),
    SIM.comment(IGSID, "ann", "Nice"),
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
def test_any_authentic_body_is_a_400_or_usable_events(body: bytes) -> None:
    try:
        events, _ = receive(CHANNEL, body)
    except WebhookError as exc:
        assert exc.status == 400
        return
    kept, _ = screen_all(events)
    for event in kept:
        if isinstance(event, StatusUpdate):
            assert event.status in ("read", "delivered")
            continue
        assert isinstance(event, InboundMessage)
        assert input_adapter.validate_python(event.input.model_dump(mode="json")) == event.input
        orjson.dumps(event.raw)  # the store can keep it
