"""The admin REST API (``/api/v1``): integrations, conversations, proactive messages, broadcasts, proactive
turns, dead letters and media. See ``docs/api.md``.

The app is imported lazily, so that ``channelgate.api.cli`` (the CLI commands that call the API over
HTTP) does not load FastAPI and the gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from channelgate.api.app import create_api

PREFIX = "/api/v1"

__all__ = ["PREFIX", "create_api"]


def __getattr__(name: str) -> Any:
    if name == "create_api":
        from channelgate.api.app import create_api

        return create_api
    raise AttributeError(f"module 'channelgate.api' has no attribute {name!r}")
