"""The fleet tests reuse the core tests' relay peer that records sends."""

from tests.core.conftest import peer

__all__ = ["peer"]
