"""A web chat user of the fleet's kill test: a numbered sequence of messages over a socket on one replica
at a time, as the widget sends them (each kept until its ``ack`` and sent again with the same id after a
reconnect), and the replies as the widget keeps them (deduplicated by message id, in arrival order).

When its replica dies the socket drops: the user says ``hello`` again with the same identity on whichever
replica answers, and resends what was not acknowledged; the messages that waited meanwhile come out on
the new socket (the hello makes them due at once, docs/channels/webchat.md "Delivery")."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.webchat.chatkit import ChatClient

#: seconds to wait for an input's ack on a socket that stays open before taking it for a dead one
ACK_TIMEOUT = 20.0
#: seconds a user may take to find a replica that accepts its socket (one is being restarted)
RECONNECT_DEADLINE = 60.0
#: what the socket's reader hands the sender when the socket is gone
CLOSED: dict[str, Any] = {"type": "closed"}


class WebChatUser:
    """One browser: ``run`` sends ``w{n} m{k}`` for each k; ``replies`` holds the texts answered."""

    def __init__(self, n: int, urls: dict[str, str], rng: random.Random, label: str = "site") -> None:
        self.name = f"w{n}"
        self.sockets = {
            name: url.replace("http://", "ws://") + f"/webchat/{label}/ws" for name, url in urls.items()
        }
        self.rng = rng
        self.acked: list[int] = []
        self.replies: list[str] = []  # the texts of the distinct messages, in the order they arrived
        self.reconnects = 0  # after a dropped socket (not counting moves the test asks for)
        self.retried = 0  # inputs sent again: after a reconnect, or when an error said to retry
        self.replica: str | None = None
        self._seen: set[str] = set()
        self._client: ChatClient | None = None
        self._reader: asyncio.Task[None] | None = None
        self._frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._user_id: str | None = None
        self._token: str | None = None

    def text(self, k: int) -> str:
        return f"{self.name} m{k}"

    async def connect(self, order: Sequence[str]) -> None:
        """A socket on the first replica of ``order`` that takes it and says ``welcome`` (retried until
        one does), with the identity kept from the first welcome."""
        await self.close()
        deadline = time.monotonic() + RECONNECT_DEADLINE
        while True:
            for name in order:
                with contextlib.suppress(OSError, ConnectionClosed, TimeoutError):
                    ws = await connect(self.sockets[name], proxy=None, open_timeout=5)
                    client = ChatClient(ws)
                    try:
                        welcome = await client.hello(self._user_id, self._token)
                    except BaseException:
                        await ws.close()
                        raise
                    if self._user_id is not None:
                        assert welcome["user_id"] == self._user_id, f"{self.name} lost its identity"
                    self._user_id, self._token = welcome["user_id"], welcome["token"]
                    self._client, self.replica = client, name
                    self._frames = asyncio.Queue()
                    self._reader = asyncio.create_task(self._read(client, self._frames))
                    return
            assert time.monotonic() < deadline, f"{self.name} found no replica to connect to"
            await asyncio.sleep(0.1)

    async def _read(self, client: ChatClient, frames: asyncio.Queue[dict[str, Any]]) -> None:
        """Every frame of one socket: messages are kept (``recv`` sends their receipt), the rest go to
        the sender; ``CLOSED`` once the socket is gone."""
        try:
            while True:
                try:
                    frame = await client.recv()
                except TimeoutError:
                    continue  # a quiet socket
                if frame["type"] == "message":
                    if frame["id"] not in self._seen:  # sent again when a receipt did not arrive
                        self._seen.add(frame["id"])
                        self.replies.append(frame["message"]["text"])
                else:
                    frames.put_nowait(frame)
        except (ConnectionClosed, OSError):
            frames.put_nowait(CLOSED)

    async def _ack(self, id: str) -> float | None:
        """Wait for the outcome of input ``id``: None once acknowledged, else the seconds to wait before
        sending it again (on a new socket when this one is gone)."""
        while True:
            try:
                frame = await asyncio.wait_for(self._frames.get(), ACK_TIMEOUT)
            except TimeoutError:
                return -1.0
            if frame is CLOSED:
                return -1.0
            if frame.get("id") != id:
                continue  # the ack of an input sent again, acknowledged twice
            if frame["type"] == "ack":
                return None
            assert frame["type"] == "error" and "retry_after" in frame, frame  # refused for good: a bug
            return float(frame["retry_after"])

    async def send_all(self, count: int, halfway: asyncio.Event | None = None, at: int = 0) -> None:
        """Messages 0..count-1, each once its predecessor was acknowledged. At message ``at`` the user
        waits for ``halfway`` and then moves to a replica at random (a reload, landing anywhere)."""
        assert self.replica is not None, "connect first"
        for k in range(count):
            if halfway is not None and k == at:
                await halfway.wait()
                await self.connect(self.rng.sample(sorted(self.sockets), len(self.sockets)))
            id = f"{self.name}-m{k}"
            deadline = time.monotonic() + 60
            while True:
                assert time.monotonic() < deadline, f"{self.name} m{k} never acknowledged"
                assert self._client is not None
                try:
                    await self._client.say(self.text(k), id)
                    wait = await self._ack(id)
                except (ConnectionClosed, OSError):
                    wait = -1.0
                if wait is None:
                    break
                self.retried += 1
                if wait < 0:  # the socket is gone (its replica died): the other one first
                    self.reconnects += 1
                    others = [name for name in sorted(self.sockets) if name != self.replica]
                    await self.connect([*others, self.replica or others[0]])
                else:
                    await asyncio.sleep(wait)
            self.acked.append(k)
            await asyncio.sleep(self.rng.uniform(0.02, 0.1))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._client is not None:
            await self._client.ws.close()
            self._client = None


async def all_answered(users: Sequence[WebChatUser], count: int, timeout: float) -> None:
    """Wait until every user holds ``count`` replies (the check of their content comes after)."""
    deadline = time.monotonic() + timeout
    while any(len(user.replies) < count for user in users):
        missing = {user.name: count - len(user.replies) for user in users if len(user.replies) < count}
        assert time.monotonic() < deadline, f"web chat replies missing: {missing}"
        await asyncio.sleep(0.05)
