"""The shared token: one per integration across replicas, minted under the store's lock."""

from __future__ import annotations

import asyncio

from channelgate.channels.token import AccessToken, SharedToken
from channelgate.testing.memory import MemoryKeyValue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_replicas_share_one_token_and_mint_it_once() -> None:
    kv, clock, minted = MemoryKeyValue(), Clock(), []

    async def mint() -> AccessToken:
        await asyncio.sleep(0.01)  # both replicas wait on the lock meanwhile
        minted.append(f"t{len(minted)}")
        return AccessToken.minted(minted[-1], 7200, clock())

    a, b = (
        SharedToken(kv, "wechat-token:app", mint, clock=clock),
        SharedToken(kv, "wechat-token:app", mint, clock=clock),
    )
    assert await asyncio.gather(a.get(), b.get()) == ["t0", "t0"]
    assert minted == ["t0"]


async def test_a_token_near_its_expiry_is_replaced() -> None:
    kv, clock, minted = MemoryKeyValue(), Clock(), []

    async def mint() -> AccessToken:
        minted.append(f"t{len(minted)}")
        return AccessToken.minted(minted[-1], 7200, clock())

    token = SharedToken(kv, "k", mint, clock=clock)
    assert await token.get() == "t0"
    clock.now += 7200 - 299  # inside the 300 s refresh margin
    assert await token.get() == "t1"


async def test_a_refused_token_is_replaced_once_across_replicas() -> None:
    kv, clock, minted = MemoryKeyValue(), Clock(), []

    async def mint() -> AccessToken:
        minted.append(f"t{len(minted)}")
        return AccessToken.minted(minted[-1], 7200, clock())

    a, b = SharedToken(kv, "k", mint, clock=clock), SharedToken(kv, "k", mint, clock=clock)
    stale = await a.get()
    await b.get()
    await a.refused(stale)
    await b.refused(stale)  # b learns a already replaced it
    assert minted == ["t0", "t1"]
    assert await b.get() == "t1"


def test_short_lived_tokens_refresh_at_half_their_life() -> None:
    token = AccessToken.minted("t", 100, now=0)
    assert (token.expires_at, token.refresh_at) == (100, 50)
    assert AccessToken.load(token.dump()) == token
    assert AccessToken.load("not json") is None
