"""Helpers for the web chat tests: a recording bot, the config, and a WebSocket client that speaks the
web chat protocol the way a browser does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from channelgate.bots.base import Bot
from channelgate.testing import ChannelHarness, RunningGateway
from channelgate.turns import LocationInput, PostbackInput, Reply, TextInput, Turn

FRAME_TIMEOUT = 5.0


class RecordingBot(Bot):
    """Answers each input in a recognisable way and records its turns. ``gate``, when set, holds every
    answer until it is opened, so a test can close the browser before the reply exists."""

    locales = ["en-US", "fr-FR"]

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.gate: asyncio.Event | None = None
        self.answer: list[Any] | None = None

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        if self.gate is not None:
            await self.gate.wait()
        if self.answer is not None:
            return Reply(messages=self.answer)
        data = turn.input
        if isinstance(data, TextInput):
            text = f"echo: {data.text}"
        elif isinstance(data, PostbackInput):
            text = f"picked: {data.title or data.payload}"
        elif isinstance(data, LocationInput):
            text = f"at {data.latitude}, {data.longitude}"
        else:
            text = f"got {data.type}"
        return Reply(messages=[{"type": "text", "text": text}])


#: a user who is away waits for the socket, not for a retry schedule: many attempts, a long backoff
PIPELINE = {"poll_interval": 0.05, "max_backoff": 30.0, "send_attempts": 50}
#: what a web chat test talks to: the harness (conftest's ``gw``) or a gateway of its own (run_gateway)
Served = RunningGateway | ChannelHarness


def webchat_config(**integration: Any) -> dict[str, Any]:
    return {
        "pipeline": PIPELINE,
        "integrations": [{"channel": "webchat", "label": "site", "locale": "en-US", **integration}],
    }


def socket_url(gw: Served, label: str = "site") -> str:
    return gw.url.replace("http://", "ws://") + f"/webchat/{label}/ws"


class ChatClient:
    """One browser tab: frames in and out, with the receipts a browser sends for each message."""

    def __init__(self, ws: ClientConnection, confirm: bool = True) -> None:
        self.ws = ws
        self.confirm = confirm
        self.user_id: str | None = None
        self.token: str | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    async def recv(self) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), FRAME_TIMEOUT)
        frame: dict[str, Any] = orjson.loads(raw)
        if frame.get("type") == "message" and self.confirm:
            await self.send({"type": "received", "id": frame["id"]})
        return frame

    async def expect(self, kind: str) -> dict[str, Any]:
        """The next frame, which must be of type ``kind``."""
        frame = await self.recv()
        assert frame["type"] == kind, frame
        return frame

    async def hello(
        self, user_id: str | None = None, token: str | None = None, languages: list[str] | None = None
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "hello", "languages": languages or ["en-US"]}
        if user_id is not None:
            frame["user_id"] = user_id
        if token is not None:
            frame["token"] = token
        await self.send(frame)
        welcome = await self.expect("welcome")
        self.user_id, self.token = welcome["user_id"], welcome["token"]
        return welcome

    async def say(self, text: str, id: str | None = None) -> str:
        id = id or str(uuid.uuid4())
        await self.send({"type": "text", "id": id, "text": text})
        return id

    async def message(self) -> dict[str, Any]:
        """The next bot message's universal JSON (skipping acks)."""
        while True:
            frame = await self.recv()
            if frame["type"] == "message":
                message: dict[str, Any] = frame["message"]
                return message
            assert frame["type"] == "ack", frame


@asynccontextmanager
async def chat(
    gw: Served, *, label: str = "site", origin: str | None = None, confirm: bool = True
) -> AsyncIterator[ChatClient]:
    async with connect(socket_url(gw, label), origin=origin, proxy=None) as ws:  # type: ignore[arg-type]
        yield ChatClient(ws, confirm)
