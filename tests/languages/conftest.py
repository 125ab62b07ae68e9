"""Fixtures for the language tests; the channel harnesses are in harness.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A SQLite file of the test's own, so that a second gateway can open the same conversations."""
    return f"sqlite:///{tmp_path}/gateway.db"
