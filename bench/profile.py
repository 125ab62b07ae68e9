"""``python -m bench.profile`` (``make profile``, ``python -m bench --profile``): where the CPU goes.

Two runs of the same load on fresh gateways: one sampled by py-spy, one counting (bench/instrument.py).

Starts the gateway as ``make bench`` does (SQLite, demo bot, the simulator in its own process), warms it up,
then drives closed-loop end-to-end load (``wrk -c32`` on signed WhatsApp webhooks) while ``py-spy`` samples
every thread of the gateway (attached by pid, ``--nonblocking`` so sampling does not pause it), and reads
each thread's CPU time from ``/proc`` over the same window. Writes small text summaries to bench/profiles/:
per thread, its CPU (µs per answered message), the functions with the most samples of their own ("self")
and in their subtree ("total"), and the self samples grouped by package. py-spy counts only samples in which
a thread was running (``--idle`` off), so a thread's percentages are shares of its own CPU time.

py-spy is a bench-only tool: ``pip install py-spy`` (or ``pip install -e .[bench]``); it is not a
dependency of the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from bench import load
from bench.__main__ import (
    PY,
    ROOT,
    USERS,
    code_version,
    e2e_stats,
    ensure_wrk,
    fixed_rate,
    free_port,
    gateway_config,
    log,
    machine,
    raw_requests,
    running,
    sim_control,
    sim_sent,
    start_gateway,
    wait_replies,
    whatsapp_payload,
    wrk_lines,
)
from bench.cpu import CpuWindow, ProcessesWindow, processes_matching

OUT = ROOT / "bench" / "profiles"
PATH = "/webhooks/whatsapp/main"
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
LINE = re.compile(r"^thread \((?P<tid>\d+)\): (?P<name>[^;]*);?(?P<stack>.*) (?P<count>\d+)$")

#: packages a frame's file is grouped under, first match wins
AREAS: list[tuple[str, str]] = [
    ("/channelgate/store/", "channelgate.store"),
    ("/channelgate/channels/http.py", "channelgate PlatformHTTP"),
    ("/channelgate/channels/", "channelgate.channels"),
    ("/channelgate/", "channelgate (other)"),
    ("/sqlite3/", "sqlite3"),
    ("/sqlalchemy/", "sqlalchemy"),
    ("/httpx_aiohttp/", "httpx_aiohttp (shim)"),
    ("/httpx/", "httpx"),
    ("/httpcore/", "httpcore"),
    ("/aiohttp/", "aiohttp"),
    ("/yarl/", "yarl"),
    ("/multidict/", "multidict"),
    ("/uvicorn/", "uvicorn"),
    ("/h11/", "h11"),
    ("/httptools/", "httptools"),
    ("/starlette/", "starlette"),
    ("/fastapi/", "fastapi"),
    ("/pydantic/", "pydantic"),
    ("/prometheus_client/", "prometheus_client"),
    ("/logging/", "logging"),
    ("/asyncio/", "asyncio"),
    ("/concurrent/", "concurrent.futures"),
    ("/threading.py", "threading"),
    ("/json/", "json"),
]


def short(path: str) -> str:
    """A frame's file as a reader finds it: from ``channelgate/`` or the package's own directory."""
    for marker in ("/src/", "/site-packages/", "/lib/python3.11/", "/lib/python3.12/", "/lib/python3.13/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def area(path: str) -> str:
    for needle, name in AREAS:
        if needle in path:
            return name
    return "other"


def parse_raw(text: str) -> dict[tuple[int, str], list[tuple[list[tuple[str, str]], int]]]:
    """py-spy's raw (collapsed) output with ``--threads``: per (tid, thread name), the stacks (outermost
    first, each frame ``(file, function)``) and their sample counts."""
    out: dict[tuple[int, str], list[tuple[list[tuple[str, str]], int]]] = defaultdict(list)
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if not m:
            continue
        frames: list[tuple[str, str]] = []
        for part in filter(None, m["stack"].split(";")):
            f = FRAME.match(part)
            frames.append((f["file"], f["func"]) if f else ("?", part))
        out[(int(m["tid"]), m["name"])].append((frames, int(m["count"])))
    return out


def summarize(
    stacks: list[tuple[list[tuple[str, str]], int]], cpu_us_per_msg: float, top: int = 25
) -> list[str]:
    """One thread's summary: self and total samples per function, self samples per package."""
    total = sum(n for _, n in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    for frames, n in stacks:
        if not frames:
            continue
        file, func = frames[-1]
        own[f"{short(file)}:{func}"] += n
        areas[area(file)] += n
        for key in {f"{short(fi)}:{fu}" for fi, fu in frames}:
            inclusive[key] += n

    def rows(counter: Counter[str], limit: int) -> list[str]:
        return [
            f"  {n / total * 100:5.1f} %  {n / total * cpu_us_per_msg:7.0f} µs/msg  {key}"
            for key, n in counter.most_common(limit)
        ]

    lines = [f"samples: {total}", "", "self, by package:"]
    lines += rows(areas, 30)
    lines += ["", f"self, top {top} functions:"]
    lines += rows(own, top)
    lines += ["", f"total (function and everything it calls), top {top * 2}:"]
    lines += rows(inclusive, top * 2)
    ours = Counter({k: n for k, n in inclusive.items() if k.startswith("channelgate/")})
    lines += ["", f"total, channelgate's own functions only, top {top * 2}:"]
    lines += rows(ours, top * 2)
    return lines


def report(raw: str, cpu: dict[str, Any], meta: dict[str, Any], gw_pid: int) -> dict[str, str]:
    """The summary files' texts: ``threads.txt`` (every thread's CPU and samples) and one per busy thread."""
    threads = parse_raw(raw)
    cpu_threads: dict[str, float] = cpu["threads"]
    answered = max(int(meta["answered"]), 1)
    delay = float(meta.get("send_delay") or 0.0)
    slow = f", platform sends take {delay * 1000:g} ms" if delay else ""
    head = [
        f"channelgate profile, {meta['date']}: {meta['machine']['cpu']}, {meta['machine']['cores']} cores,"
        f" Python {meta['machine']['python']}; channelgate at {meta.get('code', {}).get('commit', '?')}"
        f"{' with local changes' if meta.get('code', {}).get('dirty') else ''}",
        f"load: wrk -c32 closed loop for {meta['seconds']:g} s on WhatsApp webhooks (demo bot echo,"
        f" {'PostgreSQL' if meta.get('store') == 'postgres' else 'SQLite'}{slow}),"
        f" {meta['acked']} acknowledged, {meta['answered']} answered, lost {meta['lost']},"
        f" duplicated {meta['duplicates']}; {meta['replies_per_s']:.0f} replies/s",
        f"py-spy {meta['py_spy']} at {meta['rate']} Hz, --threads --nonblocking --full-filenames,"
        + (
            " --gil: only samples of the thread holding the GIL"
            if meta.get("gil")
            else " idle excluded (a thread waiting for the GIL counts as busy)"
        ),
        f"CPU of the whole process over the window (/proc, all threads): {cpu['cpu_s']:.2f} s,"
        f" {cpu['us_per_msg']:.0f} µs per answered message",
        *(
            [
                f"CPU of the run's PostgreSQL backends over the window: {backends['cpu_s']:.2f} s,"
                f" {backends['us_per_msg']:.0f} µs per answered message"
            ]
            if (backends := meta.get("cpu_postgres_backends"))
            else []
        ),
        "",
        "thread                                      tid      CPU s   µs/msg  samples",
    ]
    files: dict[str, str] = {}
    order = sorted(threads, key=lambda k: -sum(n for _, n in threads[k]))
    for tid, name in order:
        key = "main" if tid == gw_pid else str(tid)
        secs = float(cpu_threads.get(key, 0.0))
        samples = sum(n for _, n in threads[(tid, name)])
        head.append(f"{name[:40]:40}  {tid:>8}  {secs:7.2f}  {secs * 1e6 / answered:7.0f}  {samples:7}")
        if samples < 20:
            continue
        slug = "event-loop" if tid == gw_pid else re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        body = [
            f"thread {name} (tid {tid}{', the event loop' if tid == gw_pid else ''}):"
            f" {secs:.2f} s of CPU, {secs * 1e6 / answered:.0f} µs per answered message",
            "percent: of this thread's samples (its CPU time);"
            " µs/msg: that share of its CPU per answered message",
            "",
        ]
        lines = [*head[:4], "", *body, *summarize(threads[tid, name], secs * 1e6 / answered)]
        files[f"thread-{slug}.txt"] = "\n".join(lines) + "\n"
    sampled = {("main" if t == gw_pid else str(t)) for t, _ in threads}
    unsampled = [k for k in cpu_threads if k not in sampled]
    if unsampled:
        head.append(
            f"(threads with CPU but no sample: {', '.join(f'{k}={cpu_threads[k]}s' for k in unsampled)})"
        )
    files["threads.txt"] = "\n".join(head) + "\n"
    return files


def pyspy() -> str | None:
    found = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    return found if Path(found).exists() else None


def warmed_gateway(workdir: Path, sim: str, cmd: list[str] | None = None, store: str | None = None) -> Any:
    """A gateway as ``make bench`` runs it (``cmd``: another way to start ``channelgate serve``; ``store``: a
    PostgreSQL URL instead of the SQLite file, one process as ``--workers 1`` runs), after one message per
    user so the demo bot's first-contact greetings are out of the way."""
    port = free_port()
    config = gateway_config(workdir, port, sim, store=store)
    if cmd is None:
        gw = start_gateway(config, port)
    else:
        gw = running("gateway", [*cmd, "serve", "--config", str(config)], port, "/readyz")
    return gw, port


@contextmanager
def store_for(kind: str, workdir: Path) -> Iterator[str | None]:
    """``sqlite``: None (the gateway's own file); ``postgres``: a throwaway database of the test server
    (bench/soak.py's, ``CHANNELGATE_TEST_PG``), with a secret key for the secrets such a store encrypts."""
    if kind == "sqlite":
        yield None
        return
    from bench.soak import store_url  # soak imports the harness: here, not at the top

    os.environ.setdefault("CHANNELGATE_SECRET_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    with store_url("postgres", workdir) as url:
        yield url


def backends_window(store: str | None) -> ProcessesWindow | None:
    """The CPU of the PostgreSQL backends serving the run's database (their titles name it), if any."""
    if store is None:
        return None
    return ProcessesWindow(partial(processes_matching, f" {store.rsplit('/', 1)[1]} ")).start()


def warm_up(port: int, sim: str) -> None:
    run = f"warm{time.time_ns()}"
    warm = raw_requests(port, PATH, whatsapp_payload, run, USERS)
    asyncio.run(fixed_rate("gw", port, warm, 250))
    wait_replies(sim, run, USERS, 60)
    time.sleep(2)
    sim_control(sim, reset=True)


def closed_load(port: int, sim: str, seconds: float) -> tuple[load.WrkResult, dict[str, Any]]:
    """wrk -c32 for ``seconds``, then wait for every echo; the e2e stats (lost, duplicated) of the run."""
    run = f"prof{time.time_ns() % 10**9}"
    n = int(seconds * 4000)
    lines = wrk_lines(whatsapp_payload, run, n)
    started = time.time()
    res = load.run_wrk(f"http://127.0.0.1:{port}{PATH}", lines, seconds, 32)
    got = wait_replies(sim, run, res.codes.get(200, 0), 300)
    return res, e2e_stats({f"{run}-{i}": started for i in range(n)}, got, res.codes.get(200, 0))


def sampled(
    spy: str, sim: str, args: argparse.Namespace, workdir: Path
) -> tuple[dict[str, str], dict[str, Any]]:
    """The py-spy run: every thread sampled, every thread's CPU read from /proc over the same window."""
    version = subprocess.run([spy, "--version"], capture_output=True, text=True).stdout.strip()
    with (
        store_for(args.store, workdir) as store,
        warmed_gateway(workdir, sim, store=store)[0] as gw,
    ):
        port = gw.port
        warm_up(port, sim)
        sim_control(sim, delay=args.send_delay)
        raw_path = workdir / "pyspy.txt"
        cmd = [spy, "record", "--pid", str(gw.proc.pid), "--threads", "--nonblocking", "--full-filenames"]
        cmd += ["--gil"] if args.gil else []
        spy_proc = subprocess.Popen(
            [*cmd, "-r", str(args.rate), "-f", "raw", "-o", str(raw_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(1)  # py-spy attaches
        window = CpuWindow(gw.proc.pid).start()
        backends = backends_window(store)
        res, e2e = closed_load(port, sim, args.seconds)
        window.stop()
        backends_cpu = backends.stop().summary(e2e["answered"]) if backends else None
        spy_proc.send_signal(signal.SIGINT)
        _, err = spy_proc.communicate(timeout=60)
        log(f"py-spy: {err.decode(errors='replace').strip()[:200]}")
        cpu = window.summary(e2e["answered"])
        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": machine(),
            "code": code_version(),
            "seconds": args.seconds,
            "acked": res.codes.get(200, 0),
            "answered": e2e["answered"],
            "lost": e2e["lost"],
            "duplicates": e2e["duplicates"],
            "replies_per_s": e2e["replies_per_s"],
            "rate": args.rate,
            "py_spy": version,
            "send_delay": args.send_delay,
            "gil": args.gil,
            "cpu": cpu,
            "store": args.store,
            "cpu_postgres_backends": backends_cpu,
        }
        return report(raw_path.read_text(), cpu, meta, gw.proc.pid), meta


def counted(sim: str, args: argparse.Namespace, workdir: Path) -> tuple[str, dict[str, Any]]:
    """The counting run (bench/instrument.py): statements, transactions, models, log records and metric
    lookups per answered message, and the platform calls per reply by kind."""
    counts_path = workdir / "counts.json"
    os.environ["BENCH_COUNTS"] = str(counts_path)

    def snapshot(pid: int) -> Counter[str]:
        counts_path.unlink(missing_ok=True)
        os.kill(pid, signal.SIGUSR1)
        for _ in range(100):
            if counts_path.exists():
                return Counter(json.loads(counts_path.read_text()))
            time.sleep(0.05)
        raise RuntimeError("the instrumented gateway wrote no counts")

    with (
        store_for(getattr(args, "store", "sqlite"), workdir) as store,
        warmed_gateway(workdir, sim, [PY, "-m", "bench.instrument"], store=store)[0] as gw,
    ):
        port = gw.port
        warm_up(port, sim)
        sim_control(sim, delay=args.send_delay)
        before = snapshot(gw.proc.pid)
        res, e2e = closed_load(port, sim, args.count_seconds)
        after = snapshot(gw.proc.pid)
        calls = sim_sent(sim)
    answered = max(int(e2e["answered"]), 1)
    diff = after - before
    kinds = Counter(
        "echo (the reply)"
        if c[2].startswith("You said: ")
        else "read mark + typing"
        if not c[2]
        else "other text"
        for c in calls
    )
    lines = [
        f"counted run: wrk -c32 for {args.count_seconds:g} s, {res.codes.get(200, 0)} acknowledged,"
        f" {e2e['answered']} answered, lost {e2e['lost']}, duplicated {e2e['duplicates']}"
        " (counters on: its rates are not the gateway's)",
        "",
        "platform calls per answered message (simulator's record):",
        *(f"  {n / answered:6.2f}  {k}" for k, n in kinds.most_common()),
        "",
        "per answered message (every thread; top-level pydantic calls only):",
    ]
    groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
    diff["log record"] += 0  # listed even when none was made (log_level: warning)
    for key, n in diff.items():
        groups[key.split(":", 1)[0] if ":" in key else key].append((key, n))
    for group in sorted(groups, key=lambda g: -max(n for _, n in groups[g])):
        items = sorted(groups[group], key=lambda kv: -kv[1])
        total = diff[group] if group in diff else sum(n for _, n in items)
        lines.append(f"  {total / answered:7.2f}  {group} (all)")
        lines += [f"  {n / answered:7.2f}    {k}" for k, n in items[:25] if k != group]
    data = {"answered": answered, "calls": dict(kinds), "counts": dict(diff)}
    return "\n".join(lines) + "\n", data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="closed-loop load of the sampled run, s")
    parser.add_argument(
        "--count-seconds", type=float, default=5.0, help="closed-loop load of the counted run"
    )
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=None, help="where the summaries go")
    parser.add_argument(
        "--send-delay",
        type=float,
        default=0.0,
        help="seconds the simulated platform takes per send (0.15: the bench's slow-platform row);"
        " summaries then go to bench/profiles/delay-<ms>ms/",
    )
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample only the thread holding the GIL (py-spy --gil): Python work without the time threads"
        " spend waiting for the GIL, and without C work done with it released (sqlite3's own); to"
        " bench/profiles/gil/",
    )
    parser.add_argument("--counts-only", action="store_true", help="only the counting run (counts.txt)")
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="postgres: the gateway on a throwaway database of the test server (CHANNELGATE_TEST_PG), one"
        " process (serve --workers 1); its backends' CPU is reported too; to bench/profiles/postgres/",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = OUT / f"delay-{args.send_delay * 1000:.0f}ms" if args.send_delay else OUT
        args.out = args.out / "gil" if args.gil else args.out
        args.out = args.out / "postgres" if args.store == "postgres" else args.out
    spy = pyspy()
    if spy is None:
        log("py-spy missing: installing it into the bench environment (pip install py-spy)")
        subprocess.run([PY, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
        spy = pyspy()
        if spy is None:
            sys.exit("py-spy could not be installed")
    ensure_wrk()
    if not load.wrk_path():
        sys.exit("the profile needs wrk (apt-get install wrk)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="channelgate-profile-") as tmp:
        workdir = Path(tmp)
        sim_port = free_port()
        sim_cmd = [PY, "-m", "bench.sim", "--port", str(sim_port)]
        with running("simulator", sim_cmd, sim_port, "/_bench/sent") as sim:
            if not args.counts_only:
                files, meta = sampled(spy, sim.url, args, workdir)
            sim_control(sim.url, reset=True)
            counts_text, counts = counted(sim.url, args, workdir)
    (args.out / "counts.txt").write_text(counts_text)
    (args.out / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    print(counts_text)
    if args.counts_only:
        return
    for old in args.out.glob("thread-*.txt"):
        old.unlink()
    for name, text in files.items():
        (args.out / name).write_text(text)
    (args.out / "profile.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(files["threads.txt"])
    log(f"summaries in {args.out}")


if __name__ == "__main__":
    main()
