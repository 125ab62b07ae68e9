"""Run an ASGI app on a loopback port inside the current event loop (for simulators and tests)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


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
