"""Run an ASGI app on a loopback port inside the current event loop (for simulators and tests), and
:class:`FakePlatform`, the smallest such app: a platform API that records what a channel sends."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago: for a server in another process, or an address nothing serves.

    Another process may take it before it is used; a server in this process should be given a
    :func:`listening_socket` instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def listening_socket(host: str = "127.0.0.1") -> socket.socket:
    """A socket bound to a free port and already listening, for :func:`serve_app`.

    Holding the bound socket from the start closes the race of picking a free port and binding it later,
    which tests running in parallel (or anything else on the machine) lose now and then."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@asynccontextmanager
async def serve_app(
    app: Any,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    sock: socket.socket | None = None,
    **options: Any,
) -> AsyncIterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``).

    Without ``port`` or ``sock`` the app gets a socket of its own on a free port. ``options`` go to
    ``uvicorn.Config`` (a gateway's are web.serving.server_options)."""
    if sock is None and port is None:
        sock = listening_socket(host)
    if sock is not None:
        host, port = sock.getsockname()[:2]
    assert port is not None
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        # an open WebSocket (a browser page still on it) must not hold the shutdown forever
        timeout_graceful_shutdown=5,
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock] if sock is not None else None))
    while not server.started:
        if task.done():
            task.result()  # raises the startup error
            raise RuntimeError("server stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        if sock is not None:
            sock.close()


@dataclass(frozen=True, slots=True)
class Received:
    """One request a :class:`FakePlatform` received: what a channel's ``send`` put on the wire."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


#: how a fake platform answers one request: (status, JSON body[, headers]); the default answers
#: ``200 {"id": "m-<n>"}``
Answer = Callable[[Received], Awaitable[tuple[Any, ...]] | tuple[Any, ...]]


class FakePlatform:
    """A platform API that records every request and answers what the test scripted.

    Serve it with ``async with serve_app(platform.app) as url`` (or hand it to ``ChannelHarness``, which
    does). ``answer`` decides the answer to each request (a callable, sync or async, returning
    ``(status, json)`` or ``(status, json, headers)``); :meth:`fail_next` queues failures in front of it, so
    a test can make the next send throttled or refused and watch the gateway retry.
    """

    def __init__(self, answer: Answer | None = None) -> None:
        #: the requests answered with a success, in order: what reached the platform
        self.requests: list[Received] = []
        #: every request with the status it got, failures included
        self.attempts: list[tuple[Received, int]] = []
        self.answer = answer
        self._failures: list[tuple[int, Any, dict[str, str]]] = []
        self._ids = itertools.count(1)
        self._arrived = asyncio.Condition()
        self.app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
        )

    def fail_next(
        self, status: int, times: int = 1, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (and ``body``), then as scripted again."""
        body = body if body is not None else {"error": "injected"}
        self._failures += [(status, body, dict(headers or {}))] * times

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:  # noqa: ASYNC109
        """The first ``count`` requests once they have arrived; AssertionError after ``timeout`` seconds."""

        async def enough() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.requests) >= count)

        try:
            async with asyncio.timeout(timeout):
                await enough()
        except TimeoutError:
            raise AssertionError(
                f"the fake platform received {len(self.requests)} request(s) within {timeout}s, not {count}"
            ) from None
        return self.requests[:count]

    def bodies(self) -> list[Any]:
        """The JSON body of every request so far, in order."""
        return [request.json() for request in self.requests]

    async def _handle(self, request: Request) -> Response:
        received = Received(
            method=request.method,
            path="/" + request.path_params["path"],
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            body=await request.body(),
        )
        if self._failures:
            status, body, headers = self._failures.pop(0)
        elif self.answer is not None:
            result = self.answer(received)
            if inspect.isawaitable(result):
                result = await result
            status, body, headers = result if len(result) == 3 else (*result, {})
        else:
            status, body, headers = 200, {"id": f"m-{next(self._ids)}"}, {}
        self.attempts.append((received, status))
        if 200 <= status < 300:
            async with self._arrived:
                self.requests.append(received)
                self._arrived.notify_all()
        return JSONResponse(body, status_code=status, headers=headers)
