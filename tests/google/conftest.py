"""Fixtures for the Google channel tests: the agent-messaging simulator on a loopback port, and GBM/RBM
channels whose service account, token endpoint and API all point at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from channelgate.channels.base import ChannelContext
from channelgate.channels.gbm import GBMChannel
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.rbm import RBMChannel
from channelgate.testing.google import GoogleAgentSimulator, generate_key_pem
from channelgate.testing.memory import MemoryKeyValue
from channelgate.testing.server import serve_app

from .kit import CLIENT_TOKEN, context, gbm_channel, rbm_channel


@pytest.fixture(scope="session")
def key_pem() -> str:
    return generate_key_pem()


@pytest.fixture
def sim(key_pem: str) -> GoogleAgentSimulator:
    return GoogleAgentSimulator(client_token=CLIENT_TOKEN, private_key_pem=key_pem)


@pytest.fixture
async def sim_url(sim: GoogleAgentSimulator) -> AsyncIterator[str]:
    async with serve_app(sim.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[PlatformHTTP]:
    async with PlatformHTTP(timeout=5) as client:
        yield client


@pytest.fixture
def kv() -> MemoryKeyValue:
    return MemoryKeyValue()


@pytest.fixture
def key_json(sim: GoogleAgentSimulator, sim_url: str) -> str:
    """The simulator's service-account key, inline, with its token_uri on the simulator."""
    return orjson.dumps(sim.service_account_info(token_uri=f"{sim_url}/token")).decode()


@pytest.fixture
def gbm_ctx(http: PlatformHTTP, kv: MemoryKeyValue) -> ChannelContext:
    return context(http, kv, "gbm")


@pytest.fixture
def gbm(gbm_ctx: ChannelContext, sim_url: str, key_json: str) -> GBMChannel:
    return gbm_channel(
        gbm_ctx, service_account=key_json, api_base_url=f"{sim_url}/v1", representative_name="Shop Bot"
    )


@pytest.fixture
def rbm(http: PlatformHTTP, kv: MemoryKeyValue, sim_url: str, key_json: str) -> RBMChannel:
    return rbm_channel(context(http, kv, "rbm"), service_account=key_json, api_base_url=f"{sim_url}/v1")
