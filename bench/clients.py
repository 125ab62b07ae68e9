"""``python -m bench.clients``: what one platform call costs the caller, per HTTP client stack.

The gateway sends through one ``PlatformHTTP`` (channels/http.py: a thin layer on one aiohttp session).
This measures the CPU the *calling* process spends per call (``time.process_time``, every thread) for it,
for plain aiohttp, for plain httpx (httpcore's pool) and, when ``httpx-aiohttp`` is installed, for httpx
on aiohttp through that shim (what the gateway used before PlatformHTTP), sending the gateway's
WhatsApp echo (the same JSON body and headers) to the Graph simulator in another process, with
``--concurrency`` calls in flight, uvloop as the gateway runs it. The simulator's CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.__main__ import GRAPH, PY, ROOT, free_port, log, running
from channelgate.channels.http import PlatformHTTP

Call = Callable[[], Awaitable[Any]]

BODY = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "15550001234",
    "type": "text",
    "text": {"body": "You said: hello", "preview_url": False},
}


async def drive(call: Call, n: int, concurrency: int) -> tuple[float, float]:
    """(CPU µs per call, calls/s) for ``n`` calls, ``concurrency`` at a time."""
    for _ in range(50):  # connections opened, caches warm
        await call()
    left = n
    cpu, wall = time.process_time(), time.perf_counter()

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / n * 1e6, n / wall


async def measure(url: str, n: int, concurrency: int) -> dict[str, dict[str, float]]:
    headers = {"Authorization": f"Bearer {GRAPH.access_token}"}
    out: dict[str, dict[str, float]] = {}

    gateway = PlatformHTTP()

    async def via_gateway() -> Any:
        response = await gateway.request("POST", url, json=BODY, headers=headers)
        assert response.is_success, response.status_code
        return response.json()

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=512), timeout=aiohttp.ClientTimeout(total=30)
    )

    async def via_aiohttp() -> Any:
        async with session.post(url, json=BODY, headers=headers) as response:
            response.raise_for_status()
            return await response.json()

    plain = httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=10.0), limits=httpx.Limits(max_connections=512)
    )

    async def via_httpx() -> Any:
        response = await plain.request("POST", url, json=BODY, headers=headers)
        response.raise_for_status()
        return response.json()

    stacks: list[tuple[str, Call]] = [
        ("PlatformHTTP (as the gateway)", via_gateway),
        ("plain aiohttp", via_aiohttp),
        ("plain httpx (httpcore pool)", via_httpx),
    ]
    shim = None
    try:  # the stack before PlatformHTTP, when it is still installed: for before/after figures
        from httpx_aiohttp import AiohttpTransport

        shim = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=10.0),
            transport=AiohttpTransport(limits=httpx.Limits(max_connections=512)),
            follow_redirects=False,
        )

        async def via_shim() -> Any:
            assert shim is not None
            response = await shim.request("POST", url, json=BODY, headers=headers)
            response.raise_for_status()
            return response.json()

        stacks.append(("httpx on aiohttp (httpx_aiohttp, the gateway before)", via_shim))
    except ImportError:
        pass
    for name, call in stacks:
        us, rate = await drive(call, n, concurrency)
        out[name] = {"cpu_us_per_call": us, "calls_per_s": rate}
        log(f"{name}: {us:.0f} µs CPU per call, {rate:.0f} calls/s")
    await gateway.close()
    await session.close()
    await plain.aclose()
    if shim is not None:
        await shim.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.clients", description=__doc__)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=2, help="each stack measured this many times, best kept"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "profiles" / "clients.json")
    args = parser.parse_args()
    port = free_port()
    with running("simulator", [PY, "-m", "bench.sim", "--port", str(port)], port, "/_bench/sent") as sim:
        url = f"{sim.url}/v25.0/{GRAPH.phone_number_id}/messages"
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.rounds):
            for name, row in runner(measure(url, args.calls, args.concurrency)).items():
                if name not in best or row["cpu_us_per_call"] < best[name]["cpu_us_per_call"]:
                    best[name] = row
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "calls": args.calls,
        "concurrency": args.concurrency,
        "results": best,
    }
    text = json.dumps(result, indent=2) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
