"""What each replica's ``/metrics`` says of its share of the fleet's limits (shares.py, web/app.py), with
two gateways on the test PostgreSQL: each counts both and uses half, and the survivor of a drain takes
the whole at once."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from channelgate.testing.gateway import RunningGateway, wait_until
from tests.api.conftest import start_api
from tests.core.relay_peer import RelayPeer


async def fleet_view(gw: RunningGateway) -> tuple[float, float]:
    """(replicas, share) as the replica's ``/metrics`` answers them."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{gw.url}/metrics")).text
    families = text_string_to_metric_families(text)
    values = {sample.name: sample.value for family in families for sample in family.samples}
    return values["channelgate_fleet_replicas"], values["channelgate_fleet_share"]


@pytest.mark.postgres
async def test_each_replica_shows_the_replicas_it_counts_and_its_share(peer: RelayPeer, pg_url: str) -> None:
    async with start_api(peer, pg_url) as a:
        assert await fleet_view(a.gw) == (1.0, 1.0)
        async with start_api(peer, pg_url) as b:
            for gw in (a.gw, b.gw):
                await wait_until(lambda gw=gw: _shows(gw, (2.0, 0.5)))
        # B drained: it deleted its row and said so, so A takes the whole without waiting out an expiry
        # (6 s; the wait's 2 s would not cover one)
        await wait_until(lambda: _shows(a.gw, (1.0, 1.0)), timeout=2)


async def _shows(gw: RunningGateway, expected: tuple[float, float]) -> bool:
    return await fleet_view(gw) == expected
