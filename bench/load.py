"""Load generators: a minimal HTTP/1.1 keep-alive client on asyncio streams for open-loop runs at a fixed
rate (latency measured from each request's scheduled time, so a slow server cannot hide its queue), and a
driver for ``wrk`` with a Lua script for closed-loop runs.

The asyncio client is hand-written rather than httpx because at 500-2,000 requests/s httpx's own CPU cost
would be measured instead of the server's: both share this machine's cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(slots=True)
class Result:
    scheduled: float  # wall clock (time.time()) at which the request was due
    latency: float  # seconds from due time to the full response
    status: int
    retry_after: str | None
    body: bytes


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = b""
    return status, headers, body


@dataclass
class Pool:
    host: str
    port: int
    max_connections: int = 512
    _idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    _open: int = 0

    async def request(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            self._open += 1
            reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(raw)
            result = await _read_response(reader)
        except Exception:
            self._open -= 1
            writer.close()
            raise
        if result[1].get("connection", "").lower() == "close":
            self._open -= 1
            writer.close()
        else:
            self._idle.append((reader, writer))
        return result

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def open_loop(
    host: str,
    port: int,
    requests: list[bytes],
    rate: float,
    request_timeout: float = 10.0,
    connections: int = 512,
) -> list[Result]:
    """Send ``requests`` at ``rate`` per second, whatever the server's pace (open loop), on at most
    ``connections`` connections; a request unanswered after ``request_timeout`` seconds counts as status 0."""
    pool = Pool(host, port)
    slots = asyncio.Semaphore(connections)
    loop = asyncio.get_running_loop()
    results: list[Result] = []
    start_mono = loop.time() + 0.05
    start_wall = time.time() + 0.05

    async def one(i: int, raw: bytes) -> None:
        due = start_mono + i / rate
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            async with slots:
                status, headers, body = await asyncio.wait_for(pool.request(raw), request_timeout)
        except Exception:  # refused, reset or timed out: counted as status 0
            status, headers, body = 0, {}, b""
        results.append(
            Result(start_wall + i / rate, loop.time() - due, status, headers.get("retry-after"), body)
        )

    await asyncio.gather(*(one(i, raw) for i, raw in enumerate(requests)))
    pool.close()
    return results


@dataclass
class WrkResult:
    """``rps``: acknowledged (2xx) requests per second; refusals (503 under backpressure) are in ``codes``
    and ``requests`` but never counted as acknowledged."""

    requests: int
    seconds: float
    rps: float
    codes: dict[int, int]
    retry_after: int
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(url: str, lines: list[str], seconds: float, connections: int, threads: int = 2) -> WrkResult:
    """Closed loop: ``connections`` connections each send the next request as soon as the last is answered.
    ``lines`` are ``"<signature header>\\t<value>\\t<body>"``, handed out round-robin (never repeated when
    there are enough)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    try:
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(HERE / "wrk.lua"),
            url,
            "--",
            path,
            str(threads),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(path)
    data = None
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line[len("BENCH_JSON ") :])
    if data is None:
        raise RuntimeError(f"wrk gave no result:\n{out}")
    codes = {int(k): int(v) for k, v in data["codes"].items()}
    total = sum(codes.values())
    secs = data["duration_us"] / 1e6
    return WrkResult(
        requests=total,
        seconds=secs,
        rps=acknowledged(codes) / secs if secs else 0.0,
        codes=codes,
        retry_after=int(data["retry_after"]),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors={k: int(v) for k, v in data["errors"].items()},
    )


async def closed_loop_asyncio(
    host: str, port: int, requests: list[bytes], seconds: float, connections: int
) -> WrkResult:
    """The fallback when wrk is missing: the same closed loop from asyncio (it costs more CPU)."""
    pool = Pool(host, port)
    codes: dict[int, int] = {}
    retry_after = 0
    latencies: list[float] = []
    it = iter(requests)
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    start = loop.time()

    async def worker() -> None:
        nonlocal retry_after
        for raw in it:
            if loop.time() >= end:
                return
            t = loop.time()
            status, headers, _ = await pool.request(raw)
            latencies.append(loop.time() - t)
            codes[status] = codes.get(status, 0) + 1
            if status != 200 and "retry-after" in headers:
                retry_after += 1

    await asyncio.gather(*(worker() for _ in range(connections)))
    pool.close()
    secs = loop.time() - start
    latencies.sort()
    total = sum(codes.values())

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

    return WrkResult(total, secs, acknowledged(codes) / secs, codes, retry_after, pct(0.5), pct(0.99), {})


def acknowledged(codes: dict[int, int]) -> int:
    return sum(n for status, n in codes.items() if 200 <= status < 300)
