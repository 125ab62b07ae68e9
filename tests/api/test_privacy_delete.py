"""``DELETE /conversations/{id}`` and ``channelgate conversations delete``: a privacy request removes every
row of that user, queued messages included, and nothing of anyone else; read-only keys and running turns
are refused."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from channelgate.api.cli import register
from channelgate.store.tables import conversations, inbox, outbox
from tests.core.relay_peer import RelayPeer, deliver, event

from .conftest import Api, start_api


def run_cli(*args: str, env: dict[str, str]) -> Any:
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, list(args), env=env)


async def rows_of(api: Api, conversation_id: str) -> tuple[int, int, int]:
    """(conversations, inbox, outbox) rows stored for one conversation."""
    async with api.gw.store.engine.connect() as conn:
        counts = []
        for table, column in (
            (conversations, conversations.c.id),
            (inbox, inbox.c.conversation_id),
            (outbox, outbox.c.conversation_id),
        ):
            found = await conn.execute(
                select(func.count()).select_from(table).where(column == conversation_id)
            )
            counts.append(int(found.scalar_one()))
    return counts[0], counts[1], counts[2]


async def conversation_of(client: httpx.AsyncClient, user: str) -> str:
    items = (await client.get("/conversations", params={"user_id": user})).json()["items"]
    assert len(items) == 1
    return str(items[0]["id"])


async def test_a_privacy_request_deletes_one_user_through_the_api_and_the_cli(
    peer: RelayPeer, store_url: str
) -> None:
    async with start_api(peer, store_url) as api, api.client() as client:
        async with httpx.AsyncClient() as http:
            for i, user in enumerate(("ann", "bob", "cy")):
                await deliver(http, api.gw.webhook_url("relay", "main"), event(f"m-{i}", user, "hello"))
        await peer.wait_for(3)
        ann, bob, cy = [await conversation_of(client, u) for u in ("ann", "bob", "cy")]
        # a proactive message too (whether it went out yet or not: queued, held and dead rows go as well,
        # tests/core/test_retention.py)
        queued = await client.post(
            "/messages", json={"conversation_id": ann, "messages": [{"type": "text", "text": "later"}]}
        )
        assert queued.status_code == 202, queued.text
        before_bob = await rows_of(api, bob)
        assert before_bob[1] >= 1 and before_bob[2] >= 1

        refused = await api.client(api.read_key).delete(f"/conversations/{ann}")
        assert refused.status_code == 403
        deleted = await client.delete(f"/conversations/{ann}")
        assert deleted.status_code == 200, deleted.text
        answer = deleted.json()
        assert answer["id"] == ann
        assert answer["deleted"]["conversations"] == 1
        assert answer["deleted"]["inbox"] == 1 and answer["deleted"]["outbox"] == 2
        assert await rows_of(api, ann) == (0, 0, 0)
        assert (await client.get(f"/conversations/{ann}")).status_code == 404
        assert (await client.delete(f"/conversations/{ann}")).status_code == 404
        assert await rows_of(api, bob) == before_bob

        # a turn of bob's is running (its lease is held): 409 with Retry-After, nothing deleted
        await api.gw.store.conversations.update(bob, lease_owner="elsewhere", lease_until=time.time() + 60)
        busy = await client.delete(f"/conversations/{bob}")
        assert busy.status_code == 409 and busy.headers["retry-after"] == "5"
        assert await rows_of(api, bob) == before_bob

        # the CLI, through the same API
        _, key = await _full_key(api)
        env = {"CHANNELGATE_API_KEY": key, "CHANNELGATE_URL": api.gw.url}
        before_cy = await rows_of(api, cy)
        result = await asyncio.to_thread(run_cli, "conversations", "delete", cy, "--yes", "--json", env=env)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)[0]["deleted"]["inbox"] == before_cy[1]
        assert await rows_of(api, cy) == (0, 0, 0)
        assert await rows_of(api, bob) == before_bob
        again = await asyncio.to_thread(run_cli, "conversations", "delete", cy, "--yes", env=env)
        assert again.exit_code == 2 and "404" in again.output


async def _full_key(api: Api) -> tuple[Any, str]:
    from channelgate.store import admin

    return await admin.create_key(api.gw.store, "privacy", "full")
