"""The fleet tests reuse the admin API's fixtures: a relay peer that records sends."""

from tests.api.conftest import peer

__all__ = ["peer"]
