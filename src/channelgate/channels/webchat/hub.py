"""The live sockets of one web chat integration in this process, and the receipts that prove delivery.

A user may have several tabs open, so a user id maps to a set of connections; a message goes to all of
them. ``send`` only reports success once a browser has said it stored the message (a ``received``
frame), because a WebSocket write that succeeded may still die in a kernel buffer when the tab closes:
without the receipt the outbox would mark a lost message as sent. A message sent twice is harmless, the
browser drops ids it already has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

from channelgate.channels.webchat.protocol import dumps

log = logging.getLogger("channelgate.channels.webchat")

#: a write that takes longer than this means the browser stopped reading; the socket is closed
WRITE_TIMEOUT = 10.0


def close_reason(text: str) -> str:
    """``text`` cut to the 123 bytes of UTF-8 a WebSocket close frame allows for its reason."""
    return text.encode()[:123].decode(errors="ignore")


class NotConnected(Exception):
    """The user has no live socket here, or none confirmed the message in time."""


class Connection:
    """One browser socket. Writes are serialised: the session and the delivery worker both write."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._lock = asyncio.Lock()
        self.closed = False

    async def send(self, frame: dict[str, Any]) -> None:
        text = dumps(frame)
        async with self._lock:
            if self.closed:
                raise ConnectionError("the socket is closed")
            try:
                async with asyncio.timeout(WRITE_TIMEOUT):
                    await self.websocket.send_text(text)
            except Exception as exc:
                self.closed = True
                raise ConnectionError(f"write failed: {type(exc).__name__}") from exc

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.websocket.close(code, close_reason(reason))


@dataclass
class _Receipt:
    user_id: str
    future: asyncio.Future[None]


@dataclass
class Hub:
    connections: dict[str, set[Connection]] = field(default_factory=dict)
    _receipts: dict[str, _Receipt] = field(default_factory=dict)

    def add(self, user_id: str, connection: Connection) -> None:
        self.connections.setdefault(user_id, set()).add(connection)

    def remove(self, user_id: str, connection: Connection) -> None:
        """Forget a socket; when it was the user's last, messages waiting for a receipt fail at once."""
        sockets = self.connections.get(user_id)
        if sockets is None:
            return
        sockets.discard(connection)
        if sockets:
            return
        del self.connections[user_id]
        for receipt in self._receipts.values():
            if receipt.user_id == user_id and not receipt.future.done():
                receipt.future.set_exception(NotConnected("the user disconnected before confirming"))

    def connected(self, user_id: str) -> bool:
        return bool(self.connections.get(user_id))

    def confirm(self, user_id: str, message_id: str) -> None:
        """A browser stored ``message_id``. Only the addressee's own sockets can confirm its messages."""
        receipt = self._receipts.get(message_id)
        if receipt is not None and receipt.user_id == user_id and not receipt.future.done():
            receipt.future.set_result(None)

    async def deliver(self, user_id: str, message_id: str, frame: dict[str, Any], wait: float) -> None:
        """Write ``frame`` to every socket of the user and wait for one of them to confirm it."""
        sockets = list(self.connections.get(user_id, ()))
        if not sockets:
            raise NotConnected("the user is not connected")
        receipt = self._receipts.get(message_id)
        if receipt is None or receipt.future.done():
            receipt = _Receipt(user_id, asyncio.get_running_loop().create_future())
            self._receipts[message_id] = receipt
        try:
            written = 0
            for connection in sockets:
                try:
                    await connection.send(frame)
                    written += 1
                except Exception as exc:
                    log.debug("webchat: write to a socket of %s failed: %s", user_id, exc)
                    self.remove(user_id, connection)
            if not written:
                raise NotConnected("the user is not connected")
            try:
                async with asyncio.timeout(wait):
                    await asyncio.shield(receipt.future)
            except TimeoutError:
                raise NotConnected(f"the browser did not confirm the message within {wait:g} s") from None
        finally:
            if self._receipts.get(message_id) is receipt:
                del self._receipts[message_id]
            if not receipt.future.done():
                receipt.future.cancel()
            elif not receipt.future.cancelled():
                receipt.future.exception()  # retrieved, so asyncio does not log it as never retrieved

    async def close_all(self, code: int, reason: str) -> None:
        for sockets in list(self.connections.values()):
            for connection in list(sockets):
                await connection.close(code, reason)
        self.connections.clear()
