""" "Send a test": a signed event through the gateway's own webhook route, as the platform would send it.

The event is built and signed with the integration's own secret here, on the server (the secret never
reaches the browser), and posted in-process to the same ``webhook`` route function platforms reach, so it
goes through authentication, parsing, dedup, the bot and rendering like any real message. The bot's reply
is then queued for delivery as usual: with a real platform the send to the test user is refused (the user
does not exist) and shows as failed with the platform's reason, which is itself a useful check of the
credentials; with the Graph simulator it is accepted.

Only channels whose webhook format the gateway can produce are offered: Messenger and WhatsApp (through the
Graph simulator's payload builders, which follow Meta's documented shapes) and WeChat (the WeChat
simulator's callback builder, signed with the integration's token and sealed in its encryption mode), GBM
and RBM (Google's documented event shapes, signed with the client token). A
WeChat answer given passively, in the callback's HTTP response, shows as sent like any other.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from sqlalchemy.engine import RowMapping
from starlette.applications import Starlette
from starlette.routing import Route

from channelgate.config import Integration
from channelgate.gateway import Gateway
from channelgate.store import operators
from channelgate.web.webhooks import webhook

TEST_USER = "channelgate-console-test"
#: RCS users are phone numbers: a number from the range reserved for fiction (+1 555 01xx)
RBM_TEST_USER = "+15550100999"
SUPPORTED = ("messenger", "whatsapp", "wechat", "gbm", "rbm")
#: How long the page waits for the bot's answer to reach the platform (seconds).
WAIT = 15.0


@dataclass
class TestResult:
    status: int
    answer: str
    conversation_id: str | None = None
    replies: list[RowMapping] = field(default_factory=list)
    waited_out: bool = False


def supported(integration: Integration) -> bool:
    return integration.channel in SUPPORTED


def _secret(integration: Integration, name: str) -> str | None:
    value = getattr(integration.config, name, None)
    return value.get_secret_value() if value is not None and hasattr(value, "get_secret_value") else None


@dataclass(frozen=True, slots=True)
class Event:
    body: bytes
    headers: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)


def build_event(integration: Integration, text: str) -> Event:
    """The webhook the platform would send for ``text`` from the test user: body, headers, query."""
    if integration.channel == "wechat":
        return _wechat_event(integration, text)
    if integration.channel in ("gbm", "rbm"):
        return _google_event(integration, text)
    raw, headers = _meta_event(integration, text)
    return Event(raw, headers)


def _google_event(integration: Integration, text: str) -> Event:
    """A Business Messages message, or an RCS message in its Pub/Sub push envelope, signed with the
    integration's client token (``X-Goog-Signature``) as Google signs them."""
    from channelgate.channels.google import sign
    from channelgate.testing.google import GoogleAgentSimulator

    token = _secret(integration, "client_token") or ""
    headers = {"content-type": "application/json"}
    if integration.channel == "gbm":
        body = orjson.dumps(GoogleAgentSimulator.gbm_text(TEST_USER, text, display_name="Console test"))
        return Event(body, {**headers, "x-goog-signature": sign(body, token)})
    agent = str(getattr(integration.config, "agent_id", "")).removesuffix("@rbm.goog")
    data = orjson.dumps(GoogleAgentSimulator.rbm_text(RBM_TEST_USER, text, agent_id=agent))
    envelope = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": secrets.token_hex(8),
            "publishTime": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
            "attributes": {},
        },
        "subscription": "projects/channelgate/subscriptions/console-test",
    }
    return Event(orjson.dumps(envelope), {**headers, "x-goog-signature": sign(data, token)})


def _wechat_event(integration: Integration, text: str) -> Event:
    """A text callback signed with the integration's token, sealed in its encryption mode."""
    from channelgate.testing.wechat import WeChatSimulator

    config = integration.config
    sim = WeChatSimulator(
        app_id=str(getattr(config, "app_id", "")),
        token=_secret(integration, "token") or "",
        encoding_aes_key=_secret(integration, "encoding_aes_key"),
    )
    mode = str(getattr(config, "encryption_mode", "plaintext"))
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
    body, extra = sim.seal(sim.text_message(TEST_USER, text), timestamp, nonce, mode)  # type: ignore[arg-type]
    query = {**sim.signed_query(timestamp, nonce, TEST_USER), **extra}
    return Event(body.encode(), {"content-type": "text/xml"}, query)


def _meta_event(integration: Integration, text: str) -> tuple[bytes, dict[str, str]]:
    from channelgate.testing.graph import GraphSimulator

    app_secret = _secret(integration, "app_secret") or ""
    if integration.channel == "messenger":
        sim = GraphSimulator(kind="messenger", app_secret=app_secret)
        payload = sim.messenger_text(TEST_USER, text)
    else:
        phone = str(getattr(integration.config, "phone_number_id", "") or "")
        sim = GraphSimulator(kind="whatsapp", app_secret=app_secret, phone_number_id=phone)
        payload = sim.whatsapp_text(TEST_USER, text)
    raw = orjson.dumps(payload)
    headers = {"content-type": "application/json", "user-agent": "channelgate-console-test"}
    if app_secret:
        headers["x-hub-signature-256"] = sim.signature(raw)
    return raw, headers


def webhook_app(gateway: Gateway) -> Starlette:
    """Just the webhook route, for in-process posts (no lifespan: the gateway is already running)."""
    app = Starlette(routes=[Route("/webhooks/{channel}/{label}", webhook, methods=["GET", "POST"])])
    app.state.gateway = gateway
    return app


async def send_test(gateway: Gateway, hooks: Starlette, integration: Integration, text: str) -> TestResult:
    """Post the test event and wait (up to :data:`WAIT`) for the bot's reply to be sent or to fail."""
    event = build_event(integration, text)
    since = 0
    user = RBM_TEST_USER if integration.channel == "rbm" else TEST_USER
    existing = await gateway.store.conversations.find(integration.channel, integration.label, user)
    if existing is not None:
        rows = await operators.conversation_outbox(gateway.store, existing["id"], 0)
        since = max((int(r["id"]) for r in rows), default=0)
    transport = httpx.ASGITransport(app=hooks)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.invalid") as client:
        response = await client.post(
            f"/webhooks/{integration.channel}/{integration.label}",
            content=event.body,
            headers=event.headers,
            params=event.query,
        )
    result = TestResult(response.status_code, response.text[:500])
    if response.status_code != 200:
        return result
    deadline = time.monotonic() + WAIT
    while True:
        conversation = await gateway.store.conversations.find(integration.channel, integration.label, user)
        if conversation is not None:
            result.conversation_id = conversation["id"]
            rows = await operators.conversation_outbox(gateway.store, conversation["id"], since)
            result.replies = [r for r in rows if r["kind"] == "message"]
            if result.replies and all(
                r["status"] not in ("held", "queued", "sending") for r in result.replies
            ):
                return result
        if time.monotonic() > deadline:
            result.waited_out = True
            return result
        await asyncio.sleep(0.1)


def preview(body: Any) -> list[str]:
    """What a user would see of a platform payload, as lines of text: the message text, then button and
    quick-reply titles in brackets. Never markup: the page shows these as text."""
    lines: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and node.strip():
            if key in ("text", "body", "caption"):
                lines.append(node)
            elif key == "title":
                lines.append(f"[{node}]")

    walk(body.get("message", body) if isinstance(body, dict) else body)
    return lines
