"""API keys, checked before anything else: an unauthenticated request never reaches a parser.

``Authorization: Bearer <key>``. No key, or one the store does not know: 401. A revoked key: 403. A
read-only key on anything but GET/HEAD: 403. The OpenAPI document and its viewer are public (they hold no
data). Keys are compared by their SHA-256 in an indexed lookup, so the comparison time says nothing about
a key's characters.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channelgate.api.errors import error_response
from channelgate.store import admin

if TYPE_CHECKING:
    from channelgate.gateway import Gateway

log = logging.getLogger("channelgate.api.auth")

PUBLIC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="channelgate"'}


def route_path(scope: Scope) -> str:
    """The path inside the mounted API (``/messages``), whatever prefix it is mounted at."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


class ApiKeyAuth:
    """ASGI middleware: authenticates every request except the public documents."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        token = bearer(scope)
        if token is None:
            await error_response(401, "an API key is required: Authorization: Bearer <key>", CHALLENGE)(
                scope, receive, send
            )
            return
        try:
            key = await admin.find_key(self.gateway.store, token)
        except Exception:
            log.exception("API key lookup failed")
            await error_response(503, "the store is unavailable; try again", {"Retry-After": "5"})(
                scope, receive, send
            )
            return
        if key is None:
            await error_response(401, "unknown API key", CHALLENGE)(scope, receive, send)
            return
        if key.revoked:
            await error_response(403, f"API key {key.prefix}… was revoked")(scope, receive, send)
            return
        if key.scope != "full" and scope.get("method", "GET") not in READ_METHODS:
            await error_response(403, f"API key {key.prefix}… is read-only")(scope, receive, send)
            return
        scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: 413 for request bodies over ``limit`` bytes. The body is read (up to the limit)
    before the app runs, so the app never sees a partial body and a large one is refused early."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await error_response(413, f"body over {self.limit} bytes")(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await error_response(413, f"body over {self.limit} bytes")(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
