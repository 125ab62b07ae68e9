"""docs/bots.md keeps its promises: the JSON examples validate and the example bots run as printed."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from channelgate.bots import build_bot, parse_bot_spec
from channelgate.bots.http import reply_from_json
from channelgate.messages import parse_messages
from channelgate.testing.server import serve_app
from channelgate.turns import Turn, input_adapter

MakeTurn = Callable[..., Turn]
DOC = Path(__file__).resolve().parents[2] / "docs" / "bots.md"
_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == language]


def python_block(first_line: str) -> str:
    (source,) = [b for b in blocks("python") if b.startswith(first_line)]
    return source


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("mybot", "httpbot"):
        sys.modules.pop(name, None)


def test_every_json_example_is_a_valid_turn_input_or_reply() -> None:
    examples = [json.loads(b) for b in blocks("json")]
    turns = [e for e in examples if "conversation_id" in e]
    assert turns, "the Turn example is missing"
    for turn in turns:
        Turn.model_validate(turn)
    inputs = [e for e in examples if e.get("type") in ("text", "postback", "media", "location", "event")]
    assert {i["type"] for i in inputs} == {"text", "postback", "media", "location", "event"}
    for data in inputs:
        input_adapter.validate_python(data)
    replies = [e for e in examples if "messages" in e]
    assert replies
    for reply in replies:
        _, bad = parse_messages(reply_from_json(reply).messages)
        assert bad == []


async def test_the_ten_line_python_bot_runs_as_printed(make_turn: MakeTurn, on_path: Path) -> None:
    source = python_block("# mybot.py")
    assert len(source.strip().splitlines()) <= 10
    (on_path / "mybot.py").write_text(source)
    bot = build_bot(parse_bot_spec({"python": "mybot:respond"}))
    await bot.start()
    reply = await bot.respond(make_turn("hi"))
    good, bad = parse_messages(reply.messages)
    assert bad == [] and len(good) == 1
    assert reply.messages[0]["text"] == "You said: hi"
    tapped = await bot.respond(make_turn({"type": "postback", "payload": "GOOD", "title": "👍"}))
    assert tapped.messages == ["You tapped 👍"]


async def test_the_http_bot_runs_as_printed(make_turn: MakeTurn, on_path: Path) -> None:
    (on_path / "httpbot.py").write_text(python_block("# httpbot.py"))
    import httpbot  # type: ignore[import-not-found]

    async with serve_app(httpbot.app) as base:
        bot = build_bot(parse_bot_spec({"http": f"{base}/turn"}))
        await bot.start()
        try:
            reply = await bot.respond(make_turn("hi"))
            quiet = await bot.respond(make_turn({"type": "event", "name": "subscribed"}))
        finally:
            await bot.stop()
    assert reply.messages == [{"type": "text", "text": "You said: hi"}]
    assert quiet.messages == []
