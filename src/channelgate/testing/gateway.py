"""Run a whole gateway in-process on a loopback port, for end-to-end tests of bots and channels.

async with run_gateway({"bot": "demo", "integrations": [...]}) as gw:
    await sim.deliver(gw.webhook_url("messenger", "shop"), payload)
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from channelgate.bots.base import Bot
from channelgate.channels.registry import ChannelRegistry, load_registry
from channelgate.config import parse_config
from channelgate.gateway import Gateway
from channelgate.testing.server import listening_socket, serve_app
from channelgate.web.app import create_app
from channelgate.web.serving import server_options


@dataclass
class RunningGateway:
    url: str
    gateway: Gateway

    def webhook_url(self, channel: str, label: str) -> str:
        return f"{self.url}/webhooks/{channel}/{label}"

    @property
    def store(self) -> Any:
        return self.gateway.store


@asynccontextmanager
async def run_gateway(
    config: dict[str, Any],
    *,
    bot: Bot | None = None,
    registry: ChannelRegistry | None = None,
) -> AsyncIterator[RunningGateway]:
    """Start a gateway from a config mapping (as the YAML file would hold) and serve it on loopback.

    ``store`` defaults to a SQLite file in a temporary folder, removed afterwards: a file, not
    ``:memory:``, because only a file store takes the production path (the writer thread with group
    commit, WAL, a second connection for reads). Pass ``bot`` to use a bot object directly."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    config = dict(config)
    config.setdefault("public_url", f"http://127.0.0.1:{port}")
    registry = registry or load_registry()
    with tempfile.TemporaryDirectory(prefix="channelgate-test-") as folder:
        config.setdefault("store", f"sqlite:///{folder}/store.db")
        gateway = Gateway(parse_config(config, registry, "test config"), registry, bot=bot)
        app = create_app(gateway)
        async with serve_app(app, sock=sock, **server_options(gateway.settings)) as url:
            yield RunningGateway(url, gateway)


async def wait_until(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 5.0,  # noqa: ASYNC109 - a test helper's deadline, not a cancellation scope
    interval: float = 0.02,
) -> None:
    """Wait for ``check`` to hold; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
