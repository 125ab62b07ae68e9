"""Turns for the bot adapter tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from channelgate.turns import Turn, input_adapter


def build_turn(input: dict[str, Any] | str, **fields: Any) -> Turn:
    """A Turn from a webchat user; ``input`` is an input JSON object or, for short, a text."""
    data = {"type": "text", "text": input} if isinstance(input, str) else input
    base: dict[str, Any] = {
        "id": "turn-1",
        "conversation_id": "webchat:site:u1",
        "channel": "webchat",
        "label": "site",
        "user": {"id": "u1", "name": "Ada"},
        "locale": "en-US",
        "input": input_adapter.validate_python(data),
        "raw": {"platform": "event"},
    }
    base.update(fields)
    return Turn.model_validate(base)


@pytest.fixture
def make_turn() -> Callable[..., Turn]:
    return build_turn
