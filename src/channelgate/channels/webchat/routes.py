"""The web chat's own routes: the page, its two static files, and the WebSocket.

    GET /webchat/{label}             the full-page chat
    GET /webchat/{label}/widget.js   the script a site embeds (also used by the page)
    GET /webchat/{label}/chat.css    the widget's stylesheet (loaded by the script into its shadow root)
    WS  /webchat/{label}/ws          the protocol of protocol.py

The socket session is a loop over the browser's frames: ``hello`` first (identity, then the user's waiting
messages are nudged out), then inputs, each acknowledged only once the gateway has durably accepted it,
so a browser that never got its ``ack`` may resend and the dedup key makes that harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
import time
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from channelgate.channels.base import GatewayAPI, InboundMessage
from channelgate.channels.webchat.channel import WebChatChannel
from channelgate.channels.webchat.hub import Connection, close_reason
from channelgate.channels.webchat.limits import Bucket, address_key
from channelgate.channels.webchat.protocol import (
    MAX_FRAME_BYTES,
    FrameError,
    Hello,
    InputFrame,
    Received,
    parse_frame,
)
from channelgate.turns import User

log = logging.getLogger("channelgate.channels.webchat")

#: seconds a new socket has to say hello before it is closed
HELLO_TIMEOUT = 30.0
# WebSocket close codes (RFC 6455 and the application range 4000-4999)
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_LATER = 1013
CLOSE_NOT_FOUND = 4404

STATIC = {"widget.js": "application/javascript; charset=utf-8", "chat.css": "text/css; charset=utf-8"}

#: the page only runs our script and style; images and media may come from anywhere the bot points to
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src http: https: data: blob:; "
    "media-src http: https: data: blob:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'"
)


@cache
def static_file(name: str) -> tuple[bytes, str]:
    """A file of static/ and its ETag, read once."""
    data = resources.files("channelgate.channels.webchat").joinpath("static", name).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


def build_routes(gateway: GatewayAPI) -> list[BaseRoute]:
    def find(label: str) -> WebChatChannel | None:
        channel = gateway.channel(WebChatChannel.name, label)
        return channel if isinstance(channel, WebChatChannel) else None

    async def page(request: Request) -> Response:
        label = request.path_params["label"]
        channel = find(label)
        if channel is None:
            return HTMLResponse(f"<h1>No web chat named {html.escape(label)}</h1>", status_code=404)
        return _page(channel)

    async def asset(request: Request) -> Response:
        label = request.path_params["label"]
        if find(label) is None:
            return Response(
                f"no web chat named {label}",
                404,
                {"X-Content-Type-Options": "nosniff"},
                media_type="text/plain",
            )
        name = request.url.path.rsplit("/", 1)[-1]
        data, etag = static_file(name)
        headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type=STATIC[name], headers=headers)

    async def socket(websocket: WebSocket) -> None:
        label = websocket.path_params["label"]
        channel = find(label)
        refusal = _refusal(gateway, channel, label, websocket)
        await websocket.accept()
        if refusal is not None or channel is None:
            code, reason = refusal or (CLOSE_NOT_FOUND, "no such web chat")
            await websocket.close(code, close_reason(reason))
            return
        address = address_key(websocket.client.host if websocket.client else None)
        too_many = channel.limiter.open(address)
        if too_many is not None:
            log.warning("webchat/%s: socket from %s refused: %s", label, address, too_many.reason)
            await websocket.close(CLOSE_TRY_LATER, close_reason(too_many.reason + "; try again later"))
            return
        try:
            await Session(gateway, channel, Connection(websocket), address).run()
        finally:
            channel.limiter.close(address)

    return [
        Route("/webchat/{label}", page, methods=["GET"]),
        Route("/webchat/{label}/widget.js", asset, methods=["GET"]),
        Route("/webchat/{label}/chat.css", asset, methods=["GET"]),
        WebSocketRoute("/webchat/{label}/ws", socket),
    ]


def _page(channel: WebChatChannel) -> Response:
    data, _ = static_file("chat.html")
    label = channel.ctx.label
    text = (
        data.decode()
        .replace("{{title}}", html.escape(channel.config.title))
        .replace("{{lang}}", html.escape(channel.ctx.locale.split("-")[0]))
        .replace("{{base}}", f"/webchat/{label}")
    )
    headers = {
        "Content-Security-Policy": PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Cache-Control": "no-cache",
    }
    return HTMLResponse(text, headers=headers)


def _refusal(
    gateway: GatewayAPI, channel: WebChatChannel | None, label: str, websocket: WebSocket
) -> tuple[int, str] | None:
    """Why this socket must be closed at once (a close code and reason), or None to serve it."""
    if channel is None:
        return CLOSE_NOT_FOUND, f"no web chat named {label}"
    origin = websocket.headers.get("origin")
    if not channel.origin_allowed(origin, websocket.headers.get("host")):
        log.warning("webchat/%s: socket from origin %s refused (not in allowed_origins)", label, origin)
        return CLOSE_POLICY, f"origin {origin} is not allowed to use this chat"
    if not gateway.accepting:
        return CLOSE_TRY_LATER, "the gateway is shutting down"
    return None


@dataclass
class Session:
    """One browser socket, from hello to close."""

    gateway: GatewayAPI
    channel: WebChatChannel
    connection: Connection
    #: the client address as the limits count it (limits.address_key)
    address: str = "unknown"
    user_id: str | None = None
    languages: tuple[str, ...] = ()
    bucket: Bucket = field(init=False)

    def __post_init__(self) -> None:
        self.bucket = self.channel.limiter.socket_bucket()

    @property
    def where(self) -> str:
        return f"webchat/{self.channel.ctx.label}"

    async def run(self) -> None:
        try:
            await self._loop()
        except (WebSocketDisconnect, ConnectionError):
            pass  # the browser went away; it reconnects and says hello again
        except Exception:
            log.exception("%s: socket session failed", self.where)
            await self.connection.close(1011, "internal error")
        finally:
            if self.user_id is not None:
                self.channel.hub.remove(self.user_id, self.connection)

    async def _loop(self) -> None:
        websocket = self.connection.websocket
        hello_by = time.monotonic() + HELLO_TIMEOUT  # a deadline: other frames do not extend it
        while True:
            timeout = max(hello_by - time.monotonic(), 0.0) if self.user_id is None else None
            try:
                async with asyncio.timeout(timeout):
                    message = await websocket.receive()
            except TimeoutError:
                await self.connection.close(CLOSE_POLICY, "no hello received")
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self._error("frames must be JSON text, not binary")
                continue
            if len(text) > MAX_FRAME_BYTES or len(text.encode()) > MAX_FRAME_BYTES:
                await self._error(f"frame over {MAX_FRAME_BYTES} bytes")
                await self.connection.close(CLOSE_TOO_BIG, f"frame over {MAX_FRAME_BYTES} bytes")
                return
            await self._frame(text)

    async def _frame(self, text: str) -> None:
        try:
            frame = parse_frame(text)
        except FrameError as exc:
            await self._error(exc.reason, exc.id)
            return
        if isinstance(frame, Hello):
            await self._hello(frame)
        elif self.user_id is None:
            await self._error("say hello first", frame.id)
        elif isinstance(frame, Received):
            self.channel.hub.confirm(self.user_id, frame.id)
        else:
            await self._input(frame, self.user_id)

    async def _hello(self, hello: Hello) -> None:
        if self.user_id is not None:
            await self._error("this socket already said hello")
            return
        channel = self.channel
        if channel.verify(hello.user_id, hello.token):
            assert hello.user_id is not None and hello.token is not None
            user_id, token = hello.user_id, hello.token
        else:
            user_id, token = channel.new_identity()
        self.languages = hello.languages
        welcome: dict[str, Any] = {
            "type": "welcome",
            "user_id": user_id,
            "token": token,
            "title": channel.config.title,
        }
        if channel.config.welcome:
            welcome["welcome"] = channel.config.welcome
        await self.connection.send(welcome)
        # registered after the welcome frame, so that no message can overtake it
        self.user_id = user_id
        channel.hub.add(user_id, self.connection)
        try:
            await self.gateway.nudge(channel, user_id)
        except Exception as exc:  # the poller sends them a little later anyway
            log.warning("%s: could not nudge waiting messages for %s: %s", self.where, user_id, exc)

    async def _input(self, frame: InputFrame, user_id: str) -> None:
        refusal = self.channel.limiter.take_input(self.address, self.bucket)
        if refusal is not None:
            await self._error(refusal.reason, frame.id, retry_after=refusal.retry_after)
            return
        event = InboundMessage(
            dedup_key=f"{user_id}:{frame.id}",
            user=User(id=user_id),
            input=frame.input,
            raw=frame.raw,
            platform_message_id=frame.id,
            locale_hint=self.languages[0] if self.languages else None,
            timestamp=time.time(),
        )
        try:
            await self.gateway.accept(self.channel, [event])
        except Exception as exc:  # Busy, or the store is down: the browser keeps the input and resends it
            retry_after = float(getattr(exc, "retry_after", 2.0))
            log.warning(
                "%s: input from %s not accepted (%s); the browser will resend it",
                self.where,
                user_id,
                type(exc).__name__,
            )
            await self._error("the gateway is busy; this message will be sent again", frame.id, retry_after)
            return
        await self.connection.send({"type": "ack", "id": frame.id})

    async def _error(self, reason: str, id: str | None = None, retry_after: float | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "reason": reason}
        if id is not None:
            frame["id"] = id
        if retry_after is not None:
            frame["retry_after"] = retry_after
        with contextlib.suppress(Exception):
            await self.connection.send(frame)
