"""A gateway with one integration per webhook channel, driven synchronously through its ASGI app, so that
hypothesis (which runs a plain function per example) can post signed bodies and read the store back.

Every body is signed correctly for its channel: the fuzz reaches the parsers, which is where authentic
but malformed input used to answer 500.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import itertools
import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from channelgate.bots.base import Bot
from channelgate.channels.google import sign as google_sign
from channelgate.channels.inbound import MAX_DEDUP_KEY, id_problem
from channelgate.channels.meta import sign as meta_sign
from channelgate.channels.registry import load_registry
from channelgate.channels.wechat.crypto import MessageCrypto, sha1_signature
from channelgate.config import parse_config
from channelgate.gateway import Gateway
from channelgate.store.tables import conversations, inbox
from channelgate.testing.google import GoogleAgentSimulator, generate_key_pem
from channelgate.turns import LocationInput, Reply, TextInput, Turn, input_adapter
from channelgate.web.app import create_app

from .samples import AGENT, PAGE_ID, PHONE_NUMBER_ID, WECHAT_ACCOUNT

APP_SECRET = "fuzz-app-secret"
OTHER_PAGE_ID = "5566778899"
CLIENT_TOKEN = "fuzz-client-token"
WECHAT_TOKEN = "fuzztoken1"
WECHAT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WECHAT_APP_ID = "wx1234567890abcdef"
#: what the webhook route answers when a parser raised something unexpected (a bug in that parser)
MALFORMED = "malformed webhook: the gateway could not read it"
#: nothing listens here: the quiet bot never replies, so nothing is ever sent
NOWHERE = "http://127.0.0.1:9"


class QuietBot(Bot):
    """Answers nothing, and checks every turn it is given is one a bot can use."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        return Reply()


@functools.cache
def service_account() -> str:
    """A service-account key (RSA: slow to make, so made once per test process)."""
    key = GoogleAgentSimulator(client_token=CLIENT_TOKEN, private_key_pem=generate_key_pem())
    return orjson.dumps(key.service_account_info(token_uri=f"{NOWHERE}/token")).decode()


def integrations() -> list[dict[str, Any]]:
    meta = {"verify_token": "v", "app_secret": APP_SECRET, "api_base_url": f"{NOWHERE}/v25.0"}
    google = {
        "client_token": CLIENT_TOKEN,
        "service_account": service_account(),
        "api_base_url": f"{NOWHERE}/v1",
    }
    return [
        {"channel": "messenger", "label": "fuzz", "page_access_token": "t", "page_id": PAGE_ID, **meta},
        # another Page of the same app: same app secret, so only the page id tells their events apart
        {
            "channel": "messenger",
            "label": "other",
            "page_access_token": "t2",
            "page_id": OTHER_PAGE_ID,
            **meta,
        },
        {
            "channel": "whatsapp",
            "label": "fuzz",
            "access_token": "t",
            "phone_number_id": PHONE_NUMBER_ID,
            **meta,
        },
        {"channel": "gbm", "label": "fuzz", "agent_id": AGENT, **google},
        {"channel": "rbm", "label": "fuzz", "agent_id": AGENT, **google},
        {
            "channel": "wechat",
            "label": "fuzz",
            "app_id": WECHAT_APP_ID,
            "app_secret": "s",
            "token": WECHAT_TOKEN,
            "encoding_aes_key": WECHAT_AES_KEY,
            "encryption_mode": "safe",
            "original_id": WECHAT_ACCOUNT,
            "api_base_url": NOWHERE,
        },
    ]


class Harness:
    """The gateway, an event loop to run it in, and signing for each channel."""

    def __init__(self, runner: asyncio.Runner, gateway: Gateway, bot: QuietBot) -> None:
        self.runner = runner
        self.gateway = gateway
        self.bot = bot
        app = create_app(gateway, manage_lifecycle=False)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
        self.crypto = MessageCrypto(WECHAT_TOKEN, WECHAT_AES_KEY, WECHAT_APP_ID)
        self._nonces = itertools.count(1)
        self.last_row = 0

    # --- posting signed bodies ---

    def post(
        self,
        channel: str,
        body: bytes,
        *,
        query: dict[str, str] | None = None,
        label: str = "fuzz",
        **headers: str,
    ) -> httpx.Response:
        return self.runner.run(self.apost(channel, body, query=query, label=label, **headers))

    async def apost(
        self,
        channel: str,
        body: bytes,
        *,
        query: dict[str, str] | None = None,
        label: str = "fuzz",
        **headers: str,
    ) -> httpx.Response:
        return await self.client.post(
            f"/webhooks/{channel}/{label}", content=body, params=query, headers=headers
        )

    def meta(self, channel: str, body: bytes, label: str = "fuzz") -> httpx.Response:
        return self.post(channel, body, label=label, **meta_headers(body))

    def gbm(self, body: bytes) -> httpx.Response:
        return self.post("gbm", body, **{"X-Goog-Signature": google_sign(body, CLIENT_TOKEN)})

    def rbm(self, data: bytes) -> httpx.Response:
        envelope = {
            "message": {"data": base64.b64encode(data).decode(), "messageId": "1"},
            "subscription": "s",
        }
        return self.post(
            "rbm", orjson.dumps(envelope), **{"X-Goog-Signature": google_sign(data, CLIENT_TOKEN)}
        )

    def wechat(self, plain: bytes) -> httpx.Response:
        """A safe-mode callback carrying ``plain`` (the message XML, any bytes) encrypted and signed."""
        timestamp, nonce = str(int(time.time())), f"n{next(self._nonces)}"
        encrypted, msg_signature = self.crypto.seal(plain, timestamp, nonce)
        body = (
            f"<xml><ToUserName><![CDATA[{WECHAT_ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        ).encode()
        query = {
            "signature": sha1_signature(WECHAT_TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": msg_signature,
        }
        return self.post("wechat", body, query=query, **{"Content-Type": "text/xml"})

    # --- what the store holds ---

    def new_rows(self) -> list[dict[str, Any]]:
        """Inbox rows (with their conversation's user id) stored since the last call."""

        async def go() -> list[dict[str, Any]]:
            query = (
                select(inbox, conversations.c.user_id)
                .select_from(inbox.outerjoin(conversations, inbox.c.conversation_id == conversations.c.id))
                .where(inbox.c.id > self.last_row)
                .order_by(inbox.c.id)
            )
            async with self.gateway.store.engine.connect() as conn:
                return [dict(row) for row in (await conn.execute(query)).mappings()]

        rows = self.runner.run(go())
        if rows:
            self.last_row = max(int(row["id"]) for row in rows)
        return rows

    def check(self, response: httpx.Response) -> None:
        """The properties every answer keeps: never 5xx; a refusal stores nothing; what an accepted
        webhook stored obeys the id and text rules and loads as a bot turn."""
        assert response.status_code < 500, (response.status_code, response.text)
        # the route's last line of defence must never be what answered: parsers handle their own input
        assert MALFORMED not in response.text, response.text
        rows = self.new_rows()
        if response.status_code >= 300:
            assert rows == [], f"answered {response.status_code} but stored {rows}"
        for row in rows:
            check_row(row)


def meta_headers(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": meta_sign(body, APP_SECRET)}


def check_row(row: dict[str, Any]) -> None:
    assert id_problem(row["dedup_key"], MAX_DEDUP_KEY) is None, row
    if row["platform_message_id"] is not None:
        assert id_problem(row["platform_message_id"]) is None, row
    assert "\x00" not in orjson.dumps(row["raw"]).decode(), row
    if row["kind"] != "message":
        return
    assert id_problem(row["user_id"] or "") is None, row
    value = input_adapter.validate_python(row["input"])
    assert "\x00" not in orjson.dumps(row["input"]).decode(), row
    if isinstance(value, TextInput):
        assert value.text.strip(), row
    if isinstance(value, LocationInput):
        assert math.isfinite(value.latitude) and -90 <= value.latitude <= 90, row
        assert math.isfinite(value.longitude) and -180 <= value.longitude <= 180, row


@contextmanager
def running_gateway(store: str, **settings: Any) -> Iterator[Harness]:
    """A started gateway on ``store`` with the fuzz integrations, torn down afterwards."""
    registry = load_registry()
    config = {
        "store": store,
        "integrations": integrations(),
        "pipeline": {"poll_interval": 0.05},
        **settings,
    }
    bot = QuietBot()
    runner = asyncio.Runner()
    try:
        gateway = Gateway(parse_config(config, registry, "fuzz config"), registry, bot=bot)
        runner.run(gateway.start())
        harness = Harness(runner, gateway, bot)
        try:
            yield harness
        finally:
            runner.run(harness.client.aclose())
            runner.run(gateway.stop())
    finally:
        leftovers = runner.run(_cancel_leftovers(10.0))
        if leftovers:
            # Runner.close() would wait forever for a task that ignores its cancellation: name it instead
            warnings.warn(f"tasks still running after gateway.stop(): {leftovers}", stacklevel=1)
            runner.get_loop().close()
        else:
            runner.close()


async def _cancel_leftovers(timeout: float) -> list[str]:
    """Cancel the tasks the gateway left behind; the ones still running after ``timeout``, with stacks."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    if not tasks:
        return []
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    return [f"{t.get_name()}: {t.get_stack(limit=3)}" for t in pending]
