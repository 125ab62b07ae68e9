"""An agent's reply on Instagram past the 24-hour window carries the HUMAN_AGENT tag (7 days), as on
Messenger: through the real gateway, the admin API and the Instagram simulator."""

from __future__ import annotations

import time

import httpx

from channelgate.store import admin
from channelgate.testing.gateway import run_gateway, wait_until
from channelgate.testing.instagram import InstagramSimulator

from .test_instagram_e2e import IGSID, ShopBot, config


async def test_agent_reply_after_24_hours_is_tagged_human_agent(
    sim: InstagramSimulator, api_url: str
) -> None:
    settings = config(sim, api_url)
    settings["integrations"][0]["handoff"] = {}  # users may ask for a person; agents answer through the API
    async with run_gateway(settings, bot=ShopBot()) as gw:
        url = gw.webhook_url("instagram", "shop")
        await sim.deliver(url, sim.text(IGSID, "human"))
        await sim.wait_for_sends(1)

        async def confirmed() -> bool:
            return any(
                s.body.get("message", {}).get("text") == "A person will answer you here shortly."
                for s in sim.sent
            )

        await wait_until(confirmed)
        conversation = await gw.store.conversations.find("instagram", "shop", IGSID)
        assert conversation is not None
        cid = conversation["id"]
        _, key = await admin.create_key(gw.store, "ops", "full")
        async with httpx.AsyncClient(
            base_url=f"{gw.url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as http:
            text = {"messages": [{"type": "text", "text": "Ann from support, sorry for the wait"}]}
            assert (await http.post(f"/conversations/{cid}/agent-messages", json=text)).status_code == 202
            await gw.store.conversations.update(cid, last_inbound_at=time.time() - 2 * 86400)
            later = {"messages": [{"type": "text", "text": "Your refund went out today"}]}
            sent = await http.post(f"/conversations/{cid}/agent-messages", json=later)
            assert sent.status_code == 202, sent.text
            await gw.store.conversations.update(cid, last_inbound_at=time.time() - 8 * 86400)
            closed = await http.post(f"/conversations/{cid}/agent-messages", json=later)
            assert closed.status_code == 422  # past the 7 days, the tag cannot open it

        def agent_sends() -> list[dict[str, object]]:
            return [s.body for s in sim.messages() if "Ann" in str(s.body) or "refund" in str(s.body)]

        await wait_until(lambda: len(agent_sends()) == 2, timeout=10)
        first, second = agent_sends()
        assert "tag" not in first and first.get("messaging_type") != "MESSAGE_TAG"
        assert second["tag"] == "HUMAN_AGENT" and second["messaging_type"] == "MESSAGE_TAG"
    assert sim.rejected == []
