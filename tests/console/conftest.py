"""Fixtures for the console tests: a gateway with the demo bot, a Messenger integration pointed at the Graph
simulator (both on loopback), operators of each role, and a signed-in HTTP client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from channelgate.store import operators
from channelgate.testing.gateway import RunningGateway, run_gateway
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class ConsoleEnv:
    gw: RunningGateway
    sim: GraphSimulator
    sim_url: str

    @property
    def url(self) -> str:
        return f"{self.gw.url}/console"

    def messenger_config(self, label: str) -> dict[str, Any]:
        return {
            "channel": "messenger",
            "label": label,
            "locale": "en-US",
            "verify_token": self.sim.verify_token,
            "app_secret": self.sim.app_secret,
            "page_access_token": self.sim.access_token,
            "api_base_url": self.sim.api_base_url(self.sim_url),
        }

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gw.url, timeout=20, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/console/login")
    assert page.status_code == 200
    return await client.post(
        "/console/login", data={"csrf": csrf_of(page.text), "username": name, "password": password}
    )


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ConsoleEnv]:
    sim = GraphSimulator(kind="messenger")
    async with serve_app(sim.app) as sim_url:
        config = {
            "bot": "demo",
            "store": f"sqlite:///{tmp_path}/console.db",
            # a send failing for a second is dead-lettered: the dead-letter pages have something to show
            "pipeline": {"poll_interval": 0.05, "max_backoff": 0.2, "retry_budget": 1.0},
            # the console may point integrations at the loopback simulator (the admin API's rule)
            "admin_api": {"allowed_hosts": ["127.0.0.1"]},
            "integrations": [
                {"channel": "webchat", "label": "site", "locale": "en-US"},
            ],
        }
        async with run_gateway(config) as gw:
            yield ConsoleEnv(gw, sim, sim_url)


@pytest.fixture
async def operators_added(env: ConsoleEnv) -> None:
    await operators.add_operator(env.gw.store, "alice", PASSWORD, "full")
    await operators.add_operator(env.gw.store, "rob", PASSWORD, "read")


@pytest.fixture
async def alice(env: ConsoleEnv, operators_added: None) -> AsyncIterator[httpx.AsyncClient]:
    async with env.client() as client:
        answer = await sign_in(client, "alice")
        assert answer.status_code == 303
        yield client


@pytest.fixture
async def rob(env: ConsoleEnv, operators_added: None) -> AsyncIterator[httpx.AsyncClient]:
    async with env.client() as client:
        answer = await sign_in(client, "rob")
        assert answer.status_code == 303
        yield client
