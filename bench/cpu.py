"""CPU time of a process, every thread counted, read from ``/proc``: the headline cost of the benchmark.

Rates move with whatever else the machine is doing; the CPU a process spends per message moves much less,
so the harness reads ``utime + stime`` of each of the measured process's threads
(``/proc/<pid>/task/<tid>/stat``) before and after a measured window and divides by the messages answered.
Threads that started or ended inside the window are counted from zero or up to their last reading: a
thread that lived and died between the two readings is the only CPU missed (the gateway's threads live as
long as the process). The main thread (``tid == pid``) runs the event loop in uvicorn and in the gateway;
Python 3.11 does not name OS threads, so the others are told apart by their id and their share.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_cpu(path: Path) -> float | None:
    """``utime + stime`` in seconds from a ``stat`` file, or None when the thread is gone."""
    try:
        text = path.read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after its closing one
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / TICKS


def threads_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of each live thread of ``pid``."""
    out: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        cpu = _stat_cpu(Path(f"/proc/{pid}/task/{tid}/stat"))
        if cpu is not None:
            out[int(tid)] = cpu
    return out


@dataclass
class CpuWindow:
    """CPU spent by a process between ``start()`` and ``stop()``, per thread."""

    pid: int
    before: dict[int, float] | None = None
    after: dict[int, float] | None = None

    def start(self) -> CpuWindow:
        self.before = threads_cpu(self.pid)
        return self

    def stop(self) -> CpuWindow:
        self.after = threads_cpu(self.pid)
        return self

    def per_thread(self) -> dict[int, float]:
        before, after = self.before or {}, self.after or {}
        tids = set(before) | set(after)
        return {t: max(after.get(t, before.get(t, 0.0)) - before.get(t, 0.0), 0.0) for t in tids}

    def summary(self, messages: int) -> dict[str, object]:
        """Seconds of CPU in total, on the main (event loop) thread and on the busiest other thread, and
        µs per message for each; ``threads``: every thread that spent CPU in the window, busiest first."""
        spent = self.per_thread()
        total = sum(spent.values())
        main = spent.get(self.pid, 0.0)
        others = sorted(((cpu, tid) for tid, cpu in spent.items() if tid != self.pid), reverse=True)
        busiest = others[0][0] if others else 0.0
        per = 1e6 / messages if messages else float("nan")
        return {
            "messages": messages,
            "cpu_s": total,
            "us_per_msg": total * per,
            "main_thread_us_per_msg": main * per,
            "busiest_other_thread_us_per_msg": busiest * per,
            "rest_us_per_msg": (total - main - busiest) * per,
            "threads": {
                ("main" if tid == self.pid else str(tid)): round(cpu, 3)
                for tid, cpu in sorted(spent.items(), key=lambda kv: -kv[1])
                if cpu > 0
            },
        }


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (``channelgate serve --workers N``: the supervisor and its
    N workers), from the parent ids in ``/proc/<pid>/stat``."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(text[text.rindex(")") + 2 :].split()[1])
    found, frontier = [pid], [pid]
    while frontier:
        below = [child for child, parent in parents.items() if parent in frontier]
        found += below
        frontier = below
    return found


def processes_matching(needle: str) -> list[int]:
    """Live processes whose command line holds ``needle``: a PostgreSQL backend's title names its database
    (``postgres: user db 127.0.0.1(port) idle``), so the server's work for one run is told apart from
    other databases' on the same server."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = (
                Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        if needle in cmdline:
            out.append(int(entry))
    return out


@dataclass
class ProcessesWindow:
    """CPU spent by a set of processes (every thread) between ``start()`` and ``stop()``; ``pids`` is asked
    at both ends, so processes that start inside the window (a PostgreSQL backend for a new connection)
    count from zero, and those that end count up to their last reading at ``start`` (the only CPU missed is
    that of a process that lived and died between the readings, or that ended after spending it)."""

    pids: Callable[[], list[int]]
    before: dict[tuple[int, int], float] | None = None
    after: dict[tuple[int, int], float] | None = None

    def _read(self) -> dict[tuple[int, int], float]:
        return {(pid, tid): cpu for pid in self.pids() for tid, cpu in threads_cpu(pid).items()}

    def start(self) -> ProcessesWindow:
        self.before = self._read()
        return self

    def stop(self) -> ProcessesWindow:
        self.after = self._read()
        return self

    def summary(self, messages: int) -> dict[str, object]:
        """Seconds of CPU in total and per process, µs per message, and how many processes spent it."""
        before, after = self.before or {}, self.after or {}
        spent: dict[int, float] = {}
        for key in set(before) | set(after):
            cpu = max(after.get(key, before.get(key, 0.0)) - before.get(key, 0.0), 0.0)
            spent[key[0]] = spent.get(key[0], 0.0) + cpu
        total = sum(spent.values())
        per = 1e6 / messages if messages else float("nan")
        return {
            "messages": messages,
            "cpu_s": total,
            "us_per_msg": total * per,
            "processes": {
                str(pid): round(cpu, 3) for pid, cpu in sorted(spent.items(), key=lambda kv: -kv[1])
            },
        }
