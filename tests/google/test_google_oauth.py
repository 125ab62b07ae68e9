"""Service-account OAuth through the simulator: the JWT assertion is verified against the key's public
half; tokens are cached in memory and in the shared store, refreshed before expiry, dropped when refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from channelgate.channels.base import InvalidCredentials, Throttled, Unavailable
from channelgate.channels.gbm import SCOPE as GBM_SCOPE
from channelgate.channels.google.credentials import load_service_account
from channelgate.channels.google.token import ServiceAccountToken
from channelgate.channels.http import PlatformHTTP
from channelgate.testing.google import GoogleAgentSimulator, generate_key_pem
from channelgate.testing.memory import MemoryKeyValue

from .kit import context


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def source(
    http: PlatformHTTP, kv: MemoryKeyValue, key_json: str, clock: Clock | None = None
) -> ServiceAccountToken:
    ctx = context(http, kv)
    return ServiceAccountToken(
        ctx,
        SecretStr(key_json),
        GBM_SCOPE,
        product="Business Messages",
        **({"clock": clock} if clock else {}),
    )


async def test_token_comes_from_a_verified_jwt_assertion(
    sim: GoogleAgentSimulator, sim_url: str, http: PlatformHTTP, kv: MemoryKeyValue, key_json: str
) -> None:
    token = await source(http, kv, key_json).get()
    assert token.startswith("ya29.sim-")
    [claims] = sim.token_requests
    assert claims["iss"] == sim.client_email
    assert claims["aud"] == f"{sim_url}/token"
    assert claims["scope"] == GBM_SCOPE
    assert claims["exp"] - claims["iat"] == 3600


async def test_token_is_cached_in_memory_and_shared_through_the_store(
    sim: GoogleAgentSimulator, http: PlatformHTTP, kv: MemoryKeyValue, key_json: str
) -> None:
    first = source(http, kv, key_json)
    token = await first.get()
    assert await first.get() == token
    replica = source(http, kv, key_json)  # another process sharing the store
    assert await replica.get() == token
    assert len(sim.token_requests) == 1


async def test_concurrent_callers_share_one_refresh(
    sim: GoogleAgentSimulator, http: PlatformHTTP, kv: MemoryKeyValue, key_json: str
) -> None:
    sources = [source(http, kv, key_json) for _ in range(5)]
    tokens = await asyncio.gather(*(s.get() for s in sources))
    assert len(set(tokens)) == 1
    assert len(sim.token_requests) == 1


async def test_token_is_refreshed_before_it_expires(
    sim: GoogleAgentSimulator, http: PlatformHTTP, kv: MemoryKeyValue, key_json: str
) -> None:
    clock = Clock()
    tokens = source(http, kv, key_json, clock)
    first = await tokens.get()
    clock.now += 3600 - 301  # still valid, not yet in the refresh margin
    assert await tokens.get() == first
    clock.now += 2  # within five minutes of expiry
    second = await tokens.get()
    assert second != first
    assert len(sim.token_requests) == 2


async def test_short_lived_tokens_refresh_at_half_their_life(
    key_pem: str, http: PlatformHTTP, kv: MemoryKeyValue
) -> None:
    from channelgate.testing.server import serve_app

    sim = GoogleAgentSimulator(token_lifetime=60, private_key_pem=key_pem)
    async with serve_app(sim.app) as url:
        clock = Clock()
        tokens = source(http, kv, orjson.dumps(sim.service_account_info(f"{url}/token")).decode(), clock)
        first = await tokens.get()
        clock.now += 29
        assert await tokens.get() == first
        clock.now += 2
        assert await tokens.get() != first


async def test_invalidated_token_is_replaced(
    sim: GoogleAgentSimulator, http: PlatformHTTP, kv: MemoryKeyValue, key_json: str
) -> None:
    tokens = source(http, kv, key_json)
    first = await tokens.get()
    await tokens.forget(first)
    assert await tokens.get() != first
    assert len(sim.token_requests) == 2


async def test_invalidating_a_stale_token_keeps_a_newer_one(
    sim: GoogleAgentSimulator, http: PlatformHTTP, kv: MemoryKeyValue, key_json: str
) -> None:
    tokens = source(http, kv, key_json)
    current = await tokens.get()
    await source(http, kv, key_json).forget("an-older-token")
    assert await source(http, kv, key_json).get() == current
    assert len(sim.token_requests) == 1


async def test_a_key_the_simulator_did_not_issue_is_refused(
    sim: GoogleAgentSimulator, sim_url: str, http: PlatformHTTP, kv: MemoryKeyValue
) -> None:
    """Same client_email and key id, another private key: the signature check must catch it."""
    forged = GoogleAgentSimulator(private_key_pem=generate_key_pem())
    info = forged.service_account_info(f"{sim_url}/token")
    info["private_key_id"] = sim.private_key_id
    ctx = context(http, kv)
    tokens = ServiceAccountToken(
        ctx, SecretStr(orjson.dumps(info).decode()), GBM_SCOPE, product="Business Messages"
    )
    with pytest.raises(InvalidCredentials, match="invalid_grant"):
        await tokens.get()
    assert ctx.health.status == "failing"
    assert "service_account" in ctx.health.message
    assert info["private_key"] not in ctx.health.message
    assert sim.token_requests == []


async def test_token_endpoint_outage_is_retryable(
    http: PlatformHTTP, kv: MemoryKeyValue, key_pem: str
) -> None:
    sim = GoogleAgentSimulator(private_key_pem=key_pem)
    info = sim.service_account_info("http://127.0.0.1:9/token")  # nothing listens on port 9
    with pytest.raises(Unavailable, match="unreachable"):
        await source(http, kv, orjson.dumps(info).decode()).get()


@pytest.mark.parametrize(("status", "error"), [(503, Unavailable), (429, Throttled)])
async def test_token_endpoint_errors_are_typed(
    status: int, error: type[Exception], http: PlatformHTTP, kv: MemoryKeyValue, key_pem: str
) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from channelgate.testing.server import serve_app

    async def failing(request: object) -> JSONResponse:
        return JSONResponse({"error": "busy"}, status, headers={"Retry-After": "3"})

    async with serve_app(Starlette(routes=[Route("/token", failing, methods=["POST"])])) as url:
        info = GoogleAgentSimulator(private_key_pem=key_pem).service_account_info(f"{url}/token")
        with pytest.raises(error) as caught:
            await source(http, kv, orjson.dumps(info).decode()).get()
    assert caught.value.retry_after == 3.0  # type: ignore[attr-defined]


async def test_key_file_path_works_like_inline_json(
    sim: GoogleAgentSimulator, http: PlatformHTTP, kv: MemoryKeyValue, key_json: str, tmp_path: Path
) -> None:
    path = tmp_path / "key.json"
    path.write_text(key_json)
    assert await source(http, kv, str(path)).get()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("/no/such/key.json", "cannot read /no/such/key.json"),
        ("{not json", "not valid JSON"),
        ('{"type": "authorized_user"}', "not a service-account key"),
        ('{"type": "service_account", "client_email": "a@b"}', "lacks private_key, token_uri"),
    ],
)
def test_broken_keys_are_named_without_their_content(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_service_account(SecretStr(value))


async def test_broken_key_turns_health_red_on_first_use(http: PlatformHTTP, kv: MemoryKeyValue) -> None:
    ctx = context(http, kv)
    tokens = ServiceAccountToken(
        ctx, SecretStr('{"type": "service_account"}'), GBM_SCOPE, product="Business Messages"
    )
    with pytest.raises(InvalidCredentials):
        await tokens.get()
    assert ctx.health.status == "failing"
