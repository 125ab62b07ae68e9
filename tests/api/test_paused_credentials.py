"""Refused credentials pause an integration's deliveries; replacing it through the API resumes them."""

from __future__ import annotations

import httpx

from channelgate.testing.gateway import wait_until
from tests.core.relay_peer import SECRET, deliver, event

from .conftest import Api


async def test_a_refused_secret_pauses_deliveries_until_the_api_replaces_it(
    api: Api, client: httpx.AsyncClient
) -> None:
    body = {
        "channel": "relay",
        "label": "kiosk",
        "locale": "en-US",
        "config": {"secret": "not-the-peers-secret", "send_url": f"{api.peer.url}/send"},  # type: ignore[attr-defined]
    }
    created = (await client.post("/integrations", json=body)).json()
    async with httpx.AsyncClient() as http:
        for n, text in enumerate(["one", "two"]):
            answer = await deliver(
                http, created["callback_url"], event(f"p-{n}", "v1", text), "not-the-peers-secret"
            )
            assert answer.status_code == 200

    async def red() -> bool:
        health = (await client.get("/integrations/relay/kiosk")).json()["health"]
        return health["status"] == "failing" and "deliveries are paused" in health["message"]

    await wait_until(red, timeout=10)
    message = (await client.get("/integrations/relay/kiosk")).json()["health"]["message"]
    assert message.startswith("the relay refused the signature (401); check the integration's secret")
    assert "not-the-peers-secret" not in message
    assert api.peer.received == []

    fixed = await client.patch("/integrations/relay/kiosk", json={"config": {"secret": SECRET}})
    assert fixed.status_code == 200
    await api.peer.wait_for(2, timeout=10)
    assert [r["message"]["text"] for r in api.peer.received] == ["echo: one", "echo: two"]
    assert (await client.get("/integrations/relay/kiosk")).json()["health"]["status"] == "ok"
