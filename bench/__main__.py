"""``python -m bench`` (``make bench``): measure channelgate under load and print the table.

Starts ``channelgate serve`` as a user would (SQLite, the demo bot), the platform simulators in their own
process (bench/sim.py), the bare Starlette baseline and the pywa peer, drives them with wrk (closed loop)
and an asyncio client (open loop, fixed rate), prints a table, writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

import channelgate
from bench import load, postgres
from bench.cpu import CpuWindow
from bench.sim import WECHAT_AES_KEY
from channelgate.channels.meta import sign
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.wechat import WeChatSimulator

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
#: the servers the harness starts import the same ``channelgate`` as the harness itself (a shared venv's
#: editable install may point at another checkout than this one: ``PYTHONPATH=src python -m bench``
#: measures this one), and ``bench`` from this checkout
CODE = Path(channelgate.__file__).resolve().parent.parent
CHILD_PYTHONPATH = os.pathsep.join(
    dict.fromkeys(p for p in [str(CODE), str(ROOT), *os.environ.get("PYTHONPATH", "").split(os.pathsep)] if p)
)
GRAPH = GraphSimulator(kind="whatsapp")
WECHAT = WeChatSimulator(encoding_aes_key=WECHAT_AES_KEY)
USERS = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------------------------------------


class Proc:
    """A server process started and waited for until ``health`` answers. ``log``: a file its stderr is
    appended to (a long run logs more than a pipe nobody reads can hold), instead of a pipe."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        port: int,
        health: str,
        cwd: Path | None = None,
        log: Path | None = None,
    ) -> None:
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        stderr: Any = subprocess.PIPE if log is None else open(log, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd or ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHONPATH": CHILD_PYTHONPATH},
        )
        if log is not None:
            stderr.close()
        self.started = time.perf_counter()
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.errors()}")
            try:
                if httpx.get(self.url + health, timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            self.kill()
            raise RuntimeError(f"{name} did not start: {self.errors()}")
        self.startup = time.perf_counter() - self.started

    def errors(self) -> str:
        """What the process wrote to stderr (the end of its log file), once it has exited."""
        if self.log is not None:
            return self.log.read_text(errors="replace")[-4000:]
        return self.proc.stderr.read().decode() if self.proc.stderr else ""

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything, as in a crash or an OOM kill."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def rss_mb(self, peak: bool = True) -> float:
        key = "VmHWM:" if peak else "VmRSS:"
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def running(name: str, cmd: list[str], port: int, health: str = "/healthz") -> Iterator[Proc]:
    proc = Proc(name, cmd, port, health)
    try:
        yield proc
    finally:
        proc.stop()


def gateway_config(
    workdir: Path,
    port: int,
    sim: str,
    *,
    db: str = "bench.db",
    whatsapp: int = 1,
    extra: str = "",
    store: str | None = None,
    bot: str = "demo",
    pipeline: dict[str, Any] | None = None,
    messenger_rate_limit: int | None = 1000,
) -> Path:
    """The gateway's config for a run: ``store`` (a URL) instead of the SQLite file ``db``, ``bot`` as a YAML
    value, ``pipeline`` settings over the benchmark's own. ``messenger_rate_limit`` None: the channel's
    default (300 calls/s)."""
    messenger_limit = "" if messenger_rate_limit is None else f", rate_limit: {messenger_rate_limit}"
    lines = [
        f"public_url: http://127.0.0.1:{port}",
        f"port: {port}",
        f"store: {store or f'sqlite:///{workdir / db}'}",
        f"bot: {bot}",
        "log_level: warning",
        f"pipeline: {json.dumps({'max_pending': 20000, **(pipeline or {})})}",
        "integrations:",
    ]
    for n in range(whatsapp):
        label = "main" if n == 0 else f"wa{n}"
        lines += [
            f"  - {{channel: whatsapp, label: {label}, verify_token: {GRAPH.verify_token},"
            f" app_secret: {GRAPH.app_secret}, access_token: {GRAPH.access_token},"
            f" phone_number_id: '{GRAPH.phone_number_id}', api_base_url: '{sim}/v25.0', rate_limit: 1000}}",
        ]
    lines += [
        f"  - {{channel: messenger, label: main, verify_token: {GRAPH.verify_token},"
        f" app_secret: {GRAPH.app_secret},"
        f" page_access_token: {GRAPH.access_token}, api_base_url: '{sim}/v25.0'{messenger_limit}}}",
        f"  - {{channel: wechat, label: main, app_id: {WECHAT.app_id}, app_secret: {WECHAT.app_secret},"
        f" token: {WECHAT.token}, encoding_aes_key: {WECHAT_AES_KEY}, encryption_mode: safe,"
        f" api_base_url: '{sim}/wechat', locale: en-US}}",
    ]
    path = workdir / f"gw-{port}.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def start_gateway(config: Path, port: int) -> Any:
    return running("gateway", [PY, "-m", "channelgate", "serve", "--config", str(config)], port, "/readyz")


# --- payloads -----------------------------------------------------------------------------------------------


def whatsapp_payload(run: str, i: int, user: int) -> tuple[bytes, str]:
    body = orjson.dumps(
        GRAPH.whatsapp_text(
            f"1555{user:07d}",
            f"{run}-{i}",
            wamid=f"wamid.{run}.{i}",
            name=f"User {user}",
            user_id=f"US.{user}",
        )
    )
    return body, sign(body, GRAPH.app_secret)


def messenger_payload(run: str, i: int, user: int) -> tuple[bytes, str]:
    body = orjson.dumps(GRAPH.messenger_text(f"{7000000 + user}", f"{run}-{i}", mid=f"m_{run}.{i}"))
    return body, sign(body, GRAPH.app_secret)


def raw_requests(
    port: int,
    path: str,
    payload: Callable[[str, int, int], tuple[bytes, str]],
    run: str,
    n: int,
    users: int = USERS,
) -> list[bytes]:
    out = []
    for i in range(n):
        body, sig = payload(run, i, i % users)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sig}
        out.append(load.build_request("127.0.0.1", port, path, body, headers))
    return out


def wrk_lines(payload: Callable[[str, int, int], tuple[bytes, str]], run: str, n: int) -> list[str]:
    out = []
    for i in range(n):
        body, sig = payload(run, i, i % USERS)
        out.append(f"X-Hub-Signature-256\t{sig}\t{body.decode()}")
    return out


def wechat_requests(port: int, run: str, n: int) -> list[bytes]:
    out = []
    ts = str(int(time.time()))
    base = random.randrange(10**15)
    for i in range(n):
        xml = WECHAT.text_message(f"oUser{i % USERS:05d}", f"{run}-{i}", msg_id=base + i)
        nonce = str(random.randrange(10**9))
        body, extra = WECHAT.seal(xml, ts, nonce, "safe")
        query = {**WECHAT.signed_query(ts, nonce, f"oUser{i % USERS:05d}"), **extra}
        path = "/webhooks/wechat/main?" + "&".join(f"{k}={v}" for k, v in query.items())
        out.append(load.build_request("127.0.0.1", port, path, body.encode(), {"Content-Type": "text/xml"}))
    return out


# --- measuring ----------------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def sim_control(sim: str, **body: Any) -> None:
    httpx.post(f"{sim}/_bench/control", json=body, timeout=10)


def sim_sent(sim: str) -> list[list[Any]]:
    return list(orjson.loads(httpx.get(f"{sim}/_bench/sent", timeout=60).content))


def replies(sim: str, run: str) -> list[tuple[str, float]]:
    """(message key, time received) of every echo of this run's messages the simulator got."""
    prefix = f"You said: {run}-"
    return [(text[len("You said: ") :], at) for _, _, text, at in sim_sent(sim) if text.startswith(prefix)]


def wait_replies(
    sim: str,
    run: str,
    expected: int,
    timeout: float,
    stall: float = 30.0,
    busy: Callable[[], bool] | None = None,
) -> list[tuple[str, float]]:
    """The replies of ``run``, once ``expected`` arrived, or after ``timeout``, or ``stall`` s without one
    while ``busy()`` (the store still holds unfinished work of the run, e.g. a send waiting for its retry)
    is false."""
    deadline = time.time() + timeout
    got: list[tuple[str, float]] = []
    progress = time.time()
    while time.time() < deadline and time.time() - progress < stall:
        now = replies(sim, run)
        if len(now) > len(got) or (busy is not None and busy()):
            progress = time.time()
        got = now
        if len(got) >= expected:
            break
        time.sleep(0.25)
    return got


def store_state(db: Path) -> dict[str, int]:
    """Where unanswered work sits, read straight from the gateway's SQLite file."""
    con = sqlite3.connect(db, timeout=30)
    try:
        state = {
            f"inbox_{s}": n for s, n in con.execute("SELECT status, count(*) FROM inbox GROUP BY status")
        }
        state |= {
            f"outbox_{s}": n for s, n in con.execute("SELECT status, count(*) FROM outbox GROUP BY status")
        }
        return state
    finally:
        con.close()


def run_accepted(db: Path, run: str) -> int:
    """How many distinct messages of ``run`` the gateway durably accepted (each owes exactly one reply)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        (n,) = con.execute(
            "SELECT count(*) FROM inbox WHERE kind = 'message' AND dedup_key LIKE ?", (f"wamid.{run}.%",)
        ).fetchone()
        return int(n)
    finally:
        con.close()


def settled_accepted(db: Path, run: str) -> int:
    """``run_accepted`` once the webhooks still in flight when the load stopped have been answered."""
    count = run_accepted(db, run)
    while True:
        time.sleep(0.5)
        again = run_accepted(db, run)
        if again == count:
            return count
        count = again


def unfinished(where: dict[str, int]) -> bool:
    """Whether some of it may still be answered: a turn to run, a reply waiting or in flight."""
    return any(where.get(k) for k in ("inbox_pending", "outbox_held", "outbox_queued", "outbox_sending"))


def run_state(db: Path, run: str, answered: set[str]) -> dict[str, int]:
    """Where the accepted but unanswered messages of ``run`` sit: their turn's inbox status, and for those
    whose turn is done, the status of their reply in the outbox. A reply the store marks sent is not
    listed: whether the simulator got it is what the harness's answered count says."""
    con = sqlite3.connect(db, timeout=30)
    try:
        rows = con.execute(
            "SELECT i.dedup_key, i.status, o.status FROM inbox i"
            " LEFT JOIN outbox o ON o.inbox_id = i.id AND o.kind = 'message'"
            " WHERE i.kind = 'message' AND i.dedup_key LIKE ?",
            (f"wamid.{run}.%",),
        ).fetchall()
    finally:
        con.close()
    where: Counter[str] = Counter()
    prefix = f"wamid.{run}."
    for key, turn, reply in rows:
        if f"{run}-{key[len(prefix) :]}" in answered or reply in ("sent", "delivered", "read"):
            continue
        where[f"inbox_{turn}" if turn != "done" or reply is None else f"outbox_{reply}"] += 1
    return dict(where)


def e2e_stats(sent_at: dict[str, float], got: list[tuple[str, float]], accepted: int) -> dict[str, Any]:
    keys = Counter(k for k, _ in got)
    lat = [(at - sent_at[k]) * 1000 for k, at in got if k in sent_at]
    first = min(sent_at.values()) if sent_at else 0.0
    last = max((at for _, at in got), default=first)
    return {
        "accepted": accepted,
        "answered": len(keys),
        "duplicates": sum(c - 1 for c in keys.values()),
        "duplicated_keys": sorted(k for k, c in keys.items() if c > 1)[:20],
        # seconds from the run's first send to each arrival of a duplicated echo
        "duplicated_at": {
            k: sorted(round(at - first, 3) for key, at in got if key == k)
            for k in sorted(k for k, c in keys.items() if c > 1)[:20]
        },
        "lost": max(accepted - len(keys), 0),
        "replies_per_s": len(keys) / (last - first) if last > first else 0.0,
        "p50_ms": pct(lat, 0.5),
        "p99_ms": pct(lat, 0.99),
    }


async def fixed_rate(
    target: str, port: int, reqs: list[bytes], rate: float
) -> tuple[dict[str, Any], list[load.Result]]:
    results = await load.open_loop("127.0.0.1", port, reqs, rate)
    ok = [r for r in results if r.status == 200]
    lat = [r.latency * 1000 for r in ok]
    return {
        "rate": rate,
        "sent": len(results),
        "ok": len(ok),
        "codes": dict(Counter(r.status for r in results)),
        "ack_p50_ms": pct(lat, 0.5),
        "ack_p99_ms": pct(lat, 0.99),
    }, results


def closed(
    url: str, lines: list[str], raws: list[bytes], port: int, seconds: float, conns: int
) -> load.WrkResult:
    if load.wrk_path():
        return load.run_wrk(url, lines, seconds, conns)
    return asyncio.run(load.closed_loop_asyncio("127.0.0.1", port, raws, seconds, conns))


# --- scenarios ----------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.quick = args.quick
        self.workdir = workdir
        self.results: dict[str, Any] = {}
        self.secs = 4.0 if self.quick else 8.0
        #: distinct webhooks prepared per second of a closed-loop run; wrk starts over when they run out
        self.lines_per_second = 4000

    def run_id(self, name: str) -> str:
        return f"{name}{uuid.uuid4().hex[:6]}"

    def closed_whatsapp(
        self, port: int, name: str, conns: int = 32, seconds: float | None = None
    ) -> tuple[load.WrkResult, dict[str, float], str]:
        seconds = seconds or self.secs
        run = self.run_id(name)
        n = int(seconds * self.lines_per_second)
        lines = wrk_lines(whatsapp_payload, run, n) if load.wrk_path() else []
        raws = [] if lines else raw_requests(port, "/webhooks/whatsapp/main", whatsapp_payload, run, n)
        started = time.time()
        result = closed(f"http://127.0.0.1:{port}/webhooks/whatsapp/main", lines, raws, port, seconds, conns)
        # closed loop: send times are not known per message; replies are timed from the run's start
        return result, {f"{run}-{i}": started for i in range(n)}, run

    def baseline(self) -> None:
        port = free_port()
        with running("baseline", [PY, "-m", "bench.baseline", "--port", str(port)], port) as proc:
            window = CpuWindow(proc.proc.pid).start()
            res, _, _ = self.closed_whatsapp(port, "base")
            cpu = window.stop().summary(load.acknowledged(res.codes))
            log(
                f"baseline: {res.rps:.0f} req/s closed loop (p99 {res.p99_ms:.1f} ms),"
                f" CPU {cpu['us_per_msg']:.0f} µs per request"
            )
            rate = self.args.ack_rate or 500
            stats, _ = asyncio.run(
                fixed_rate(
                    "baseline",
                    port,
                    raw_requests(
                        port,
                        "/webhooks/whatsapp/main",
                        whatsapp_payload,
                        self.run_id("basefix"),
                        int(rate * 5),
                    ),
                    rate,
                )
            )
            self.results["baseline"] = {
                "rps": res.rps,
                "p50_ms": res.p50_ms,
                "p99_ms": res.p99_ms,
                "fixed": stats,
                "rss_mb": proc.rss_mb(),
                "cpu": cpu,
            }

    def gateway_main(self, sim: str) -> None:
        port = free_port()
        config = gateway_config(self.workdir, port, sim)
        with start_gateway(config, port) as gw:
            path = "/webhooks/whatsapp/main"
            # warm-up: one message per user, so the demo bot's first-contact greeting is out of the way
            warm = raw_requests(port, path, whatsapp_payload, self.run_id("warm"), USERS)
            asyncio.run(fixed_rate("gw", port, warm, 250))
            time.sleep(2)
            out: dict[str, Any] = {"startup_s": gw.startup}

            # 1. ack, closed loop, and the end-to-end throughput that follows
            sim_control(sim, reset=True)
            # CPU: every thread of the gateway, from the start of the load until the last echo arrived
            window = CpuWindow(gw.proc.pid).start()
            res, sent_at, run = self.closed_whatsapp(port, "ack")
            got = wait_replies(sim, run, res.codes.get(200, 0), 120)
            window.stop()
            e2e = e2e_stats(
                {k: v for k, v in sent_at.items() if k in dict(got)} or sent_at, got, res.codes.get(200, 0)
            )
            out["cpu_e2e_closed"] = window.summary(e2e["answered"])
            out["ack_closed"] = {
                "rps": res.rps,
                "p50_ms": res.p50_ms,
                "p99_ms": res.p99_ms,
                "codes": res.codes,
            }
            out["e2e_closed"] = e2e
            log(
                f"gateway ack {res.rps:.0f}/s closed (p50 {res.p50_ms:.1f} p99 {res.p99_ms:.1f} ms); "
                f"e2e {e2e['replies_per_s']:.0f} replies/s, lost {e2e['lost']} dup {e2e['duplicates']}; "
                f"CPU {out['cpu_e2e_closed']['us_per_msg']:.0f} µs per answered message"
                f" (threads, s: {out['cpu_e2e_closed']['threads']})"
            )

            # 2. ack latency at a fixed rate: half the gateway's closed-loop ack rate
            rate = self.args.ack_rate or max(50.0, round(res.rps / 2))
            out["ack_fixed"] = self.fixed_e2e(port, sim, "ackfix", rate, path, whatsapp_payload)
            # 3. end to end at a steady 500 messages/s
            out["e2e_fixed_500"] = self.fixed_e2e(port, sim, "e2e500", 500, path, whatsapp_payload)
            # Messenger and WeChat (safe mode, passive replies) at a fixed rate
            out["messenger_fixed_300"] = self.fixed_e2e(
                port, sim, "msgr", 300, "/webhooks/messenger/main", messenger_payload
            )
            out["wechat_safe_fixed_100"] = self.wechat_fixed(port, 100)
            out["rss_peak_mb"] = gw.rss_mb()

            # 4b. overload: 256 connections, closed loop
            out["overload"] = self.overload(port, sim, gw, self.workdir / "bench.db")
            # 4c. 150 ms per send in the simulator
            sim_control(sim, delay=self.args.send_delay, reset=True)
            window = CpuWindow(gw.proc.pid).start()
            res, sent_at, run = self.closed_whatsapp(port, "delay", seconds=self.secs / 2)
            got = wait_replies(sim, run, res.codes.get(200, 0), 180)
            window.stop()
            delay_e2e = e2e_stats(sent_at, got, res.codes.get(200, 0))
            out["delay_closed"] = {
                "send_delay_s": self.args.send_delay,
                "ack_rps": res.rps,
                "e2e": delay_e2e,
                "cpu": window.summary(delay_e2e["answered"]),
            }
            out["delay_fixed_50"] = self.fixed_e2e(port, sim, "delayfix", 50, path, whatsapp_payload)
            log(
                f"with {self.args.send_delay * 1000:.0f} ms sends: e2e "
                f"{out['delay_closed']['e2e']['replies_per_s']:.0f}"
                f" replies/s closed; fixed 50/s p99 {out['delay_fixed_50']['e2e_p99_ms']:.0f} ms"
            )
            sim_control(sim, delay=0.0, reset=True)

        self.results["gateway"] = out

    def overload(self, port: int, sim: str, gw: Any, db: Path) -> dict[str, Any]:
        """256 connections, closed loop, far past what the gateway can answer: every webhook is either
        acknowledged (and must be answered) or refused with 503 + Retry-After.

        What was acknowledged is counted from the store (the run's inbox rows), not from wrk's 200s: wrk
        hands its lines out round-robin and starts over when they run out, so a fast run re-sends lines
        whose duplicates are acknowledged (200, deduplicated) without owing a reply. Where any unanswered
        message sits is read from the store at the end."""
        before = gw.rss_mb(peak=False)
        res, sent_at, run = self.closed_whatsapp(port, "over", conns=256, seconds=self.secs * 1.25)
        accepted = settled_accepted(db, run)
        got = wait_replies(sim, run, accepted, 300, busy=lambda: unfinished(run_state(db, run, set())))
        e2e = e2e_stats(sent_at, got, run_accepted(db, run))
        where = run_state(db, run, {k for k, _ in got})
        row = {
            "connections": 256,
            "ack_rps": res.rps,
            "codes": res.codes,
            "acked_duplicates": max(res.codes.get(200, 0) - accepted, 0),
            "retry_after": res.retry_after,
            "p99_ms": res.p99_ms,
            "errors": res.errors,
            "e2e": e2e,
            "unanswered_where": where,
            "rss_before_mb": before,
            "rss_peak_mb": gw.rss_mb(),
        }
        log(
            f"overload: codes {res.codes} ({row['acked_duplicates']} acks were of re-sent duplicates),"
            f" accepted {accepted}, answered {e2e['answered']}, lost {e2e['lost']}, dup {e2e['duplicates']},"
            f" peak RSS {gw.rss_mb():.0f} MB"
        )
        if e2e["lost"]:
            log(f"overload: the unanswered messages sit in: {where}")
        return row

    def messenger_limit(self, sim: str) -> None:
        """Messenger with the channel's default rate limit (300 calls/s), offered more than that allows
        (400 messages/s from 100 users, open loop): the replies/s that get through once the limit binds, and
        what the calls were spent on (a reply may also cost a ``mark_seen`` and a ``typing_on``)."""
        port = free_port()
        config = gateway_config(self.workdir, port, sim, db="messenger.db", messenger_rate_limit=None)
        users, rate, path = 100, 400.0, "/webhooks/messenger/main"
        with start_gateway(config, port) as gw:
            # warm-up: the demo bot greets each user once; that is not the steady state measured here
            warm_run = self.run_id("mwarm")
            warm = raw_requests(port, path, messenger_payload, warm_run, users, users)
            asyncio.run(fixed_rate("gw", port, warm, 50))
            wait_replies(sim, warm_run, users, 60)
            time.sleep(1)
            sim_control(sim, reset=True)
            run = self.run_id("mlim")
            reqs = raw_requests(port, path, messenger_payload, run, int(rate * self.secs * 0.75), users)
            window = CpuWindow(gw.proc.pid).start()
            stats, results = asyncio.run(fixed_rate("messenger", port, reqs, rate))
            sent_at = {
                f"{run}-{i}": r.scheduled for i, r in enumerate(sorted(results, key=lambda r: r.scheduled))
            }
            got = wait_replies(sim, run, stats["ok"], 300)
            window.stop()
            calls = [row for row in sim_sent(sim) if row[0] == "messenger"]
        e2e = e2e_stats(sent_at, got, stats["ok"])
        times = sorted(at for _, at in got)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        in_span = [c for c in calls if span and times[0] <= c[3] <= times[-1]]
        echoes = sum(1 for c in calls if c[2].startswith("You said: "))
        row = {
            "rate_limit": 300,
            "offered_per_s": rate,
            "sent": stats["sent"],
            "acked": stats["ok"],
            "answered": e2e["answered"],
            "lost": e2e["lost"],
            "duplicates": e2e["duplicates"],
            # from the first echo to the last: the rate the limit lets through while a backlog waits
            "replies_per_s": (len(times) - 1) / span if span else 0.0,
            "calls_per_s": len(in_span) / span if span else 0.0,
            "calls": len(calls),
            "calls_per_reply": len(calls) / echoes if echoes else float("nan"),
            "calls_by_kind": dict(
                Counter(
                    "echo" if c[2].startswith("You said: ") else "sender_action" if not c[2] else "other text"
                    for c in calls
                )
            ),
            "e2e_p99_ms": e2e["p99_ms"],
            "cpu": window.summary(e2e["answered"]),
        }
        log(
            f"messenger @ {rate:.0f}/s offered, default limit: {row['replies_per_s']:.0f} replies/s,"
            f" {row['calls_per_s']:.0f} calls/s, {row['calls_per_reply']:.2f} calls per reply,"
            f" lost {row['lost']} dup {row['duplicates']}"
        )
        self.results["messenger_limit"] = row

    def delay_only(self, sim: str) -> None:
        """Just the closed-loop run with slow platform sends (``--only delay``), after the usual warm-up; when
        an echo arrives twice, what the store holds for those messages (``duplicate_rows``)."""
        port = free_port()
        config = gateway_config(self.workdir, port, sim, db="delay.db")
        with start_gateway(config, port) as gw:
            warm = raw_requests(port, "/webhooks/whatsapp/main", whatsapp_payload, self.run_id("warm"), USERS)
            asyncio.run(fixed_rate("gw", port, warm, 250))
            time.sleep(2)
            sim_control(sim, delay=self.args.send_delay, reset=True)
            window = CpuWindow(gw.proc.pid).start()
            res, sent_at, run = self.closed_whatsapp(port, "delay", seconds=self.secs / 2)
            got = wait_replies(sim, run, res.codes.get(200, 0), 300)
            window.stop()
            e2e = e2e_stats(sent_at, got, res.codes.get(200, 0))
            row = {
                "send_delay_s": self.args.send_delay,
                "ack_rps": res.rps,
                "e2e": e2e,
                "cpu": window.summary(e2e["answered"]),
                "duplicate_rows": duplicate_rows(self.workdir / "delay.db", run, e2e["duplicated_keys"]),
            }
            sim_control(sim, delay=0.0, reset=True)
        log(
            f"delay {self.args.send_delay * 1000:.0f} ms: {e2e['replies_per_s']:.0f} replies/s,"
            f" lost {e2e['lost']} dup {e2e['duplicates']}; their rows: {row['duplicate_rows'][:3]}"
        )
        self.results.setdefault("gateway", {})["delay_only"] = row

    def overload_only(self, sim: str) -> None:
        """Just the overload run (``--only overload``), after the same warm-up as the gateway step."""
        port = free_port()
        config = gateway_config(self.workdir, port, sim)
        with start_gateway(config, port) as gw:
            warm = raw_requests(port, "/webhooks/whatsapp/main", whatsapp_payload, self.run_id("warm"), USERS)
            asyncio.run(fixed_rate("gw", port, warm, 250))
            time.sleep(2)
            sim_control(sim, reset=True)
            self.results.setdefault("gateway", {})["overload"] = self.overload(
                port, sim, gw, self.workdir / "bench.db"
            )

    def fixed_e2e(
        self,
        port: int,
        sim: str,
        name: str,
        rate: float,
        path: str,
        payload: Callable[[str, int, int], tuple[bytes, str]],
    ) -> dict[str, Any]:
        sim_control(sim, reset=True)
        run = self.run_id(name)
        n = int(rate * (self.secs * 0.75))
        reqs = raw_requests(port, path, payload, run, n)
        stats, results = asyncio.run(fixed_rate(name, port, reqs, rate))
        sent_at = {
            f"{run}-{i}": r.scheduled for i, r in enumerate(sorted(results, key=lambda r: r.scheduled))
        }
        got = wait_replies(sim, run, stats["ok"], 120)
        e2e = e2e_stats(sent_at, got, stats["ok"])
        stats.update(
            e2e_p50_ms=e2e["p50_ms"],
            e2e_p99_ms=e2e["p99_ms"],
            answered=e2e["answered"],
            lost=e2e["lost"],
            duplicates=e2e["duplicates"],
        )
        log(
            f"{name} @ {rate:.0f}/s: ack p50 {stats['ack_p50_ms']:.1f} p99 {stats['ack_p99_ms']:.1f} ms; "
            f"e2e p50 {e2e['p50_ms']:.0f} p99 {e2e['p99_ms']:.0f} ms; codes {stats['codes']}"
        )
        return stats

    def wechat_fixed(self, port: int, rate: float) -> dict[str, Any]:
        run = self.run_id("wx")
        reqs = wechat_requests(port, run, int(rate * self.secs * 0.5))
        stats, results = asyncio.run(fixed_rate("wechat", port, reqs, rate))
        passive = sum(1 for r in results if r.status == 200 and b"Encrypt" in r.body)
        stats["passive_replies"] = passive
        log(
            f"wechat safe @ {rate:.0f}/s: p50 {stats['ack_p50_ms']:.1f} p99 {stats['ack_p99_ms']:.1f} ms "
            f"(passive reply in the answer: {passive}/{len(results)})"
        )
        return stats

    def peer(self, sim: str) -> None:
        try:
            import pywa_async  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            log("installing pywa into the bench environment (pip install pywa)")
            done = subprocess.run(
                [PY, "-m", "pip", "install", "--quiet", "pywa"], capture_output=True, text=True
            )
            if done.returncode != 0:
                self.results["pywa"] = {"skipped": f"pip install pywa failed: {done.stderr[-300:]}"}
                log("pywa: could not install; skipped")
                return
        port = free_port()
        cmd = [
            PY,
            "-m",
            "bench.pywa_echo",
            "--port",
            str(port),
            "--graph",
            sim,
            "--phone-id",
            GRAPH.phone_number_id,
            "--token",
            GRAPH.access_token,
            "--verify-token",
            GRAPH.verify_token,
            "--app-secret",
            GRAPH.app_secret,
        ]
        out: dict[str, Any] = {}
        health = (
            "/webhooks/whatsapp/main?hub.mode=subscribe&hub.challenge=1&hub.verify_token="
            + GRAPH.verify_token
        )
        path = "/webhooks/whatsapp/main"
        # a fresh process for each scenario: after a closed-loop run pywa's pool may stay wedged
        for rate in (250, 500):
            with running("pywa", cmd, port, health) as proc:
                out[f"fixed_{rate}"] = self.fixed_e2e(port, sim, f"pywa{rate}", rate, path, whatsapp_payload)
                out[f"rss_peak_mb_{rate}"] = proc.rss_mb()
        sim_control(sim, reset=True)
        with running("pywa", cmd, port, health) as proc:
            res, sent_at, run = self.closed_whatsapp(port, "pywa")
            got = wait_replies(sim, run, res.codes.get(200, 0), 30)
            out["ack_closed"] = {
                "rps": res.rps,
                "p50_ms": res.p50_ms,
                "p99_ms": res.p99_ms,
                "codes": res.codes,
            }
            out["e2e_closed"] = e2e_stats(sent_at, got, res.codes.get(200, 0))
            log(
                f"pywa: ack {res.rps:.0f}/s closed; answered {out['e2e_closed']['answered']}"
                f" of {res.codes.get(200, 0)}"
                f" ({out['e2e_closed']['replies_per_s']:.0f} replies/s)"
            )
            out["rss_peak_mb"] = proc.rss_mb()
        self.results["pywa"] = out

    def growth_integrations(self, sim: str) -> None:
        points = [1, 100, 1000] if self.quick else [1, 100, 1000, 10000]
        out = []
        for n in points:
            port = free_port()
            config = gateway_config(self.workdir, port, sim, db=f"int{n}.db", whatsapp=n)
            with start_gateway(config, port) as gw:
                rate = 200
                run = self.run_id(f"int{n}_")
                reqs = []
                for i in range(int(rate * self.secs * 0.5)):
                    label = "main" if n == 1 else (f"wa{i % (n - 1) + 1}")
                    body, sig = whatsapp_payload(run, i, i % USERS)
                    reqs.append(
                        load.build_request(
                            "127.0.0.1",
                            port,
                            f"/webhooks/whatsapp/{label}",
                            body,
                            {"Content-Type": "application/json", "X-Hub-Signature-256": sig},
                        )
                    )
                sim_control(sim, reset=True)
                stats, results = asyncio.run(fixed_rate("int", port, reqs, rate))
                sent_at = {
                    f"{run}-{i}": r.scheduled
                    for i, r in enumerate(sorted(results, key=lambda r: r.scheduled))
                }
                e2e = e2e_stats(sent_at, wait_replies(sim, run, stats["ok"], 120), stats["ok"])
                row = {
                    "integrations": n,
                    "startup_s": gw.startup,
                    "rss_peak_mb": gw.rss_mb(),
                    "ack_p50_ms": stats["ack_p50_ms"],
                    "ack_p99_ms": stats["ack_p99_ms"],
                    "e2e_p50_ms": e2e["p50_ms"],
                    "e2e_p99_ms": e2e["p99_ms"],
                    "lost": e2e["lost"],
                }
                out.append(row)
                log(f"{n} integrations: {row}")
        self.results["growth_integrations"] = out

    def growth_conversations(self, sim: str) -> None:
        points = [1000, 100_000] if self.quick else [1000, 100_000, self.args.max_conversations]
        out = []
        for n in points:
            port = free_port()
            db = f"conv{n}.db"
            config = gateway_config(self.workdir, port, sim, db=db)
            with start_gateway(config, port):
                pass  # creates the schema
            t = time.perf_counter()
            seed_conversations(self.workdir / db, n)
            seeded = time.perf_counter() - t
            with start_gateway(config, port) as gw:
                rate = 200
                run = self.run_id(f"conv{n}_")
                users = list(range(n))
                random.shuffle(users)
                reqs = [
                    load.build_request(
                        "127.0.0.1",
                        port,
                        "/webhooks/whatsapp/main",
                        body,
                        {"Content-Type": "application/json", "X-Hub-Signature-256": sig},
                    )
                    for body, sig in (
                        whatsapp_payload(run, i, users[i % n]) for i in range(int(rate * self.secs * 0.5))
                    )
                ]
                sim_control(sim, reset=True)
                stats, results = asyncio.run(fixed_rate("conv", port, reqs, rate))
                sent_at = {
                    f"{run}-{i}": r.scheduled
                    for i, r in enumerate(sorted(results, key=lambda r: r.scheduled))
                }
                e2e = e2e_stats(sent_at, wait_replies(sim, run, stats["ok"], 120), stats["ok"])
                row = {
                    "conversations": n,
                    "seed_s": seeded,
                    "rss_peak_mb": gw.rss_mb(),
                    "ack_p50_ms": stats["ack_p50_ms"],
                    "ack_p99_ms": stats["ack_p99_ms"],
                    "e2e_p50_ms": e2e["p50_ms"],
                    "e2e_p99_ms": e2e["p99_ms"],
                    "lost": e2e["lost"],
                }
                out.append(row)
                log(f"{n} conversations: {row}")
        self.results["growth_conversations"] = out

    def backlog(self, sim: str) -> None:
        n = self.args.backlog
        port = free_port()
        config = gateway_config(self.workdir, port, sim, db="backlog.db")
        with start_gateway(config, port):
            pass
        run = self.run_id("blog")
        users = max(1, min(1000, n // 20))
        seed_backlog(self.workdir / "backlog.db", run, n, users)
        sim_control(sim, reset=True)
        t0 = time.time()
        with start_gateway(config, port) as gw:
            got = wait_replies(sim, run, n, 600)
            drained = (max(at for _, at in got) - t0) if got else float("nan")
            per_user: dict[str, list[int]] = defaultdict(list)
            for key, _ in got:
                user, seq = key[len(run) + 1 :].split(".")
                per_user[user].append(int(seq))
            in_order = all(seqs == sorted(seqs) for seqs in per_user.values())
            keys = Counter(k for k, _ in got)
            row = {
                "messages": n,
                "users": users,
                "drain_s": drained,
                "per_s": len(keys) / drained if drained else 0,
                "delivered": len(keys),
                "duplicates": sum(c - 1 for c in keys.values()),
                "order_kept": in_order,
                "rss_peak_mb": gw.rss_mb(),
            }
        log(f"backlog: {row}")
        self.results["backlog"] = row


def duplicate_rows(db: Path, run: str, keys: list[str]) -> list[dict[str, Any]]:
    """For messages whose echo arrived more than once: their inbox row and every outbox row of their turn,
    to tell a turn run twice (two message rows) from one row sent twice (attempts, reason)."""
    if not keys:
        return []
    con = sqlite3.connect(db, timeout=30)
    con.row_factory = sqlite3.Row
    out = []
    try:
        for key in keys:
            dedup = f"wamid.{run}.{key[len(run) + 1 :]}"
            inbox = con.execute(
                "SELECT id, status, attempts FROM inbox WHERE dedup_key = ?", (dedup,)
            ).fetchone()
            if inbox is None:
                out.append({"key": key, "inbox": None})
                continue
            rows = con.execute(
                "SELECT * FROM outbox WHERE inbox_id = ? ORDER BY id", (inbox["id"],)
            ).fetchall()
            keep = ("id", "kind", "status", "attempts", "reason", "created_at", "updated_at", "sent_at")
            columns = set(rows[0].keys()) if rows else set()
            out.append(
                {
                    "key": key,
                    "inbox": dict(inbox),
                    "outbox": [{k: r[k] for k in keep if k in columns} for r in rows],
                }
            )
    finally:
        con.close()
    return out


def seed_conversations(db: Path, n: int) -> None:
    """Stored conversations with one answered message each, written straight into the store's tables."""
    con = sqlite3.connect(db)
    now = time.time()
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    batch = 50_000
    for start in range(0, n, batch):
        rng = range(start, min(n, start + batch))
        con.executemany(
            "INSERT OR IGNORE INTO conversations (id, channel, label, user_id, user_name, locale,"
            " profile_fetched, last_inbound_at, created_at, updated_at)"
            " VALUES (?, 'whatsapp', 'main', ?, ?, 'en-US', 1, ?, ?, ?)",
            ((f"c{u:031d}", f"1555{u:07d}", f"User {u}", now, now, now) for u in rng),
        )
        con.executemany(
            "INSERT INTO inbox (channel, label, dedup_key, conversation_id, kind, input, status, attempts,"
            " next_attempt_at, created_at, done_at) VALUES ('whatsapp', 'main', ?, ?, 'message',"
            ' \'{"type":"text","text":"hi"}\', \'done\', 0, ?, ?, ?)',
            ((f"seed.{u}", f"c{u:031d}", now, now, now) for u in rng),
        )
        con.executemany(
            "INSERT INTO outbox (conversation_id, channel, label, kind, best_effort, body, status, attempts,"
            " next_attempt_at, created_at, updated_at, sent_at) VALUES (?, 'whatsapp', 'main', 'message', 0,"
            " '{}', 'sent', 1, ?, ?, ?, ?)",
            ((f"c{u:031d}", now, now, now, now) for u in rng),
        )
        con.commit()
    con.close()
    flush_to_disk(db)


def flush_to_disk(db: Path) -> None:
    """Write a seeded file's pages to the disk before a measured gateway opens it. Seeding writes with
    ``synchronous=OFF``, so a million rows (hundreds of MB) wait in the OS's page cache, and the gateway's
    first WAL checkpoint, whose ``fsync`` flushes every dirty page of the file, paid for them: one stall of
    300-480 ms in the first second of the 1,000,000-conversation row, which was its whole ack p99 (327-361
    ms; 8 ms with the seed flushed first). A store that grew over time has long had its pages written."""
    fd = os.open(db, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def seed_backlog(db: Path, run: str, n: int, users: int) -> None:
    """What a platform outage leaves behind: ``n`` rendered replies queued for ``users`` users, in order."""
    con = sqlite3.connect(db)
    now = time.time()
    con.execute("PRAGMA journal_mode=WAL")
    con.executemany(
        "INSERT OR IGNORE INTO conversations (id, channel, label, user_id, locale, profile_fetched,"
        " last_inbound_at,"
        " created_at, updated_at) VALUES (?, 'whatsapp', 'main', ?, 'en-US', 1, ?, ?, ?)",
        ((f"b{u:031d}", f"1666{u:07d}", now, now, now) for u in range(users)),
    )

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(n):
            u, seq = i % users, i // users
            body = orjson.dumps(
                {
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": f"1666{u:07d}",
                    "type": "text",
                    "text": {"body": f"You said: {run}-{u}.{seq}"},
                }
            ).decode()
            yield (f"b{u:031d}", body, now, now, now)

    con.executemany(
        "INSERT INTO outbox (conversation_id, channel, label, kind, best_effort, body, status, attempts,"
        " next_attempt_at, created_at, updated_at)"
        " VALUES (?, 'whatsapp', 'main', 'message', 0, ?, 'queued', 0,"
        " ?, ?, ?)",
        rows(),
    )
    con.commit()
    con.close()
    flush_to_disk(db)


def code_version() -> dict[str, Any]:
    """Which gateway code is measured: the directory ``channelgate`` is imported from, and the commit of the
    checkout it belongs to (``dirty``: with uncommitted changes), read now (compare start and end)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(CODE), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "channelgate": str(CODE),
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".")),
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "python": platform.python_version(),
        "os": platform.platform(),
        "wrk": bool(load.wrk_path()),
    }


def ensure_wrk() -> None:
    """wrk from Debian's packages when missing and we are root; otherwise the asyncio closed loop is used."""
    if load.wrk_path() or os.geteuid() != 0:
        return
    log("installing wrk (apt-get install wrk)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True)


def fmt(value: Any, digits: int = 0) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:,.{digits}f}"
    return str(value)


def code_count(codes: dict[Any, int], status: int) -> int:
    """A status code's count, whether the keys are ints (this run) or strings (read back from JSON)."""
    return int(codes.get(status, codes.get(str(status), 0)))


def lost_and_duplicated(r: dict[str, Any]) -> tuple[int, int]:
    """Lost and duplicated messages summed over every run of the gateway in the results (not the peer's:
    pywa's losses are its own finding)."""
    lost = dup = 0

    def walk(node: Any) -> None:
        nonlocal lost, dup
        if isinstance(node, dict):
            lost += int(node.get("lost") or 0)
            dup += int(node.get("duplicates") or 0)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for key in (
        "gateway",
        "messenger_limit",
        "growth_integrations",
        "growth_conversations",
        "backlog",
        "postgres",
    ):
        walk(r.get(key))
    return lost, dup


def table(r: dict[str, Any]) -> str:
    base = r.get("baseline", {}).get("rps") or float("nan")
    rows: list[tuple[str, str, str]] = []

    def add(name: str, value: float, unit: str, ratio: bool = False, digits: int = 0) -> None:
        rows.append((name, f"{fmt(value, digits)} {unit}", f"{value / base:.2f}x" if ratio else ""))

    gw = r.get("gateway", {})
    base_cpu = r.get("baseline", {}).get("cpu", {}).get("us_per_msg") or float("nan")
    if "baseline" in r and "cpu" in r["baseline"]:
        rows.append(("CPU per request, bare endpoint (all threads, /proc)", f"{fmt(base_cpu)} µs", "1.0x"))
    if "cpu_e2e_closed" in gw:
        c = gw["cpu_e2e_closed"]
        rows.append(
            (
                "CPU per answered message, gateway (closed loop end to end, all threads)",
                f"{fmt(c['us_per_msg'])} µs",
                f"{c['us_per_msg'] / base_cpu:.1f}x",
            )
        )
        rows.append(
            (
                "  of which event loop / busiest other thread (SQLite writer) / rest",
                f"{fmt(c['main_thread_us_per_msg'])} / {fmt(c['busiest_other_thread_us_per_msg'])}"
                f" / {fmt(c['rest_us_per_msg'])} µs",
                "",
            )
        )
    if "baseline" in r:
        add("bare Starlette endpoint, closed loop (wrk -c32)", base, "req/s", True)
    if "ack_closed" in gw:
        add("ack, closed loop (wrk -c32)", gw["ack_closed"]["rps"], "webhooks/s", True)
        af = gw["ack_fixed"]
        add(f"ack p50 at fixed {af['rate']:.0f}/s", af["ack_p50_ms"], "ms", digits=1)
        add(f"ack p99 at fixed {af['rate']:.0f}/s", af["ack_p99_ms"], "ms", digits=1)
        add("end to end, closed loop", gw["e2e_closed"]["replies_per_s"], "replies/s", True)
        f5 = gw["e2e_fixed_500"]
        add("ack p99 at fixed 500/s", f5["ack_p99_ms"], "ms", digits=1)
        add("end to end p50 at fixed 500/s", f5["e2e_p50_ms"], "ms")
        add("end to end p99 at fixed 500/s", f5["e2e_p99_ms"], "ms")
        add("Messenger e2e p99 at fixed 300/s", gw["messenger_fixed_300"]["e2e_p99_ms"], "ms")
        add("WeChat safe mode (passive reply) p99 at 100/s", gw["wechat_safe_fixed_100"]["ack_p99_ms"], "ms")
        d = gw["delay_closed"]
        add(
            f"end to end, closed loop, {d['send_delay_s'] * 1000:.0f} ms sends",
            d["e2e"]["replies_per_s"],
            "replies/s",
            True,
        )
        add(
            f"end to end p99 at fixed 50/s, {d['send_delay_s'] * 1000:.0f} ms sends",
            gw["delay_fixed_50"]["e2e_p99_ms"],
            "ms",
        )
        fast = gw["e2e_closed"]["replies_per_s"]
        rows.append(
            (
                f"end to end, closed loop: {d['send_delay_s'] * 1000:.0f} ms sends vs no delay",
                f"{fmt(d['e2e']['replies_per_s'])} vs {fmt(fast)} replies/s",
                f"{d['e2e']['replies_per_s'] / fast:.2f}x of no delay" if fast else "",
            )
        )
        add("peak RSS under e2e load", gw["rss_peak_mb"], "MB")
    if "overload" in gw:
        o = gw["overload"]
        rows.append(
            (
                "overload (wrk -c256): accepted (stored) / acked (200) / refused with Retry-After",
                f"{o['e2e']['accepted']} / {code_count(o['codes'], 200)} / {o['retry_after']}",
                "",
            )
        )
        rows.append(
            (
                "overload: answered / lost / duplicated",
                f"{o['e2e']['answered']} / {o['e2e']['lost']} / {o['e2e']['duplicates']}",
                ", ".join(f"{k}: {v}" for k, v in o.get("unanswered_where", {}).items()),
            )
        )
        add("peak RSS after overload", o["rss_peak_mb"], "MB")
    m = r.get("messenger_limit")
    if m:
        rows.append(
            (
                f"Messenger, default {m['rate_limit']} calls/s limit, {m['offered_per_s']:.0f}/s offered",
                f"{fmt(m['replies_per_s'])} replies/s ({fmt(m['calls_per_s'])} calls/s)",
                f"{fmt(m['calls_per_reply'], 2)} calls per reply",
            )
        )
    rows += postgres.rows(r)
    lost, dup = lost_and_duplicated(r)
    rows.append(("lost / duplicated, every gateway run above", f"{lost} / {dup}", ""))
    p = r.get("pywa", {})
    if p.get("ack_closed"):
        add("pywa: ack, closed loop (wrk -c32)", p["ack_closed"]["rps"], "webhooks/s", True)
        add("pywa: end to end, closed loop", p["e2e_closed"]["replies_per_s"], "replies/s", True)
        rows.append(
            (
                "pywa: closed loop acked / answered",
                f"{p['e2e_closed']['accepted']} / {p['e2e_closed']['answered']}",
                "",
            )
        )
        for rate in (250, 500):
            f = p[f"fixed_{rate}"]
            rows.append(
                (
                    f"pywa: fixed {rate}/s e2e p50 / p99, answered",
                    f"{fmt(f['e2e_p50_ms'])} / {fmt(f['e2e_p99_ms'])} ms, {f['answered']}/{f['sent']}",
                    "",
                )
            )
        if gw:
            rows.append(
                (
                    "channelgate / pywa end to end (closed loop)",
                    f"{gw['e2e_closed']['replies_per_s'] / max(p['e2e_closed']['replies_per_s'], 1e-9):.1f}x",
                    "",
                )
            )
    elif p.get("skipped"):
        rows.append(("pywa peer", "skipped: " + p["skipped"][:60], ""))
    for g in r.get("growth_integrations", []):
        rows.append(
            (
                f"{g['integrations']:,} integrations: ack p99 / e2e p99 at 200/s",
                f"{fmt(g['ack_p99_ms'], 1)} / {fmt(g['e2e_p99_ms'])} ms",
                f"RSS {g['rss_peak_mb']:.0f} MB",
            )
        )
    for g in r.get("growth_conversations", []):
        rows.append(
            (
                f"{g['conversations']:,} conversations: ack p99 / e2e p99 at 200/s",
                f"{fmt(g['ack_p99_ms'], 1)} / {fmt(g['e2e_p99_ms'])} ms",
                f"RSS {g['rss_peak_mb']:.0f} MB",
            )
        )
    b = r.get("backlog")
    if b:
        rows.append(
            (
                f"backlog of {b['messages']:,} drained",
                f"{fmt(b['drain_s'], 1)} s ({fmt(b['per_s'])}/s)",
                f"order kept: {b['order_kept']}, dup {b['duplicates']}",
            )
        )
    width = max(len(n) for n, _, _ in rows)
    lines = [f"| {'measure'.ljust(width)} | value | vs bare |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {n.ljust(width)} | {v} | {x} |" for n, v, x in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="shorter runs and smaller growth points (~3 min)"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma list: baseline,gateway,messenger,peer,integrations,conversations,backlog,postgres,"
        " or overload / delay (the gateway step's overload run / slow-platform closed-loop run alone)",
    )
    parser.add_argument(
        "--backlog", type=int, default=20_000, help="messages in the outage backlog (issue: 100000)"
    )
    parser.add_argument(
        "--max-conversations", type=int, default=1_000_000, help="largest stored-conversations point"
    )
    parser.add_argument("--send-delay", type=float, default=0.15, help="simulated send latency, seconds")
    parser.add_argument("--ack-rate", type=float, default=0.0, help="fixed rate for the ack latency run")
    parser.add_argument("--skip-peer", action="store_true", help="do not install or run pywa")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the table: profile every thread of the gateway under closed-loop end-to-end load"
        " (py-spy) and write summaries to bench/profiles/ (python -m bench.profile -h for its options)",
    )
    args = parser.parse_args()
    if args.profile:
        from bench import profile

        profile.main([])
        return
    if args.quick and args.backlog == 20_000:
        args.backlog = 5000
    ensure_wrk()
    only = set(filter(None, args.only.split(","))) or {
        "baseline",
        "gateway",
        "messenger",
        "peer",
        "integrations",
        "conversations",
        "backlog",
        "postgres",
    }
    if args.skip_peer:
        only.discard("peer")
    started = time.time()
    code_at_start = code_version()
    log(f"measuring channelgate from {code_at_start}")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)  # not in git: a fresh clone has none
    with tempfile.TemporaryDirectory(prefix="channelgate-bench-") as tmp:
        workdir = Path(tmp)
        bench = Bench(args, workdir)
        steps: list[tuple[str, Callable[[str], None]]] = [
            ("baseline", lambda _: bench.baseline()),
            ("gateway", bench.gateway_main),
            ("overload", bench.overload_only),
            ("delay", bench.delay_only),
            ("messenger", bench.messenger_limit),
            ("peer", bench.peer),
            ("integrations", bench.growth_integrations),
            ("conversations", bench.growth_conversations),
            ("backlog", bench.backlog),
            ("postgres", lambda sim: postgres.run(bench, sim)),
        ]
        for name, step in steps:
            if name not in only:
                continue
            log(f"--- {name}")
            # a fresh simulator for each step: a peer that flooded it must not slow the next step down
            sim_port = free_port()
            sim_cmd = [PY, "-m", "bench.sim", "--port", str(sim_port)]
            try:
                with running("simulator", sim_cmd, sim_port, "/_bench/sent") as sim:
                    step(sim.url)
                (out_dir / "partial.json").write_text(json.dumps(bench.results, indent=2, default=str))
            except Exception as exc:  # one failed scenario must not hide the others' numbers
                log(f"{name} failed: {type(exc).__name__}: {exc}")
                bench.results.setdefault("failures", {})[name] = f"{type(exc).__name__}: {exc}"
    results = {
        "machine": machine(),
        "code": code_at_start,
        "code_at_end": code_version(),
        "args": vars(args),
        "seconds": time.time() - started,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **bench.results,
    }
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out_dir / f"{stamp}.json").write_text(json.dumps(results, indent=2, default=str))
    (out_dir / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    (out_dir / "partial.json").unlink(missing_ok=True)  # the per-step save, for runs cut short
    m = results["machine"]
    c = results["code"]
    moved = "" if results["code_at_end"] == c else f" (CHANGED during the run: {results['code_at_end']})"
    header = (
        f"channelgate bench, {results['date']}: {m['cpu']}, {m['cores']} cores, {m['memory_mb']} MB, "
        f"Python {m['python']}; {results['seconds']:.0f} s\n"
        f"code: {c['channelgate']} at {c['commit']}{' with local changes' if c['dirty'] else ''}{moved}\n"
    )
    print("\n" + header)
    text = table(results)
    print(text)
    (out_dir / "latest.md").write_text(f"{header}\n{text}\n")


if __name__ == "__main__":
    main()
