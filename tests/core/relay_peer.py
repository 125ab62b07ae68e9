"""The far side of the example relay channel: a service that signs webhooks and receives sends."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx
import orjson
from channelgate_relay import sign
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SECRET = "relay-secret"


class RelayPeer:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.repeats = 0  # sends whose id was seen before (a retry after a crash), answered but not kept
        #: when each send arrived (time.monotonic()), repeats and refused ones included: what the platform's
        #: rate limit counts
        self.arrivals: list[float] = []
        self._seen: dict[str, str] = {}
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.delay = 0.0
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self.app = Starlette(routes=[Route("/send", self.send, methods=["POST"])])

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        self.failures.extend([(status, headers or {})] * times)

    async def send(self, request: Request) -> Response:
        self.arrivals.append(time.monotonic())
        body = await request.body()
        if request.headers.get("x-relay-signature") != sign(SECRET, body):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            status, headers = self.failures.pop(0)
            return JSONResponse({"error": "injected"}, status_code=status, headers=headers)
        data = orjson.loads(body)
        if data["id"] in self._seen:
            self.repeats += 1
            return JSONResponse({"message_id": self._seen[data["id"]]})
        self._seen[data["id"]] = message_id = f"m-{next(self._ids)}"
        data.pop("id")
        self.received.append(data)
        self._arrived.set()
        return JSONResponse({"message_id": message_id})

    def texts(self, user: str | None = None) -> list[str]:
        return [
            r["message"].get("text", r["message"]["type"])
            for r in self.received
            if user is None or r["to"] == user
        ]

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async def enough() -> None:
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(enough(), timeout)


def event(event_id: str, user: str, text: str | None = None, **extra: Any) -> bytes:
    item: dict[str, Any] = {"id": event_id, "user": {"id": user}, **extra}
    if text is not None:
        item["text"] = text
    return orjson.dumps(item)


async def deliver(client: httpx.AsyncClient, url: str, body: bytes, secret: str = SECRET) -> httpx.Response:
    return await client.post(
        url,
        content=body,
        headers={"x-relay-signature": sign(secret, body), "content-type": "application/json"},
    )
