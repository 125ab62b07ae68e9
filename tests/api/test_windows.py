"""Channel window rules on proactive sends, per channel, against the platform simulators: Messenger needs a
message tag outside 24 hours, WhatsApp a template, WeChat a template outside 48 hours, Google Business
Messages stops after 30 days. A send the platform would refuse is answered 422 with the reason, and
nothing is queued or created."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from channelgate.testing.google import GoogleAgentSimulator, generate_key_pem
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from channelgate.testing.wechat import WeChatSimulator

from .conftest import Api, relay_integration, start_api

HOUR = 3600.0
TEXT = [{"type": "text", "text": "Your parcel is on its way"}]
TEMPLATE = {"type": "template", "name": "order_update", "language": "en_US", "parameters": ["A-17"]}


@functools.cache
def google_key() -> str:
    """One RSA key for every Google simulator of the module (generating one is slow)."""
    return generate_key_pem()


@dataclass
class Platforms:
    api: Api
    graph: GraphSimulator
    wechat: WeChatSimulator
    google: GoogleAgentSimulator

    async def user_wrote(self, channel: str, user: str, hours_ago: float | None) -> None:
        """A conversation whose user last wrote ``hours_ago`` (None: never)."""
        store = self.api.gw.store
        conversation = await store.conversations.for_user(channel, "shop", user, "en-US")
        when = None if hours_ago is None else time.time() - hours_ago * HOUR
        await store.conversations.update(conversation, last_inbound_at=when)


@pytest.fixture
async def platforms(tmp_path: Path, peer: Any) -> AsyncIterator[Platforms]:
    graph = GraphSimulator(access_token="EAAG-api-token", app_secret="api-app-secret")
    wechat = WeChatSimulator(grace_period=0)
    google = GoogleAgentSimulator(private_key_pem=google_key())
    async with (
        serve_app(graph.app) as graph_url,
        serve_app(wechat.app) as wechat_url,
        serve_app(google.app) as google_url,
    ):
        meta = {
            "label": "shop",
            "locale": "en-US",
            "verify_token": graph.verify_token,
            "app_secret": graph.app_secret,
            "api_base_url": graph.api_base_url(graph_url),
        }
        integrations = [
            relay_integration(peer.url),
            {"channel": "messenger", **meta, "page_access_token": graph.access_token},
            {
                "channel": "whatsapp",
                **meta,
                "access_token": graph.access_token,
                "phone_number_id": graph.phone_number_id,
            },
            {
                "channel": "wechat",
                "label": "shop",
                "locale": "en-US",
                "app_id": wechat.app_id,
                "app_secret": wechat.app_secret,
                "token": wechat.token,
                "encryption_mode": "plaintext",  # no inbound callbacks here; the simulator has no key
                "api_base_url": wechat_url,
            },
            {
                "channel": "gbm",
                "label": "shop",
                "locale": "en-US",
                "client_token": google.client_token,
                "service_account": json.dumps(google.service_account_info(f"{google_url}/token")),
                "api_base_url": f"{google_url}/v1",
            },
        ]
        async with start_api(peer, f"sqlite:///{tmp_path}/gw.db", integrations=integrations) as api:
            yield Platforms(api, graph, wechat, google)


def send(channel: str, user: str, messages: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": channel, "label": "shop", "user_id": user, "messages": messages}
    if options:
        body["options"] = options
    return body


async def post(p: Platforms, body: dict[str, Any]) -> httpx.Response:
    async with p.api.client() as http:
        return await http.post("/messages", json=body)


# --- Messenger: 24 hours, then a message tag --------------------------------------------------------------


async def test_messenger_outside_24_hours_without_a_tag_is_refused(platforms: Platforms) -> None:
    await platforms.user_wrote("messenger", "PSID-1", hours_ago=30)
    response = await post(platforms, send("messenger", "PSID-1", TEXT))
    assert response.status_code == 422
    reason = response.json()["error"]
    assert "24-hour window has closed" in reason and "tag" in reason and "30 hours ago" in reason
    conversation = await platforms.api.gw.store.conversations.find("messenger", "shop", "PSID-1")
    assert await platforms.api.gw.store.outbox.rows(conversation["id"]) == []


async def test_messenger_first_contact_without_a_tag_is_refused_and_creates_nothing(
    platforms: Platforms,
) -> None:
    response = await post(platforms, send("messenger", "PSID-new", TEXT))
    assert response.status_code == 422 and "has not written yet" in response.json()["error"]
    assert await platforms.api.gw.store.conversations.find("messenger", "shop", "PSID-new") is None


async def test_messenger_outside_24_hours_with_a_tag_reaches_the_platform(platforms: Platforms) -> None:
    await platforms.user_wrote("messenger", "PSID-2", hours_ago=30)
    response = await post(platforms, send("messenger", "PSID-2", TEXT, tag="POST_PURCHASE_UPDATE"))
    assert response.status_code == 202
    sent = await platforms.graph.wait_for_sends(1)
    assert sent[0].product == "messenger" and sent[0].recipient == "PSID-2"
    assert sent[0].body["messaging_type"] == "MESSAGE_TAG" and sent[0].body["tag"] == "POST_PURCHASE_UPDATE"
    assert sent[0].body["message"] == {"text": "Your parcel is on its way"}


async def test_messenger_unknown_tag_is_refused(platforms: Platforms) -> None:
    await platforms.user_wrote("messenger", "PSID-3", hours_ago=30)
    response = await post(platforms, send("messenger", "PSID-3", TEXT, tag="SHOPPING_SPREE"))
    assert response.status_code == 422 and "unknown Messenger message tag" in response.json()["error"]


async def test_messenger_inside_24_hours_sends_an_update(platforms: Platforms) -> None:
    await platforms.user_wrote("messenger", "PSID-4", hours_ago=2)
    response = await post(platforms, send("messenger", "PSID-4", TEXT))
    assert response.status_code == 202
    sent = await platforms.graph.wait_for_sends(1)
    assert sent[0].body["messaging_type"] == "UPDATE" and "tag" not in sent[0].body


# --- WhatsApp: 24 hours, then only templates --------------------------------------------------------------


async def test_whatsapp_text_outside_the_window_is_refused(platforms: Platforms) -> None:
    await platforms.user_wrote("whatsapp", "16505550001", hours_ago=25)
    response = await post(platforms, send("whatsapp", "16505550001", TEXT))
    assert response.status_code == 422
    assert "customer service window has closed" in response.json()["error"]
    assert "template" in response.json()["error"]


async def test_whatsapp_template_outside_the_window_reaches_the_platform(platforms: Platforms) -> None:
    response = await post(platforms, send("whatsapp", "16505550002", [TEMPLATE]))
    assert response.status_code == 202
    sent = await platforms.graph.wait_for_sends(1)
    assert sent[0].product == "whatsapp" and sent[0].body["type"] == "template"
    assert sent[0].body["template"]["name"] == "order_update"
    assert sent[0].body["to"] == "16505550002"


async def test_whatsapp_text_with_a_template_fallback_sends_the_template(platforms: Platforms) -> None:
    await platforms.user_wrote("whatsapp", "16505550003", hours_ago=48)
    response = await post(platforms, send("whatsapp", "16505550003", TEXT, template_fallback=TEMPLATE))
    assert response.status_code == 202
    sent = await platforms.graph.wait_for_sends(1)
    assert sent[0].body["type"] == "template" and sent[0].body["template"]["name"] == "order_update"


async def test_whatsapp_text_inside_the_window_is_sent_as_text(platforms: Platforms) -> None:
    await platforms.user_wrote("whatsapp", "16505550004", hours_ago=1)
    response = await post(platforms, send("whatsapp", "16505550004", TEXT))
    assert response.status_code == 202
    sent = await platforms.graph.wait_for_sends(1)
    assert sent[0].body["type"] == "text" and sent[0].body["text"]["body"] == "Your parcel is on its way"


# --- WeChat: 48 hours, then template messages -------------------------------------------------------------


async def test_wechat_inside_48_hours_uses_the_customer_service_api(platforms: Platforms) -> None:
    await platforms.user_wrote("wechat", "oUser-1", hours_ago=47)
    response = await post(platforms, send("wechat", "oUser-1", TEXT))
    assert response.status_code == 202
    sent = await platforms.wechat.wait_for_sends(1)
    assert sent[0].api == "custom" and sent[0].body["touser"] == "oUser-1"
    assert sent[0].body["text"] == {"content": "Your parcel is on its way"}


async def test_wechat_after_48_hours_text_is_refused(platforms: Platforms) -> None:
    await platforms.user_wrote("wechat", "oUser-2", hours_ago=49)
    response = await post(platforms, send("wechat", "oUser-2", TEXT))
    assert response.status_code == 422 and "48-hour" in response.json()["error"]


async def test_wechat_after_48_hours_a_template_message_is_sent(platforms: Platforms) -> None:
    await platforms.user_wrote("wechat", "oUser-3", hours_ago=72)
    template = {"type": "template", "name": "TPL-order-shipped", "parameters": ["A-17", "today"]}
    response = await post(platforms, send("wechat", "oUser-3", [template]))
    assert response.status_code == 202
    sent = await platforms.wechat.wait_for_sends(1)
    assert sent[0].api == "template" and sent[0].body["template_id"] == "TPL-order-shipped"
    assert sent[0].body["data"] == {"keyword1": {"value": "A-17"}, "keyword2": {"value": "today"}}


# --- Google Business Messages: 30 days --------------------------------------------------------------------


async def test_gbm_within_30_days_reaches_the_platform(platforms: Platforms) -> None:
    await platforms.user_wrote("gbm", "conv-1", hours_ago=29 * 24)
    response = await post(platforms, send("gbm", "conv-1", TEXT))
    assert response.status_code == 202
    sent = await platforms.google.wait_for_sends(1)
    assert sent[0].target == "conv-1" and sent[0].body["text"] == "Your parcel is on its way"


async def test_gbm_after_30_days_is_refused(platforms: Platforms) -> None:
    await platforms.user_wrote("gbm", "conv-2", hours_ago=31 * 24)
    response = await post(platforms, send("gbm", "conv-2", TEXT))
    assert response.status_code == 422 and "within 30 days" in response.json()["error"]
    assert platforms.google.sent == []
