"""Live coordination between replicas on one PostgreSQL (coordination.py, integration_sync.py): what the
admin API changes on one replica reaches the others within a second, and peers' news wakes their workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from channelgate.coordination import Handlers, LocalCoordination, PgCoordination, asyncpg_dsn
from channelgate.store import admin
from channelgate.testing.gateway import wait_until
from tests.api.conftest import Api, start_api
from tests.core.relay_peer import SECRET, RelayPeer, deliver, event


@pytest.fixture
async def pair(peer: RelayPeer, pg_url: str) -> AsyncIterator[tuple[Api, Api]]:
    """Two gateways (replicas A and B) on one PostgreSQL database, each with the admin API."""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(start_api(peer, pg_url))
        b = await stack.enter_async_context(start_api(peer, pg_url))
        yield a, b


def kiosk(peer: RelayPeer, **config: str) -> dict[str, object]:
    return {
        "channel": "relay",
        "label": "kiosk",
        "locale": "en-US",
        "config": {"secret": SECRET, "send_url": f"{peer.url}/send", **config},  # type: ignore[attr-defined]
    }


@pytest.mark.postgres
async def test_an_integration_created_on_a_takes_webhooks_on_b_within_a_second(pair: tuple[Api, Api]) -> None:
    a, b = pair
    async with a.client() as client, httpx.AsyncClient() as http:
        created = await client.post("/integrations", json=kiosk(a.peer))
        assert created.status_code == 201
        started = time.monotonic()
        url = b.gw.webhook_url("relay", "kiosk")
        n = 0
        while True:
            n += 1
            answer = await deliver(http, url, event(f"k-{n}", "visitor", "hello"), SECRET)
            if answer.status_code == 200:
                break
            assert answer.status_code == 404, answer.text
            assert time.monotonic() - started < 1.0, "replica B did not serve the new integration in 1 s"
            await asyncio.sleep(0.02)
    await a.peer.wait_for(1)
    assert a.peer.texts("visitor") == ["echo: hello"]


@pytest.mark.postgres
async def test_updates_and_deletes_reach_the_other_replica(pair: tuple[Api, Api]) -> None:
    a, b = pair
    async with a.client() as client:
        assert (await client.post("/integrations", json=kiosk(a.peer))).status_code == 201
        await wait_until(lambda: ("relay", "kiosk") in b.gw.gateway.integrations, timeout=1.0)
        changed = await client.patch("/integrations/relay/kiosk", json={"locale": "fr-FR"})
        assert changed.status_code == 200
        await wait_until(lambda: b.gw.gateway.integrations[("relay", "kiosk")].locale == "fr-FR", timeout=1.0)
        assert (await client.delete("/integrations/relay/kiosk")).status_code == 204
        await wait_until(lambda: ("relay", "kiosk") not in b.gw.gateway.channels, timeout=1.0)
    assert ("relay", "main") in b.gw.gateway.channels  # the config file's integration is never touched


@pytest.mark.postgres
async def test_a_handoff_desk_set_on_a_is_used_on_b(pair: tuple[Api, Api]) -> None:
    a, b = pair
    desk = {"url": "http://127.0.0.1:9", "account_id": 1, "inbox_id": 2, "api_access_token": "cw-token"}
    async with a.client() as client:
        assert (await client.post("/integrations", json=kiosk(a.peer))).status_code == 201
        await wait_until(lambda: ("relay", "kiosk") in b.gw.gateway.integrations, timeout=1.0)
        assert b.gw.gateway.handoffs.chatwoot("relay", "kiosk") is None
        changed = await client.patch("/integrations/relay/kiosk", json={"handoff": {"chatwoot": desk}})
        assert changed.status_code == 200, changed.text
        await wait_until(lambda: b.gw.gateway.handoffs.chatwoot("relay", "kiosk") is not None, timeout=1.0)
        on_b = b.gw.gateway.handoffs.chatwoot("relay", "kiosk")
        assert on_b is not None and on_b.api_access_token.get_secret_value() == "cw-token"
        assert changed.json()["setup"]["chatwoot_webhook_url"] == on_b.callback_url(
            a.gw.url, "relay", "kiosk"
        )


@pytest.mark.postgres
async def test_the_periodic_sync_restarts_nothing_that_did_not_change(
    pair: tuple[Api, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    async with a.client() as client:
        assert (await client.post("/integrations", json=kiosk(a.peer))).status_code == 201
    await wait_until(lambda: ("relay", "kiosk") in b.gw.gateway.integrations, timeout=1.0)
    restarted: list[object] = []
    for replica in (a, b):
        sync = replica.gw.gateway.integration_sync
        monkeypatch.setattr(sync, "replace", lambda integration: restarted.append(integration))
        monkeypatch.setattr(sync, "remove", lambda channel, label: restarted.append((channel, label)))
        await sync.sync()
    assert restarted == []


@pytest.mark.postgres
async def test_the_periodic_sync_catches_a_change_nobody_announced(pair: tuple[Api, Api]) -> None:
    a, b = pair
    body = kiosk(a.peer)
    config = {**body["config"], "auto_detect": False, "language_command": True}  # type: ignore[dict-item]
    assert await admin.insert_integration(b.gw.store, "relay", "kiosk", "en-US", config)  # no NOTIFY
    await asyncio.sleep(0.3)
    assert ("relay", "kiosk") not in b.gw.gateway.integrations
    await b.gw.gateway.integration_sync.sync()  # what the 30-second safety net runs
    assert ("relay", "kiosk") in b.gw.gateway.integrations


@pytest.mark.postgres
async def test_peers_hear_turns_outbox_and_poll_news_but_not_their_own(pg_url: str) -> None:
    dsn = asyncpg_dsn(make_url(pg_url))
    heard: dict[str, list[object]] = {"a": [], "b": []}

    def handlers(name: str) -> Handlers:
        async def integration(channel: str, label: str) -> None:
            heard[name].append(("integration", channel, label))

        async def resync() -> None:
            heard[name].append("resync")

        return Handlers(
            integration=integration,
            turns=lambda ids: heard[name].append(("turns", tuple(ids))),
            outbox=lambda: heard[name].append("outbox"),
            poll=lambda: heard[name].append("poll"),
            resync=resync,
        )

    a, b = PgCoordination(dsn, "owner-a"), PgCoordination(dsn, "owner-b")
    await a.start(handlers("a"))
    await b.start(handlers("b"))
    try:
        a.turns_accepted(["c1", "c2"])
        a.turns_accepted(["c2", "c3"])
        a.outbox_queued()
        a.outbox_queued()
        a.integration_changed("relay", "kiosk")
        a.poll_now()
        await a.flush()
        await wait_until(lambda: len(heard["b"]) >= 4, timeout=1.0)
        await asyncio.sleep(0.1)
        assert sorted(map(str, heard["b"])) == sorted(
            map(str, [("integration", "relay", "kiosk"), ("turns", ("c1", "c2", "c3")), "outbox", "poll"])
        )
        assert heard["a"] == []  # its own news
        # a lost connection comes back, and the replica catches up on what it may have missed
        import asyncpg

        admin_conn = await asyncpg.connect(dsn)
        try:
            pid = b._conn.get_server_pid()
            await admin_conn.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin_conn.close()
        await wait_until(lambda: "resync" in heard["b"] and b.connected, timeout=5.0)
        a.outbox_queued()
        await wait_until(lambda: heard["b"].count("outbox") == 2, timeout=2.0)
    finally:
        await a.stop()
        await b.stop()


async def test_sqlite_has_no_peers(peer: RelayPeer, tmp_path: Path) -> None:
    async with start_api(peer, f"sqlite:///{tmp_path}/gw.db") as api:
        assert type(api.gw.gateway.coordination) is LocalCoordination
        assert api.gw.gateway.coordination.connected


@pytest.fixture
async def slow_polling_pair(peer: RelayPeer, pg_url: str) -> AsyncIterator[tuple[Api, Api]]:
    """Two replicas whose polls come every 30 s: whatever happens sooner is the wake-ups' doing."""
    pipeline = {"poll_interval": 30, "max_backoff": 0.2, "retry_budget": 1.0}
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(start_api(peer, pg_url, pipeline=pipeline))
        b = await stack.enter_async_context(start_api(peer, pg_url, pipeline=pipeline))
        yield a, b


@pytest.mark.postgres
async def test_a_turn_the_acceptor_cannot_start_is_run_by_a_peer_at_once(
    slow_polling_pair: tuple[Api, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = slow_polling_pair
    monkeypatch.setattr(a.gw.gateway.turns, "kick", lambda conversation_id: None)  # no slot free on A
    async with httpx.AsyncClient() as http:
        answer = await deliver(http, a.gw.webhook_url("relay", "main"), event("p-1", "visitor", "hi"))
    assert answer.status_code == 200
    await a.peer.wait_for(1, timeout=2.0)
    assert a.peer.texts("visitor") == ["echo: hi"] and b.bot.turns and not a.bot.turns


@pytest.mark.postgres
async def test_a_queued_send_wakes_the_peers_delivery_worker(
    slow_polling_pair: tuple[Api, Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = slow_polling_pair
    monkeypatch.setattr(a.gw.gateway.delivery, "wake", lambda: None)  # A's worker sleeps through it
    body = {
        "channel": "relay",
        "label": "main",
        "user_id": "u-send",
        "messages": [{"type": "text", "text": "hey"}],
    }
    async with a.client() as client:
        assert (await client.post("/messages", json=body)).status_code == 202
    await a.peer.wait_for(1, timeout=2.0)
    assert a.peer.texts("u-send") == ["hey"]
