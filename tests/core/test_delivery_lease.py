"""A send never outlives its claim: a message waiting for its rate token past the lease is sent once.

Found by the 150 ms benchmark on a loaded machine: a claimed row waited for its send slot and rate token
longer than the lease, the recovery loop put it back in the queue, it was claimed again, and both tasks
sent it (two echoes 0.1 s apart, one row marked sent).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from channelgate.testing import ChannelHarness

from .relay_peer import SECRET, RelayPeer, deliver, event
from .test_pipeline import RecordingBot


async def test_messages_waiting_past_the_lease_for_their_rate_token_are_sent_once(
    peer: RelayPeer, store_url: str
) -> None:
    # 2 sends a second and a 1 s lease: most of the 12 replies, all claimed at once, wait longer than
    # their claim lasts, and the recovery loop (every 10 polls) runs several times meanwhile.
    settings = {"secret": SECRET, "send_url": f"{peer.url}/send", "rate_limit": 2}  # type: ignore[attr-defined]
    pipeline = {"poll_interval": 0.05, "lease_seconds": 1.0}
    async with ChannelHarness(
        "relay", settings, label="main", bot=RecordingBot(), store=store_url, config={"pipeline": pipeline}
    ) as gw:
        async with httpx.AsyncClient() as client:
            for n in range(12):
                response = await deliver(
                    client, gw.webhook_url("relay", "main"), event(f"e{n}", f"u{n}", "hi")
                )
                assert response.status_code == 200
        await peer.wait_for(12, timeout=20)
        await asyncio.sleep(2.0)  # two more recovery rounds: time for a duplicate to arrive
    assert Counter(r["to"] for r in peer.received) == {f"u{n}": 1 for n in range(12)}
    assert peer.repeats == 0  # the peer answers a repeated id as the same message: count them apart
