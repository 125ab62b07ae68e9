"""The in-process hub: fan-out to a user's tabs, receipts only from the addressee, failures typed."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
import pytest
from starlette.websockets import WebSocket

from channelgate.channels.webchat.hub import Connection, Hub, NotConnected, close_reason


class FakeSocket:
    """Records what is written; ``broken`` makes writes fail like a socket whose peer went away."""

    def __init__(self, broken: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.broken = broken

    async def send_text(self, text: str) -> None:
        if self.broken:
            raise RuntimeError("peer gone")
        self.sent.append(orjson.loads(text))


def connect(hub: Hub, user_id: str, broken: bool = False) -> tuple[Connection, FakeSocket]:
    socket = FakeSocket(broken)
    connection = Connection(cast(WebSocket, socket))
    hub.add(user_id, connection)
    return connection, socket


FRAME = {"type": "message", "id": "m1", "message": {"type": "text", "text": "hi"}}


async def test_message_reaches_every_tab_and_one_receipt_is_enough() -> None:
    hub = Hub()
    _, tab1 = connect(hub, "alice")
    _, tab2 = connect(hub, "alice")
    delivery = asyncio.create_task(hub.deliver("alice", "m1", FRAME, 5))
    while not tab2.sent:
        await asyncio.sleep(0)
    hub.confirm("alice", "m1")
    await delivery
    assert tab1.sent == tab2.sent == [FRAME]


async def test_another_users_receipt_does_not_count() -> None:
    hub = Hub()
    connect(hub, "alice")
    connect(hub, "mallory")
    delivery = asyncio.create_task(hub.deliver("alice", "m1", FRAME, 0.2))
    await asyncio.sleep(0)
    hub.confirm("mallory", "m1")
    with pytest.raises(NotConnected, match="did not confirm"):
        await delivery


async def test_user_without_sockets_is_not_connected() -> None:
    with pytest.raises(NotConnected, match="not connected"):
        await Hub().deliver("alice", "m1", FRAME, 5)


async def test_broken_socket_is_dropped_and_counts_as_not_connected() -> None:
    hub = Hub()
    connect(hub, "alice", broken=True)
    with pytest.raises(NotConnected, match="not connected"):
        await hub.deliver("alice", "m1", FRAME, 5)
    assert not hub.connected("alice")


async def test_last_tab_closing_fails_the_wait_at_once() -> None:
    hub = Hub()
    connection, socket = connect(hub, "alice")
    delivery = asyncio.create_task(hub.deliver("alice", "m1", FRAME, 30))
    while not socket.sent:
        await asyncio.sleep(0)
    hub.remove("alice", connection)
    with pytest.raises(NotConnected, match="disconnected"):
        await asyncio.wait_for(delivery, 1)


def test_close_reason_fits_a_close_frame() -> None:
    reason = close_reason("origin https://é.example " + "é" * 100)
    assert len(reason.encode()) <= 123 and reason.startswith("origin https://é")
