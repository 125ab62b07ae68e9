"""The PostgreSQL rows of ``make bench`` (issue 16): closed-loop end to end with ``channelgate serve
--workers 1`` and ``--workers 2`` on a throwaway database of the test server.

Why a step of its own: on PostgreSQL the gateway scales out by processes, and the question is whether the
cost of a message stays the same when the work is shared (two workers must not spend more CPU per message
than one, e.g. by waking each other or claiming work another already runs). So each row reports, next to
the rate, the CPU per answered message of every gateway process (the supervisor and its workers, all
threads, from ``/proc`` as ``bench/cpu.py`` reads it) and, apart, of the PostgreSQL backends serving the
run's database (their process titles name it; the server's shared background processes are not counted).
Lost and duplicated are checked as in every gateway run.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from bench.cpu import ProcessesWindow, descendants, processes_matching

if TYPE_CHECKING:
    from bench.__main__ import Bench


#: what the server did for the run's database (pg_stat_database): transactions and rows, to divide by messages
STATS = "xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, blks_hit"


def database_stats(url: str) -> dict[str, int]:
    """The run's database's counters so far (``pg_stat_database``; the server updates them within about a
    second of each transaction, so read them after the run has settled)."""
    import asyncpg

    async def read() -> dict[str, int]:
        con = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1), timeout=10)
        try:
            await con.execute("SELECT pg_stat_clear_snapshot()")
            row = await con.fetchrow(
                f"SELECT {STATS} FROM pg_stat_database WHERE datname = $1",  # noqa: S608 - a constant
                url.rsplit("/", 1)[1],
            )
            return {k: int(v) for k, v in dict(row or {}).items()}
        finally:
            await con.close()

    return asyncio.run(read())


def run(bench: Bench, sim: str, workers: tuple[int, ...] = (1, 2)) -> None:
    """One closed-loop end-to-end run per worker count, each on a fresh database and a fresh gateway."""
    from bench.__main__ import (
        PY,
        USERS,
        Proc,
        e2e_stats,
        fixed_rate,
        free_port,
        gateway_config,
        log,
        raw_requests,
        sim_control,
        wait_replies,
        whatsapp_payload,
    )
    from bench.soak import store_url  # soak imports the harness: here, not at the top

    # a PostgreSQL store needs a key for the secrets it encrypts (SQLite makes one beside its file)
    os.environ.setdefault("CHANNELGATE_SECRET_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    out: dict[str, Any] = {}
    for n in workers:
        with store_url("postgres", bench.workdir) as url:
            database = url.rsplit("/", 1)[1]
            port = free_port()
            config = gateway_config(bench.workdir, port, sim, store=url)
            cmd = [PY, "-m", "channelgate", "serve", "--config", str(config), "--workers", str(n)]
            gw = Proc("gateway", cmd, port, "/readyz", log=bench.workdir / f"gw-pg-{n}.log")
            try:
                warm = raw_requests(
                    port, "/webhooks/whatsapp/main", whatsapp_payload, bench.run_id("warm"), USERS
                )
                asyncio.run(fixed_rate("gw", port, warm, 250))
                time.sleep(2)
                sim_control(sim, reset=True)
                gateway_cpu = ProcessesWindow(partial(descendants, gw.proc.pid)).start()
                server_cpu = ProcessesWindow(partial(processes_matching, f" {database} ")).start()
                load_before = os.getloadavg()[0]
                time.sleep(1.0)  # the warm-up's counters reach pg_stat_database
                stats_before = database_stats(url)
                res, sent_at, run_name = bench.closed_whatsapp(port, f"pg{n}w")
                got = wait_replies(sim, run_name, res.codes.get(200, 0), 120)
                gateway_cpu.stop()
                server_cpu.stop()
                time.sleep(1.0)
                stats_after = database_stats(url)
                e2e = e2e_stats(
                    {k: v for k, v in sent_at.items() if k in dict(got)} or sent_at,
                    got,
                    res.codes.get(200, 0),
                )
                row = {
                    "workers": n,
                    "ack_rps": res.rps,
                    "e2e": e2e,
                    "cpu_gateway": gateway_cpu.summary(e2e["answered"]),
                    "cpu_postgres_backends": server_cpu.summary(e2e["answered"]),
                    "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                    # per answered message; the bench's own two stats connections add one transaction each
                    "server_per_msg": {
                        k: round((stats_after[k] - stats_before.get(k, 0)) / max(e2e["answered"], 1), 2)
                        for k in stats_after
                    },
                }
                out[f"workers_{n}"] = row
                log(
                    f"PostgreSQL, {n} worker(s): ack {res.rps:.0f}/s, "
                    f"e2e {e2e['replies_per_s']:.0f} replies/s, "
                    f"lost {e2e['lost']} dup {e2e['duplicates']}; CPU per answered message: gateway "
                    f"{row['cpu_gateway']['us_per_msg']:.0f} µs, PostgreSQL backends "
                    f"{row['cpu_postgres_backends']['us_per_msg']:.0f} µs; load {row['load_average']}; "
                    f"per message on the server: {row['server_per_msg']}"
                )
            finally:
                gw.stop()
    bench.results["postgres"] = out


def rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The table's lines for the PostgreSQL runs: (measure, value, remark)."""
    lines = []
    for row in r.get("postgres", {}).values():
        e2e = row["e2e"]
        lines.append(
            (
                f"PostgreSQL, --workers {row['workers']}: end to end, closed loop / CPU per answered message"
                " (gateway processes + the run's PostgreSQL backends)",
                f"{e2e['replies_per_s']:.0f} replies/s / {row['cpu_gateway']['us_per_msg']:.0f}"
                f" + {row['cpu_postgres_backends']['us_per_msg']:.0f} µs",
                f"lost {e2e['lost']}, dup {e2e['duplicates']}, load {row['load_average'][0]}",
            )
        )
    return lines
