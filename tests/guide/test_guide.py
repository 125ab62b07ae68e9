"""docs/write-your-own-channel.md shows the example channel's real, tested code: every code block in it must
be a verbatim part of examples/guide-channel, so the guide cannot drift from what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "write-your-own-channel.md"
EXAMPLE = ROOT / "examples" / "guide-channel"
CHANNEL = EXAMPLE / "src" / "channelgate_parley" / "__init__.py"
SOURCES = [CHANNEL, EXAMPLE / "tests" / "test_parley.py", EXAMPLE / "pyproject.toml"]

BLOCKS = re.findall(r"^```(python|toml)\n(.*?)^```$", GUIDE.read_text(), flags=re.MULTILINE | re.DOTALL)


def test_the_guide_shows_code() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize(("language", "code"), BLOCKS, ids=[f"block-{i}" for i in range(len(BLOCKS))])
def test_every_code_block_is_copied_from_the_tested_example(language: str, code: str) -> None:
    sources = [path.read_text() for path in SOURCES]
    assert any(code in source for source in sources), f"this {language} block is not in {EXAMPLE}:\n{code}"


def test_the_example_channel_is_under_200_lines() -> None:
    lines = len(CHANNEL.read_text().splitlines())
    assert lines < 200
    assert f"({lines} lines, the whole channel)" in GUIDE.read_text()
