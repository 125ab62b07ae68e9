"""channelgate: one bot, every messaging channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from channelgate.client import ApiError, AsyncClient, Client

__all__ = ["ApiError", "AsyncClient", "Client", "__version__"]

_LAZY = {"Client", "AsyncClient", "ApiError"}


def __getattr__(name: str) -> Any:
    """``channelgate.Client`` without importing httpx for every ``import channelgate``."""
    if name in _LAZY:
        from channelgate import client

        return getattr(client, name)
    raise AttributeError(f"module 'channelgate' has no attribute {name!r}")
