"""``channelgate serve --workers N``: N processes on one port sharing the work through PostgreSQL, refused on
SQLite with the reason; readiness per process; SIGTERM drains every worker."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from channelgate.cli import app
from channelgate.testing.server import free_port, serve_app
from channelgate.web.serving import workers_refusal
from tests.api.conftest import start_api
from tests.core.relay_peer import RelayPeer, deliver, event

from .procs import alive, bot_calls, children, environment, serve, wait_ready, write_config


def test_more_than_one_worker_is_refused_on_sqlite_with_the_reason() -> None:
    refusal = workers_refusal(2, "sqlite:///gw.db", cores=8)
    assert refusal is not None
    assert "PostgreSQL" in refusal and "one writer" in refusal and "postgresql://" in refusal
    assert workers_refusal(1, "sqlite:///gw.db", cores=8) is None
    assert workers_refusal(2, "postgresql://db/cg", cores=2) is None
    too_many = workers_refusal(3, "postgresql://db/cg", cores=2)
    assert too_many is not None and "2 core(s)" in too_many and "--workers 2" in too_many
    assert workers_refusal(0, "postgresql://db/cg", cores=2) is not None


def test_the_cli_refuses_before_starting_anything(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "channelgate.yaml",
        port=free_port(),
        store=f"sqlite:///{tmp_path}/gw.db",
        peer_url="http://x",
    )
    result = CliRunner().invoke(app, ["serve", "--config", str(config), "--workers", "2"])
    assert result.exit_code == 2
    assert "needs PostgreSQL" in result.output and "one writer" in result.output
    assert not (tmp_path / "gw.db").exists()
    by_env = CliRunner().invoke(app, ["serve", "--config", str(config)], env={"CHANNELGATE_WORKERS": "2"})
    assert by_env.exit_code == 2 and "needs PostgreSQL" in by_env.output


@pytest.mark.postgres
@pytest.mark.slow
async def test_two_workers_share_one_port_and_drain_on_sigterm(pg_url: str, tmp_path: Path) -> None:
    peer = RelayPeer()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bot_log = tmp_path / "bot.log"
    bot_log.touch()
    async with serve_app(peer.app) as peer_url:
        config = write_config(tmp_path / "channelgate.yaml", port=port, store=pg_url, peer_url=peer_url)
        proc = serve(config, environment(bot_log), "--workers", "2")
        try:
            await wait_ready(url, proc)
            workers = children(proc.pid)
            assert len(workers) >= 2  # the two workers (spawn may add its resource tracker)

            async def pid_of_one_connection() -> int:
                async with httpx.AsyncClient() as client:  # a new connection each time
                    answer = await client.get(f"{url}/readyz")
                    assert answer.status_code == 200
                    return int(answer.json()["pid"])

            pids: set[int] = set()
            for _ in range(20):
                pids |= set(await asyncio.gather(*[pid_of_one_connection() for _ in range(10)]))
                if len(pids) == 2:
                    break
            assert len(pids) == 2, f"only {pids} answered"
            assert pids <= workers

            messages = 60
            async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0)) as client:
                answers = await asyncio.gather(
                    *[
                        deliver(
                            client, f"{url}/webhooks/relay/main", event(f"w{i}", f"user{i % 12}", f"msg{i}")
                        )
                        for i in range(messages)
                    ]
                )
            assert {a.status_code for a in answers} == {200}
            await peer.wait_for(messages, timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
        assert not any(alive(pid) for pid in pids), "the workers ended with their parent"
    assert Counter(r["message"]["text"] for r in peer.received) == Counter(
        {f"echo: msg{i}": 1 for i in range(messages)}
    )
    ran_by = Counter(pid for pid, _, _ in bot_calls(bot_log))
    assert set(ran_by) <= pids and sum(ran_by.values()) == messages


async def test_readiness_says_when_this_process_drains(peer: RelayPeer, tmp_path: Path) -> None:
    async with start_api(peer, f"sqlite:///{tmp_path}/gw.db") as api, httpx.AsyncClient() as http:
        ready = await http.get(f"{api.gw.url}/readyz")
        assert ready.status_code == 200 and ready.json()["pid"] == os.getpid()
        api.gw.gateway.accepting, api.gw.gateway.stopping = False, True  # what Gateway.stop does first
        draining = await http.get(f"{api.gw.url}/readyz")
        api.gw.gateway.accepting, api.gw.gateway.stopping = True, False
    assert draining.status_code == 503
    assert draining.json()["status"] == "not ready" and "draining" in draining.json()["reason"]
