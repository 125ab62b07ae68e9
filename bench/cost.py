"""``python -m bench.cost``: CPU per answered message, quickly, for comparing two versions of the code.

The profile (bench/profile.py) samples with py-spy, which costs the gateway CPU itself; this runs the same
closed-loop end-to-end load (``wrk -c32`` on signed WhatsApp webhooks, demo bot, SQLite, the simulator in
its own process) on a warmed-up gateway with nothing attached, ``--rounds`` times, and prints each round's
CPU per answered message (all threads, ``/proc``) with the load average beside it, then (unless
``--no-counts``) one counting run (bench/instrument.py: statements, transactions, models, ``labels()`` per
message). Run two versions back to back at the same load: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.__main__ import PY, code_version, ensure_wrk, free_port, log, running, sim_control
from bench.cpu import CpuWindow
from bench.profile import closed_load, counted, warm_up, warmed_gateway


def loadavg() -> float:
    return os.getloadavg()[0]


def rounds(sim: str, workdir: Path, seconds: float, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    gw_ctx, port = warmed_gateway(workdir, sim)
    with gw_ctx as gw:
        warm_up(port, sim)
        for _ in range(n):
            sim_control(sim, reset=True)
            load_before = loadavg()
            window = CpuWindow(gw.proc.pid).start()
            res, e2e = closed_load(port, sim, seconds)
            window.stop()
            cpu = window.summary(e2e["answered"])
            row = {
                "acked": res.codes.get(200, 0),
                "answered": e2e["answered"],
                "lost": e2e["lost"],
                "duplicates": e2e["duplicates"],
                "replies_per_s": e2e["replies_per_s"],
                "load": round((load_before + loadavg()) / 2, 1),
                "us_per_msg": round(float(cpu["us_per_msg"])),  # type: ignore[arg-type]
                "loop": round(float(cpu["main_thread_us_per_msg"])),  # type: ignore[arg-type]
                "busiest_other": round(float(cpu["busiest_other_thread_us_per_msg"])),  # type: ignore[arg-type]
                "rest": round(float(cpu["rest_us_per_msg"])),  # type: ignore[arg-type]
            }
            log(json.dumps(row))
            out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="closed-loop load per round, s")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count-seconds", type=float, default=5.0)
    parser.add_argument("--no-counts", action="store_true")
    parser.add_argument("--send-delay", type=float, default=0.0)
    args = parser.parse_args()
    ensure_wrk()
    code = code_version()
    log(f"measuring channelgate from {code}")
    with tempfile.TemporaryDirectory(prefix="channelgate-cost-") as tmp:
        workdir = Path(tmp)
        sim_port = free_port()
        with running(
            "simulator", [PY, "-m", "bench.sim", "--port", str(sim_port)], sim_port, "/_bench/sent"
        ) as sim:
            results = rounds(sim.url, workdir, args.seconds, args.rounds)
            counts_text = ""
            if not args.no_counts:
                sim_control(sim.url, reset=True)
                counts_text, _ = counted(sim.url, args, workdir)
    dirty = " (dirty)" if code["dirty"] else ""
    print(f"\nchannelgate at {code['commit']}{dirty} from {code['channelgate']}")
    for r in results:
        print(
            f"  {r['us_per_msg']:5d} µs/msg (loop {r['loop']}, other {r['busiest_other']}, rest {r['rest']})"
            f"  {r['replies_per_s']:.0f} replies/s  lost {r['lost']} dup {r['duplicates']}  load {r['load']}"
        )
    if counts_text:
        print(counts_text)


if __name__ == "__main__":
    main()
