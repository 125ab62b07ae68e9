"""The ASGI app: webhook routes, health, metrics, and routes that channels add (the web chat)."""

from channelgate.web.app import create_app

__all__ = ["create_app"]
