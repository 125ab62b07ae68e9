"""Real ``channelgate serve`` processes for the fleet tests: a config file, the environment that makes
them import this checkout, start, readiness, and the bot's log of who ran what."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

import channelgate
from tests.core.relay_peer import SECRET

SRC = str(Path(channelgate.__file__).resolve().parents[1])


def write_config(
    path: Path,
    *,
    port: int,
    store: str,
    peer_url: str,
    pipeline: str = "",
    integration: str = "",
    more_integrations: tuple[str, ...] = (),
) -> Path:
    """``pipeline`` and ``integration``: more settings for those mappings (``, key: value`` each);
    ``more_integrations``: other integrations, each a YAML flow mapping (``{channel: webchat, ...}``)."""
    path.write_text(
        f"public_url: http://127.0.0.1:{port}\nport: {port}\nstore: {store}\n"
        "bot: {python: 'tests.fleet.fleet_bot:respond'}\n"
        f"pipeline: {{poll_interval: 0.2, max_backoff: 0.5, lease_seconds: 2{pipeline}}}\n"
        "integrations:\n"
        f"  - {{channel: relay, label: main, locale: en-US, secret: {SECRET}, "
        f"send_url: '{peer_url}/send'{integration}}}\n"
        + "".join(f"  - {more}\n" for more in more_integrations),
        encoding="utf-8",
    )
    return path


def environment(bot_log: Path) -> dict[str, str]:
    """This checkout's source first (the shared venv's editable install points elsewhere), then the tests."""
    return {**os.environ, "FLEET_BOT_LOG": str(bot_log), "PYTHONPATH": os.pathsep.join([SRC, os.getcwd()])}


def serve(config: Path, env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    err = open(log, "ab") if log is not None else subprocess.PIPE  # noqa: SIM115 - the process owns it
    return subprocess.Popen(
        [sys.executable, "-m", "channelgate", "serve", "--config", str(config), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )


def drain(procs: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> list[int | None]:
    """SIGTERM each process still running and wait for all to exit: their exit codes, None for one that
    did not exit within ``timeout`` (it is SIGKILLed, so no replica outlives its test and keeps writing to a
    dropped database)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    codes: list[int | None] = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(deadline - time.monotonic(), 0.1)))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            codes.append(None)
    return codes


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout / 0.05)):
            if proc.poll() is not None:
                raise AssertionError(f"gateway exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("gateway did not become ready")


def bot_calls(bot_log: Path) -> list[tuple[int, str, str]]:
    """(pid, turn id, text) per bot call, in the order they were logged."""
    out = []
    for line in bot_log.read_text(encoding="utf-8").splitlines():
        pid, turn, text = line.split(" ", 2)
        out.append((int(pid), turn, text))
    return out


def turns_per_pid(bot_log: Path) -> Counter[int]:
    return Counter(pid for pid, _, _ in bot_calls(bot_log))


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
