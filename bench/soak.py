"""``python -m bench.soak`` (``make soak``): the gateway's promise, tried for minutes at a time.

The promise: a message the platform handed us (its webhook got a 2xx) is answered, once, in order, whatever
happens to the platform, the process or the input, and nothing a platform sends gets a 5xx. This harness runs
the real gateway (``channelgate serve``, SQLite or ``--store postgres``) with a deterministic echo bot
(bench/soak_bot.py) against the platform simulators (bench/sim.py: Graph API for Messenger and WhatsApp,
WeChat in safe mode), and meanwhile:

* sends a steady stream of signed webhooks from many users, each user's texts numbered (``run:user:seq``)
  and each sent only after the previous one was acknowledged, as a platform does;
* takes the platform down: every Graph API call answers 500 for ``--outage`` seconds (default 600), then
  recovers (WeChat's replies are mostly passive, in the webhook's answer, which an outage does not touch);
* SIGKILLs the gateway under load ``--kills`` times (default 2: one in the middle of the outage, one while
  the backlog drains) and restarts it on the same store; webhooks that meet a dead gateway (connection
  refused or reset, timeout) are re-sent like a platform redelivers, and counted as platform retries;
* interleaves a flood of hostile bodies (bench/hostile.py): signed mutated payloads, signed garbage, and
  unsigned or wrongly signed ones, for Messenger and WhatsApp;
* after the traffic, waits until every acknowledged message is answered or none of them can still be
  (nothing of theirs waits in the store any more), and prints one table. Each reply is matched to its
  message by its text, at the simulator or in a WeChat webhook's answer (a passive reply).

It exits 1 when any message was lost (acknowledged, never answered), never acknowledged, answered out of
order, or when any webhook got a 5xx other than the documented 503 + Retry-After of backpressure; the table
says where each unanswered message sits in the store (its turn's inbox status, its reply's outbox status).

Everything is on loopback; every loop is bounded in count and time; the processes it starts are stopped on
the way out, Ctrl-C and failures included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import yaml

from bench.__main__ import GRAPH, PY, WECHAT, Proc, free_port, gateway_config, log, running
from bench.hostile import HostileBodies

#: the admin database the throwaway PostgreSQL databases are made from (as the tests' conftest)
PG_ADMIN_URL = os.environ.get("CHANNELGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CHANNELS = ("messenger", "whatsapp", "wechat")
#: reply rows of a turn that are still on their way (anything else is final: sent, failed, dead...)
WAITING_OUTBOX = ("held", "queued", "sending")


@dataclass(slots=True)
class User:
    uid: str  # m007 / w007 / x007: the harness's name, in every text
    channel: str  # messenger | whatsapp | wechat
    address: str  # PSID, phone number or OpenID
    number: int  # its index among its channel's users


@dataclass
class Tally:
    """What the harness saw, from the platform's side."""

    sent: int = 0  # distinct valid messages handed to the gateway (at least one try)
    acked: set[str] = field(default_factory=set)  # keys whose webhook got a 2xx
    unacked: dict[str, str] = field(default_factory=dict)  # key -> why the harness gave up on it
    retries: int = 0  # re-sends after a connection error, a timeout or a 5xx
    valid_codes: Counter[int] = field(default_factory=Counter)  # every answer to a valid webhook
    backpressure: int = 0  # 503 with Retry-After
    hostile: Counter[str] = field(default_factory=Counter)  # "signed 2xx", "garbage 4xx", ...
    hostile_5xx: list[str] = field(default_factory=list)  # a few samples: kind, status, body start
    # uid -> (when, seq) of each message's first answer: passive WeChat replies are seen at once, sends
    # when the simulator's record is next read, so order is judged by the time each was received
    replies: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    reply_count: Counter[str] = field(default_factory=Counter)  # key -> times answered
    passive: int = 0  # WeChat echoes that came in the webhook's answer


class Store:
    """Reads the gateway's store (SQLite file or PostgreSQL database) to say where unanswered work sits."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.sqlite:
            return await asyncio.to_thread(self._sqlite_rows, sql, params)
        import asyncpg

        n = 0

        def numbered(part: str) -> str:
            nonlocal n
            n += 1
            return f"${n}{part}"

        pieces = sql.split("?")
        pg_sql = pieces[0] + "".join(numbered(p) for p in pieces[1:])
        con = await asyncpg.connect(self.url.replace("postgresql://", "postgres://", 1), timeout=10)
        try:
            return [tuple(r) for r in await con.fetch(pg_sql, *params)]
        finally:
            await con.close()

    def _sqlite_rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        path = self.url.split("sqlite:///", 1)[1]
        if not Path(path).exists():
            return []
        con = sqlite3.connect(path, timeout=30)
        try:
            return list(con.execute(sql, params))
        finally:
            con.close()

    async def by_status(self) -> dict[str, int]:
        """Every inbox and outbox row by status (hostile traffic's included)."""
        state = {f"inbox {s}": int(n) for s, n in await self.rows(_BY_STATUS.format(table="inbox"))}
        state |= {f"outbox {s}": int(n) for s, n in await self.rows(_BY_STATUS.format(table="outbox"))}
        return state

    async def places(self, run: str, wechat_keys: dict[str, str]) -> dict[str, tuple[str, str]]:
        """Each of the run's accepted messages: ``run.uid.seq`` -> (where it is, the last reason given).
        Meta's message ids carry the key; WeChat's are numbers, looked up in ``wechat_keys``."""
        rows = await self.rows(
            "SELECT i.platform_message_id, i.status, i.error, o.status, o.reason FROM inbox i"
            " LEFT JOIN outbox o ON o.inbox_id = i.id AND NOT o.best_effort"
            " WHERE i.kind = 'message' AND (i.platform_message_id LIKE ? OR i.platform_message_id LIKE ?"
            " OR i.channel = 'wechat')",
            f"m_{run}.%",
            f"wamid.{run}.%",
        )
        out: dict[str, tuple[str, str]] = {}
        for mid, turn, turn_error, reply, reason in rows:
            key = wechat_keys.get(str(mid)) or str(mid)[str(mid).find(run) :]  # "<run>.<uid>.<seq>"
            if run not in key:
                continue
            if turn != "done" or reply is None:
                out[key] = (f"inbox {turn}", str(turn_error or ""))
            else:
                out[key] = (f"outbox {reply}", str(reason or ""))
        return out


_BY_STATUS = "SELECT status, count(*) FROM {table} GROUP BY status ORDER BY status"


def is_waiting(place: str) -> bool:
    """Whether a message in this place can still be answered without anyone's help."""
    return place == "inbox pending" or place.split(" ", 1)[1] in WAITING_OUTBOX


class Soak:
    def __init__(self, args: argparse.Namespace, workdir: Path, store_url: str, sim: str) -> None:
        self.args = args
        self.workdir = workdir
        self.store = Store(store_url)
        self.sim = sim
        self.run = f"s{uuid.uuid4().hex[:6]}"
        self.tally = Tally()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = gateway_config(
            workdir,
            self.port,
            sim,
            store=store_url,
            bot="{python: 'bench.soak_bot:respond'}",
            pipeline=args.pipeline,
        )
        channels = args.channels
        self.users = [make_user(channels[n % len(channels)], n // len(channels)) for n in range(args.users)]
        self.wechat_msg_base = 6_000_000_000_000_000_000 + uuid.uuid4().int % 10**15 * 1000
        self.wechat_seen = 0
        self.last_seq: dict[str, int] = {}
        self.gw: Proc | None = None
        self.gateways: list[dict[str, float]] = []  # per process: startup_s, peak_rss_mb
        self.events: list[str] = []
        self.hostile = HostileBodies(GRAPH, seed=args.seed)
        self.t0 = 0.0
        self.traffic_end = 0.0

    # --- the gateway process ---

    def start_gateway(self) -> None:
        cmd = [PY, "-m", "channelgate", "serve", "--config", str(self.config)]
        self.gw = Proc("gateway", cmd, self.port, "/readyz", log=self.workdir / "gateway.log")
        self.gateways.append({"startup_s": self.gw.startup, "peak_rss_mb": 0.0})

    def sample_rss(self) -> None:
        if self.gw is None or not self.gateways:
            return
        try:
            rss = self.gw.rss_mb()
        except OSError:  # gone (killed) between the check and the read
            return
        self.gateways[-1]["peak_rss_mb"] = max(self.gateways[-1]["peak_rss_mb"], rss)

    def stop_gateway(self) -> None:
        if self.gw is not None:
            self.sample_rss()
            self.gw.stop()
            self.gw = None

    def note(self, text: str) -> None:
        stamp = f"t+{time.monotonic() - self.t0:6.1f}s" if self.t0 else "start"
        self.events.append(f"{stamp} {text}")
        log(text)

    # --- the timeline ---

    def schedule(self) -> tuple[float, float, list[float]]:
        """(outage start, outage end, kill times), in seconds from the traffic's start."""
        a = self.args
        start, end = a.outage_at, a.outage_at + a.outage
        kills: list[float] = []
        if a.kills and a.outage:
            kills.append(start + a.outage / 2)  # the backlog must survive the crash
        rest = a.kills - len(kills)
        lo = end if a.outage else 0.0
        kills += [lo + (i + 1) * (a.duration - lo) / (rest + 1) for i in range(rest)]
        return start, end, kills

    async def chaos(self) -> None:
        start, _, kills = self.schedule()
        plan = [(start, "outage")] if self.args.outage else []
        plan += [(t, "kill") for t in kills]
        for at, what in sorted(plan):
            await asyncio.sleep(max(0.0, self.t0 + at - time.monotonic()))
            if what == "outage":
                await self.sim_post("/_sim/outage", {"seconds": self.args.outage, "status": 500})
                self.note(f"platform outage: every send answers 500 for {self.args.outage:g} s")
                continue
            self.sample_rss()
            assert self.gw is not None
            self.gw.kill()
            self.note(f"SIGKILL gateway pid {self.gw.proc.pid}")
            self.gw = None
            await asyncio.sleep(self.args.down)
            await asyncio.to_thread(self.start_gateway)
            self.note(
                f"gateway restarted on the same store ({self.gateways[-1]['startup_s']:.1f} s to ready)"
            )

    async def sim_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(self.sim + path, json=body)
            response.raise_for_status()
            return dict(response.json())

    # --- traffic ---

    def webhook(self, user: User, seq: int) -> tuple[str, bytes, dict[str, str]]:
        """The request of message ``seq`` of ``user``, built afresh for each try (WeChat signs each with a
        new timestamp and nonce; Meta's bytes are the same every time)."""
        text = f"{self.run}:{user.uid}:{seq}"
        key = f"{self.run}.{user.uid}.{seq}"
        if user.channel == "wechat":
            xml = WECHAT.text_message(user.address, text, msg_id=self.wechat_msg_id(user, seq))
            ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
            sealed, extra = WECHAT.seal(xml, ts, nonce, "safe")
            query = urlencode({**WECHAT.signed_query(ts, nonce, user.address), **extra})
            return f"/webhooks/wechat/main?{query}", sealed.encode(), {"Content-Type": "text/xml"}
        if user.channel == "messenger":
            payload = GRAPH.messenger_text(user.address, text, mid=f"m_{key}")
        else:
            payload = GRAPH.whatsapp_text(user.address, text, wamid=f"wamid.{key}", name=f"Soak {user.uid}")
        body = orjson.dumps(payload)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": GRAPH.signature(body)}
        return f"/webhooks/{user.channel}/main", body, headers

    def wechat_msg_id(self, user: User, seq: int) -> int:
        return self.wechat_msg_base + user.number * 100_000 + seq

    def wechat_keys(self) -> dict[str, str]:
        """The WeChat MsgIds of the messages sent so far -> their ``run.uid.seq``."""
        out = {}
        for user in self.users:
            if user.channel == "wechat":
                for seq in range(1, self.last_seq.get(user.uid, 0) + 1):
                    out[str(self.wechat_msg_id(user, seq))] = f"{self.run}.{user.uid}.{seq}"
        return out

    async def user(self, client: httpx.AsyncClient, user: User, offset: float) -> None:
        period = self.args.users / self.args.rate
        due = self.t0 + offset
        seq = 0
        while due < self.traffic_end:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            seq += 1
            self.last_seq[user.uid] = seq
            await self.deliver(client, user, seq)
            due = max(due + period, time.monotonic())

    async def deliver(self, client: httpx.AsyncClient, user: User, seq: int) -> None:
        """One message, re-sent as a platform redelivers until it gets a 2xx (or a 4xx, or the time is up)."""
        key = f"{user.uid}:{seq}"
        self.tally.sent += 1
        give_up = time.monotonic() + self.args.redeliver_for
        pause = 0.25
        while True:
            path, body, headers = self.webhook(user, seq)
            status, retry_after = 0, None
            try:
                response = await client.post(self.url + path, content=body, headers=headers)
                status, retry_after = response.status_code, response.headers.get("retry-after")
                self.tally.valid_codes[status] += 1
            except httpx.TransportError:
                pass  # refused while down, reset by the kill, or timed out: the platform tries again
            if 200 <= status < 300:
                self.tally.acked.add(key)
                if user.channel == "wechat":
                    self.passive_reply(response)
                return
            if 400 <= status < 500:
                self.tally.unacked[key] = f"{status}: {response.text[:120]}"
                return
            if status == 503 and retry_after:
                self.tally.backpressure += 1
            if time.monotonic() >= give_up:
                self.tally.unacked[key] = (
                    f"no 2xx after {self.args.redeliver_for:g} s (last: {status or 'error'})"
                )
                return
            self.tally.retries += 1
            wait = pause
            if retry_after and retry_after.isdigit():
                wait = max(wait, min(float(retry_after), 10.0))
            await asyncio.sleep(wait)
            pause = min(pause * 2, 2.0)

    async def hostile_flood(self, client: httpx.AsyncClient) -> None:
        if self.args.hostile_rate <= 0:
            return
        n = 0
        while True:
            due = self.t0 + n / self.args.hostile_rate
            if due >= self.traffic_end:
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            n += 1
            h = self.hostile.next()
            try:
                response = await client.post(self.url + h.path, content=h.body, headers=h.headers)
            except httpx.TransportError:
                self.tally.hostile[f"{h.kind} no answer"] += 1
                continue
            status = response.status_code
            self.tally.hostile[f"{h.kind} {status // 100}xx"] += 1
            if status >= 500:
                # the whole request, to replay it (curl --data-binary @N.body with N.json's headers)
                saved = self.workdir / "hostile-5xx"
                saved.mkdir(exist_ok=True)
                (saved / f"{n:06d}-{h.kind}.body").write_bytes(h.body)
                (saved / f"{n:06d}-{h.kind}.json").write_text(
                    json.dumps({"path": h.path, "headers": h.headers})
                )
                if len(self.tally.hostile_5xx) < 8:
                    self.tally.hostile_5xx.append(f"{h.kind} {status} for {h.body[:100]!r}")

    def passive_reply(self, response: httpx.Response) -> None:
        """A WeChat webhook's answer may carry the reply itself (encrypted): that is the message answered."""
        try:
            reply = WECHAT.read_reply(response)
        except Exception as exc:  # a garbled answer is a finding: say so, the message counts as unanswered
            log(f"unreadable WeChat passive reply: {type(exc).__name__}: {exc}")
            return
        if reply is not None:
            self.tally.passive += 1
            self.answer(str(reply.get("Content", "")), time.time())

    def answer(self, text: str, at: float) -> None:
        """Count an echo seen (at the simulator or in a passive reply) for the message it names."""
        prefix = f"echo: {self.run}:"
        if not text.startswith(prefix):
            return
        uid, _, seq = text[len(prefix) :].partition(":")
        key = f"{uid}:{seq}"
        self.tally.reply_count[key] += 1
        if self.tally.reply_count[key] == 1:
            self.tally.replies[uid].append((at, int(seq)))

    async def collect(self, stop: asyncio.Event) -> None:
        """Read the simulator's record of sends and match each echo to its message."""
        since = 0
        async with httpx.AsyncClient(timeout=60) as client:
            while True:
                try:
                    response = await client.get(f"{self.sim}/_bench/sent?since={since}")
                    rows = orjson.loads(response.content)
                except (httpx.HTTPError, orjson.JSONDecodeError) as exc:  # the next read catches up
                    log(f"reading the simulator's sends failed: {exc!r}")
                    rows = []
                # /_bench/sent lists the Graph sends after ``since``, then every WeChat send so far
                graph = [r for r in rows if r[0] != "wechat"]
                wechat = [r for r in rows if r[0] == "wechat"]
                since += len(graph)
                fresh, self.wechat_seen = wechat[self.wechat_seen :], max(self.wechat_seen, len(wechat))
                for _, _, text, at in graph + fresh:
                    self.answer(text, at)
                if stop.is_set():
                    return
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    async def sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample_rss()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    async def drain(self) -> float:
        """Wait until every acknowledged message is answered, or none of the unanswered can still be; the
        seconds waited."""
        started = time.monotonic()
        deadline = started + self.args.drain_timeout
        while time.monotonic() < deadline:
            missing = self.unanswered()
            if not missing:
                break
            places = await self.store.places(self.run, self.wechat_keys())
            if not any(
                is_waiting(places.get(_mid_key(self.run, k), ("inbox missing", ""))[0]) for k in missing
            ):
                await asyncio.sleep(2.0)  # a last send may be on its way to the simulator's record
                if self.unanswered() == missing:
                    break
            await asyncio.sleep(1.0)
        return time.monotonic() - started

    def unanswered(self) -> set[str]:
        return {k for k in self.tally.acked if not self.tally.reply_count.get(k)}

    async def traffic(self) -> dict[str, Any]:
        stop = asyncio.Event()
        limits = httpx.Limits(max_connections=max(64, self.args.users // 2), max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=self.args.request_timeout, limits=limits) as client:
            self.t0 = time.monotonic()
            self.traffic_end = self.t0 + self.args.duration
            helpers = [asyncio.create_task(self.collect(stop)), asyncio.create_task(self.sample(stop))]
            chaos = asyncio.create_task(self.chaos())
            period = self.args.users / self.args.rate
            load = [
                asyncio.create_task(self.user(client, u, period * i / len(self.users)))
                for i, u in enumerate(self.users)
            ]
            load.append(asyncio.create_task(self.hostile_flood(client)))
            try:
                await chaos
                await asyncio.gather(*load)
                self.note(f"traffic over: {self.tally.sent} messages sent; waiting for the backlog to drain")
                drained = await self.drain()
                self.note(f"drain over after {drained:.1f} s")
            finally:
                stop.set()
                for task in [*load, chaos]:
                    task.cancel()
                await asyncio.gather(*helpers, *load, chaos, return_exceptions=True)
        outage = await self.sim_post("/_sim/outage", {"seconds": 0}) if self.args.outage else {}
        places = await self.store.places(self.run, self.wechat_keys())
        return {"drain_s": drained, "outage_refused": outage.get("refused", 0), "places": places}

    # --- the result ---

    def summary(self, extra: dict[str, Any], store_state: dict[str, int]) -> dict[str, Any]:
        t = self.tally
        answered = {k for k, n in t.reply_count.items() if n}
        out_of_order = 0
        disorder: list[str] = []
        for uid, seen in t.replies.items():
            highest = 0
            for at, seq in sorted(seen):
                if seq < highest:
                    out_of_order += 1
                    if len(disorder) < 8:
                        disorder.append(f"{uid}: {seq} answered after {highest} (at {at:.3f})")
                highest = max(highest, seq)
        lost = sorted(self.unanswered())
        where: Counter[str] = Counter()
        reasons: dict[str, str] = {}
        for key in lost:
            place, reason = extra["places"].get(_mid_key(self.run, key), ("not in the inbox", ""))
            where[place] += 1
            reasons.setdefault(place, reason)
        valid_5xx = sum(n for s, n in t.valid_codes.items() if s >= 500) - t.backpressure
        hostile_5xx = sum(n for k, n in t.hostile.items() if k.endswith("5xx"))
        return {
            "run": self.run,
            "store": "postgres" if not self.store.sqlite else "sqlite",
            "duration_s": self.args.duration,
            "outage_s": self.args.outage,
            "kills": len(self.gateways) - 1,
            "users": len(self.users),
            "channels": dict(Counter(u.channel for u in self.users)),
            "wechat_passive_replies": t.passive,
            "sent": t.sent,
            "acknowledged": len(t.acked),
            "answered": len(answered & t.acked),
            "lost": len(lost),
            "never_acknowledged": len(t.unacked),
            "never_acknowledged_why": dict(Counter(t.unacked.values()).most_common(5)),
            "duplicated": sum(n - 1 for n in t.reply_count.values() if n > 1),
            "out_of_order": out_of_order,
            "out_of_order_samples": disorder,
            "valid_5xx": valid_5xx,
            "hostile_5xx": hostile_5xx,
            "5xx": valid_5xx + hostile_5xx,
            "backpressure_503": t.backpressure,
            "platform_retries": t.retries,
            "valid_codes": {str(k): v for k, v in sorted(t.valid_codes.items())},
            "hostile": dict(sorted(t.hostile.items())),
            "hostile_5xx_samples": t.hostile_5xx,
            "outage_refused_calls": extra["outage_refused"],
            "drain_s": extra["drain_s"],
            "gateways": self.gateways,
            "peak_rss_mb": max((g["peak_rss_mb"] for g in self.gateways), default=0.0),
            "unanswered_where": dict(where),
            "unanswered_reasons": reasons,
            "store_rows": store_state,
            "events": self.events,
            "gateway_tracebacks": dict(tracebacks(self.workdir / "gateway.log").most_common(8)),
        }


def tracebacks(log_file: Path) -> Counter[str]:
    """The exceptions that ended each traceback in the gateway's log, by their first 150 characters: what
    a 5xx or a failing turn was, without reading the whole log."""
    found: Counter[str] = Counter()
    if not log_file.exists():
        return found
    inside = False
    for line in log_file.read_text(errors="replace").splitlines():
        if line.startswith("Traceback (most recent call last)"):
            inside = True
        elif inside and line and not line.startswith((" ", "During handling", "The above exception")):
            found[line[:150]] += 1
            inside = False
    return found


def make_user(channel: str, n: int) -> User:
    if channel == "messenger":
        return User(f"m{n:04d}", channel, f"{7100000000 + n}", n)
    if channel == "whatsapp":
        return User(f"w{n:04d}", channel, f"1555{n:07d}", n)
    return User(f"x{n:04d}", channel, f"oSoakUser{n:06d}", n)


def _mid_key(run: str, key: str) -> str:
    """The harness's ``uid:seq`` as the store's message id suffix ``run.uid.seq``."""
    return f"{run}.{key.replace(':', '.')}"


def failed(s: dict[str, Any]) -> list[str]:
    """What breaks the promise, as the reasons to exit 1."""
    checks = ("lost", "never_acknowledged", "out_of_order", "5xx")
    return [f"{name.replace('_', ' ')} {s[name]}" for name in checks if s[name]]


def table(s: dict[str, Any]) -> str:
    hostile = s["hostile"]
    users = ", ".join(f"{n} {channel}" for channel, n in s["channels"].items())
    hostile_line = ", ".join(f"{k} {v}" for k, v in hostile.items()) or "none"
    rows: list[tuple[str, str]] = [
        ("messages sent", f"{s['sent']:,} ({s['users']} users: {users})"),
        ("acknowledged (webhook got a 2xx)", f"{s['acknowledged']:,}"),
        (
            "answered (echo seen at the simulator)",
            f"{s['answered']:,} ({s['wechat_passive_replies']:,} passive on WeChat)",
        ),
        ("lost (acknowledged, never answered)", f"{s['lost']:,}"),
        ("never acknowledged", f"{s['never_acknowledged']:,}"),
        ("duplicated replies", f"{s['duplicated']:,}"),
        ("out of order", f"{s['out_of_order']:,}"),
        (
            "5xx (valid webhooks / hostile bodies)",
            f"{s['5xx']:,} ({s['valid_5xx']:,} / {s['hostile_5xx']:,})",
        ),
        ("503 + Retry-After (backpressure, re-sent)", f"{s['backpressure_503']:,}"),
        ("platform retries (re-sent after refusal, reset, timeout)", f"{s['platform_retries']:,}"),
        ("hostile bodies by answer", hostile_line),
        ("platform calls refused by the outage", f"{s['outage_refused_calls']:,}"),
        ("gateway processes (SIGKILLs)", f"{len(s['gateways'])} ({s['kills']})"),
        ("peak RSS of the gateway (max over processes)", f"{s['peak_rss_mb']:.0f} MB"),
        ("drain after the traffic", f"{s['drain_s']:.1f} s"),
    ]
    for place, n in sorted(s["unanswered_where"].items()):
        reason = s["unanswered_reasons"].get(place, "")
        rows.append(
            (
                f"unanswered, sitting in {place}",
                f"{n:,}" + (f" (last reason: {reason[:80]})" if reason else ""),
            )
        )
    state = s["store_rows"]
    rows.append(
        (
            "store: inbox rows by status",
            ", ".join(f"{k[6:]} {v:,}" for k, v in state.items() if k.startswith("inbox ")) or "none",
        )
    )
    rows.append(
        (
            "store: outbox rows by status",
            ", ".join(f"{k[7:]} {v:,}" for k, v in state.items() if k.startswith("outbox ")) or "none",
        )
    )
    width = max(len(n) for n, _ in rows)
    title = (
        f"channelgate soak {s['run']}: {s['duration_s']:g} s of traffic, {s['outage_s']:g} s outage, "
        f"{s['kills']} SIGKILLs, {s['store']} store"
    )
    lines = [title, "", f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|---|"]
    lines += [f"| {n.ljust(width)} | {v} |" for n, v in rows]
    if s["out_of_order_samples"]:
        lines += ["", "answers out of order (first few; users m* Messenger, w* WhatsApp, x* WeChat):"]
        lines += [f"  {sample}" for sample in s["out_of_order_samples"]]
    if s["hostile_5xx_samples"]:
        lines += [
            "",
            "hostile bodies answered 5xx (first few; the gateway's log says why, and each request is in"
            " hostile-5xx/ of the work directory: --keep keeps it):",
        ]
        lines += [f"  {sample}" for sample in s["hostile_5xx_samples"]]
    if s["gateway_tracebacks"]:
        lines += ["", "tracebacks in the gateway's log, by the exception that ended them:"]
        lines += [f"  {n:>5} x {text}" for text, n in s["gateway_tracebacks"].items()]
    problems = failed(s)
    lines += ["", "RESULT: " + ("FAIL (" + ", ".join(problems) + ")" if problems else "PASS")]
    return "\n".join(lines)


# --- stores ---------------------------------------------------------------------------------------------


@contextmanager
def store_url(kind: str, workdir: Path) -> Iterator[str]:
    """The gateway's store: a SQLite file in the work directory, or a throwaway PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'soak.db'}"
        return
    import asyncpg

    admin_dsn = PG_ADMIN_URL.replace("postgresql://", "postgres://", 1)
    name = f"cg_soak_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        con = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            await con.execute(sql)
        finally:
            await con.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- command line ---------------------------------------------------------------------------------------


def pipeline_setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. max_backoff=30), got {text!r}")
    return key.strip(), yaml.safe_load(value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--outage", type=float, default=600, help="seconds every Graph API call answers 500 (0: none)"
    )
    parser.add_argument(
        "--outage-at", type=float, default=20, help="when the outage starts, s into the traffic"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds of traffic (default: until 40 s after the outage)",
    )
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs of the gateway under load")
    parser.add_argument("--down", type=float, default=1.0, help="seconds the gateway stays dead after a kill")
    parser.add_argument("--users", type=int, default=200, help="users, spread evenly over --channels")
    parser.add_argument(
        "--channels",
        type=lambda v: [c.strip() for c in v.split(",") if c.strip()],
        default=["messenger", "whatsapp", "wechat"],
        help="comma list of messenger, whatsapp, wechat (safe mode, passive replies)",
    )
    parser.add_argument(
        "--rate", type=float, default=20, help="valid messages per second, all users together"
    )
    parser.add_argument("--hostile-rate", type=float, default=10, help="hostile bodies per second (0: none)")
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="a SQLite file in the work directory, or a throwaway database on $CHANNELGATE_TEST_PG's server",
    )
    parser.add_argument(
        "--pipeline",
        type=pipeline_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a gateway pipeline setting for the run (repeatable), e.g. max_backoff=30",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=None,
        help="longest wait for the backlog (default: max_backoff + 120 s)",
    )
    parser.add_argument(
        "--redeliver-for", type=float, default=300, help="seconds a webhook is re-sent until a 2xx"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=15, help="seconds before a webhook try times out"
    )
    parser.add_argument("--seed", type=int, default=12, help="seed of the hostile bodies")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here as JSON")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (gateway log, SQLite file)"
    )
    args = parser.parse_args(argv)
    args.pipeline = dict(args.pipeline)
    if args.duration is None:
        args.duration = args.outage_at + args.outage + 40 if args.outage else 300
    if args.drain_timeout is None:
        args.drain_timeout = float(args.pipeline.get("max_backoff", 300)) + 120
    problems = [
        name
        for name, bad in (
            ("--duration", args.duration <= 0),
            ("--users", args.users < len(args.channels)),
            ("--channels", not args.channels or not set(args.channels) <= set(CHANNELS)),
            ("--rate", args.rate <= 0),
            ("--kills", not 0 <= args.kills <= 10),
            ("--outage", args.outage < 0 or (args.outage and args.outage_at + args.outage > args.duration)),
        )
        if bad
    ]
    if problems:
        parser.error(
            f"{', '.join(problems)}: out of range (the outage must end before the traffic does;"
            f" a user per channel at least; channels among {', '.join(CHANNELS)}; 0 to 10 kills)"
        )
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the run like Ctrl-C: every started process is stopped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    with ExitStack() as stack:
        if args.keep:
            workdir = Path(tempfile.mkdtemp(prefix="channelgate-soak-"))
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="channelgate-soak-")))
        url = stack.enter_context(store_url(args.store, workdir))
        sim_port = free_port()
        sim = stack.enter_context(
            running("simulator", [PY, "-m", "bench.sim", "--port", str(sim_port)], sim_port, "/_bench/sent")
        )
        soak = Soak(args, workdir, url, sim.url)
        stack.callback(soak.stop_gateway)
        log(
            f"soak {soak.run}: {args.duration:g} s of traffic at {args.rate:g}/s from {args.users} users,"
            f" outage {args.outage:g} s at t+{args.outage_at:g} s, {args.kills} SIGKILLs,"
            f" hostile {args.hostile_rate:g}/s, {args.store} store; gateway log: {workdir / 'gateway.log'}"
        )
        soak.start_gateway()
        extra = asyncio.run(soak.traffic())
        soak.stop_gateway()
        state = asyncio.run(soak.store.by_status())
        result = soak.summary(extra, state)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(table(result), flush=True)
    if args.keep:
        print(f"work directory kept: {workdir}", file=sys.stderr)
    return 1 if failed(result) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: the gateway and the simulator it started are stopped")
        sys.exit(130)
