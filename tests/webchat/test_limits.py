"""Web chat limits at the wire: frames over 64 KiB refused by the WebSocket protocol (and what that saves in
memory on ``channelgate serve``), sockets and inputs per client address and per integration, and which
address counts behind a proxy."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect

from channelgate.channels.registry import load_registry
from channelgate.channels.webchat.limits import Limiter, WebChatLimits, address_key
from channelgate.config import ConfigError, parse_config
from channelgate.shares import Shares
from channelgate.testing.gateway import run_gateway, wait_until
from channelgate.testing.server import free_port

from .chatkit import ChatClient, RecordingBot, Served, socket_url, webchat_config
from .test_protocol import channel_of, close_code

# --- a WebSocket client that writes frames by hand ----------------------------------------------------------


async def raw_socket(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket handshake over a plain TCP connection, so a test can send a frame's header alone."""
    host_port, _, path = url.removeprefix("ws://").partition("/")
    host, _, port = host_port.partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    writer.write(
        f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


def text_frame_header(length: int) -> bytes:
    """FIN + text opcode, masked (as clients must), with a 64-bit length, and the mask key."""
    return bytes([0x81, 0x80 | 127]) + struct.pack("!Q", length) + secrets.token_bytes(4)


async def server_close(reader: asyncio.StreamReader, timeout: float = 5.0) -> int:
    """Read server frames until a close frame; its code."""
    while True:
        first, second = await asyncio.wait_for(reader.readexactly(2), timeout)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if first & 0x0F == 0x8:
            return int(struct.unpack("!H", payload[:2])[0])


# --- frame size ---------------------------------------------------------------------------------------------


async def test_oversize_frame_is_refused_before_its_payload_arrives(gw: Served, bot: RecordingBot) -> None:
    """The header announces 1 MiB and only 1 KiB follows: an app-level check would still be waiting for the
    rest; the protocol closes at once with 1009."""
    reader, writer = await raw_socket(socket_url(gw))
    try:
        writer.write(text_frame_header(1024 * 1024) + b"x" * 1024)
        await writer.drain()
        assert await server_close(reader) == 1009
    finally:
        writer.close()
    assert bot.turns == []


@asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    """``channelgate serve`` in its own process (the real CLI path): its base URL and pid."""
    port = free_port()
    config = {
        "public_url": f"http://127.0.0.1:{port}",
        "port": port,
        "store": f"sqlite:///{tmp_path}/serve.db",
        "bot": "demo",
        "integrations": [{"channel": "webchat", "label": "site", "locale": "en-US"}],
    }
    path = tmp_path / "channelgate.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "channelgate", "serve", "--config", str(path)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, process.stderr.read() if process.stderr else b""
                try:
                    if (await client.get(url + "/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "channelgate serve did not start"
                await asyncio.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def flood_one(url: str, size: int) -> int:
    """Announce a ``size``-byte frame and stream its payload until the server closes; its close code."""
    reader, writer = await raw_socket(url)
    closing = asyncio.create_task(server_close(reader, timeout=60))
    chunk = b"x" * 65536
    try:
        writer.write(text_frame_header(size))
        await writer.drain()
        # a server that refuses by the header closes now; stop writing then, or its reset may swallow the
        # close frame. A server that buffers says nothing, and gets the whole payload.
        await asyncio.wait([closing], timeout=1.0)
        for _ in range(size // len(chunk)):
            if closing.done():
                break
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass  # the server closed while we were still writing
    try:
        return await closing
    finally:
        writer.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read the server's RSS")
async def test_serve_refuses_16_mib_frames_without_growing(tmp_path: Path) -> None:
    """Eight sockets each sending a 16 MiB frame to ``channelgate serve``: closed with 1009, and the server's
    RSS stays flat (uvicorn's default would buffer each frame: +149 MiB measured before)."""
    async with served(tmp_path) as (url, pid):
        ws_url = url.replace("http://", "ws://") + "/webchat/site/ws"
        async with connect(ws_url, proxy=None) as warm:  # a first socket session, so imports are done
            client = ChatClient(warm)
            await client.hello()
        before = rss_mib(pid)
        codes = await asyncio.gather(*(flood_one(ws_url, 16 * 1024 * 1024 - 1) for _ in range(8)))
        after = rss_mib(pid)
    assert after - before < 20, f"RSS grew {after - before:.1f} MiB ({before:.1f} -> {after:.1f})"
    assert codes == [1009] * 8


# --- per address and per integration ---------------------------------------------------------------------


@asynccontextmanager
async def browsers(
    gw: Served, count: int, forwarded_for: str | None = None
) -> AsyncIterator[list[ChatClient]]:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    sockets: list[ClientConnection] = []
    try:
        for _ in range(count):
            sockets.append(await connect(socket_url(gw), proxy=None, additional_headers=headers))
        yield [ChatClient(ws) for ws in sockets]
    finally:
        for ws in sockets:
            await ws.close()


async def outcomes(client: ChatClient, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The ack or error frame of each input id (messages and other frames skipped)."""
    found: dict[str, dict[str, Any]] = {}
    while len(found) < len(ids):
        frame = await client.recv()
        if frame["type"] in ("ack", "error") and frame.get("id") in ids:
            found[frame["id"]] = frame
    return found


async def test_ten_identities_from_one_address_share_its_allowance(tmp_path: Any) -> None:
    """Ten fresh identities from one client each send 20 inputs at once: the address's burst (20) is all
    that gets through, not 10 x 20; the rest get the documented error with a retry hint."""
    bot = RecordingBot()
    config = {**webchat_config(), "store": f"sqlite:///{tmp_path}/limits.db"}
    async with run_gateway(config, bot=bot) as gw, browsers(gw, 10) as clients:
        for client in clients:
            await client.hello()  # each gets its own new identity
        assert len({c.user_id for c in clients}) == 10
        sent: dict[int, set[str]] = {}
        started = time.monotonic()
        for n, client in enumerate(clients):
            sent[n] = {await client.say(f"m{i}", f"c{n}-{i}") for i in range(20)}
        results = [await outcomes(client, sent[n]) for n, client in enumerate(clients)]
        elapsed = time.monotonic() - started
    frames = [frame for result in results for frame in result.values()]
    acks = [f for f in frames if f["type"] == "ack"]
    errors = [f for f in frames if f["type"] == "error"]
    assert 20 <= len(acks) <= 20 + 5 * elapsed + 1  # the burst, and what 5/s refilled meanwhile
    assert len(errors) == 200 - len(acks)
    assert all(e["reason"] == "too many messages from your address; wait a moment" for e in errors)
    assert all(e["retry_after"] > 0 for e in errors)
    await wait_until(lambda: len(bot.turns) == len(acks))


async def test_sockets_per_address_are_limited_and_given_back(tmp_path: Any) -> None:
    config = {
        **webchat_config(limits={"sockets_per_address": 2}),
        "store": f"sqlite:///{tmp_path}/limits.db",
    }
    async with run_gateway(config, bot=RecordingBot()) as gw:
        async with browsers(gw, 2) as clients:
            for client in clients:
                await client.hello()
            async with browsers(gw, 1) as (third,):
                code, reason = await close_code(third.ws)
            assert code == 1013 and "from your address" in reason and "try again later" in reason
        await wait_until(lambda: channel_of(gw).limiter.sockets == 0)
        async with browsers(gw, 1) as (again,):
            await again.hello()  # the closed sockets were given back


async def test_integration_limits_count_every_address(tmp_path: Any) -> None:
    """Behind a trusted proxy each X-Forwarded-For address is a client of its own; the integration's own
    limits still hold for all of them together."""
    config = {
        **webchat_config(limits={"sockets": 3, "input_burst": 3, "inputs": 0.01}),
        "store": f"sqlite:///{tmp_path}/limits.db",
        "trusted_proxies": ["127.0.0.1"],
    }
    async with run_gateway(config, bot=RecordingBot()) as gw:
        clients: list[ChatClient] = []
        async with (
            browsers(gw, 1, "203.0.113.1") as a,
            browsers(gw, 1, "203.0.113.2") as b,
            browsers(gw, 1, "203.0.113.3") as c,
        ):
            clients = a + b + c
            for client in clients:
                await client.hello()
            async with browsers(gw, 1, "203.0.113.4") as (fourth,):
                code, reason = await close_code(fourth.ws)
            assert code == 1013 and "too many visitors" in reason
            frames = []
            for n, client in enumerate(clients):
                ids = {await client.say("hi", f"a{n}-{i}") for i in range(2)}
                frames += list((await outcomes(client, ids)).values())
        assert channel_of(gw).limiter.addresses == 4
    assert sum(f["type"] == "ack" for f in frames) == 3
    busy = [f for f in frames if f["type"] == "error"]
    assert len(busy) == 3 and all(f["reason"] == "this chat is very busy; wait a moment" for f in busy)


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path: Any) -> None:
    config = {
        **webchat_config(limits={"sockets_per_address": 1}),
        "store": f"sqlite:///{tmp_path}/limits.db",
    }
    async with (
        run_gateway(config, bot=RecordingBot()) as gw,
        browsers(gw, 1, "198.51.100.1") as (first,),
        browsers(gw, 1, "198.51.100.2") as (second,),
    ):
        await first.hello()
        code, reason = await close_code(second.ws)  # both are 127.0.0.1: the header is not believed
    assert code == 1013 and "from your address" in reason


# --- units -----------------------------------------------------------------------------------------------


def test_address_key_counts_ipv6_by_its_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key(None) == "unknown"


def test_idle_addresses_are_forgotten_but_not_before_their_allowance_is_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    limiter = Limiter(WebChatLimits(input_burst_per_address=2, inputs_per_address=1.0))
    socket = limiter.socket_bucket()
    assert limiter.open("192.0.2.1") is None
    assert limiter.take_input("192.0.2.1", socket) is None
    assert limiter.take_input("192.0.2.1", socket) is None
    refusal = limiter.take_input("192.0.2.1", socket)
    assert refusal is not None and refusal.retry_after == 1.0
    limiter.close("192.0.2.1")
    # reconnecting does not hand out a new burst
    assert limiter.open("192.0.2.1") is None
    assert limiter.take_input("192.0.2.1", limiter.socket_bucket()) is not None
    limiter.close("192.0.2.1")
    clock[0] += 61.0  # the sweep runs at the next open: the idle, refilled address is dropped
    assert limiter.open("192.0.2.9") is None
    assert limiter.addresses == 1


class Half(Shares):
    """The share of one of two replicas (shares.py), or of one not yet admitted (``fraction = 0``)."""

    def __init__(self) -> None:
        self.value = 0.5

    def fraction(self) -> float:
        return self.value


def test_each_replica_enforces_its_share_of_the_address_and_integration_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    share = Half()
    limits = WebChatLimits(sockets_per_address=4, input_burst_per_address=6, inputs_per_address=2.0)
    limiter = Limiter(limits, share)
    opened = [limiter.open("192.0.2.1") for _ in range(3)]
    assert opened[:2] == [None, None] and opened[2] is not None  # 2 of the address's 4 sockets
    assert limiter.sockets == 2
    taken = 0
    while limiter.take_input("192.0.2.1", limiter.socket_bucket()) is None:
        taken += 1
    assert taken == 3  # half the burst of 6; the other replica holds the other half
    clock[0] += 1.0
    # a second later: one more input, the address's rate being 1 a second here (half of 2)
    assert limiter.take_input("192.0.2.1", limiter.socket_bucket()) is None
    assert limiter.take_input("192.0.2.1", limiter.socket_bucket()) is not None
    share.value = 0.0  # cut off from the fleet: nothing is accepted until admitted again
    refusal = limiter.open("192.0.2.2")
    assert refusal is not None and "not ready" in refusal.reason
    assert limiter.take_input("192.0.2.1", limiter.socket_bucket()) is not None


def test_limits_are_checked_in_the_config() -> None:
    registry = load_registry()
    with pytest.raises(ConfigError, match="sockets_per_addres"):
        parse_config(webchat_config(limits={"sockets_per_addres": 5}), registry, "test config")
    with pytest.raises(ConfigError, match="trusted_proxies"):
        parse_config({**webchat_config(), "trusted_proxies": ["proxy.example"]}, registry, "test config")
    with pytest.raises(ValidationError):
        WebChatLimits(inputs=0)
    parsed = parse_config({**webchat_config(), "trusted_proxies": ["10.0.0.0/8"]}, registry, "test config")
    assert parsed.settings.trusted_proxies == ["10.0.0.0/8"]
