"""A full-scope API key cannot take the platform tokens or probe the server: endpoint settings only name
allowed hosts, Google keys come inline and send their assertion only to Google (or api_base_url's host),
security switches stay on, and none of it makes a request whose answer could come back.

A loopback "attacker" listener records every request: it must receive nothing."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from channelgate.api_rules import public_url
from channelgate.store import Store, admin
from channelgate.testing.gateway import wait_until
from channelgate.testing.google import GoogleAgentSimulator, generate_key_pem
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from tests.core.relay_peer import RelayPeer

from .conftest import Api, relay_integration, start_api

LEAK_MARKER = "INTERNAL-PAGE-7f3c"


@dataclass
class Listener:
    """An attacker's server on loopback: answers every request with a recognisable page."""

    received: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def record(self, request: Request) -> PlainTextResponse:
        self.received.append((request.method, request.url.path, dict(request.headers)))
        return PlainTextResponse(LEAK_MARKER, status_code=500)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.record, methods=["GET", "POST", "PUT"])])


@functools.cache
def google_key() -> str:
    return generate_key_pem()


@dataclass
class Scene:
    api: Api
    graph: GraphSimulator
    graph_url: str
    google: GoogleAgentSimulator
    google_url: str
    evil: Listener
    evil_url: str


@pytest.fixture
async def scene(peer: RelayPeer, store_url: str) -> AsyncIterator[Scene]:
    graph = GraphSimulator(access_token="EAAG-stored-page-token", app_secret="exfil-app-secret")
    google = GoogleAgentSimulator(private_key_pem=google_key())
    evil = Listener()
    async with (
        serve_app(graph.app) as graph_url,
        serve_app(google.app) as google_url,
        serve_app(evil.app) as evil_url,
    ):
        allowed = [graph_url.removeprefix("http://"), google_url.removeprefix("http://")]
        async with start_api(peer, store_url, admin_api={"allowed_hosts": allowed}) as api:
            yield Scene(api, graph, graph_url, google, google_url, evil, evil_url)


def messenger_body(scene: Scene, **config: Any) -> dict[str, Any]:
    return {
        "channel": "messenger",
        "label": "shop",
        "config": {
            "app_secret": scene.graph.app_secret,
            "page_access_token": scene.graph.access_token,
            "api_base_url": scene.graph.api_base_url(scene.graph_url),
            **config,
        },
    }


def gbm_body(scene: Scene, service_account: str, **config: Any) -> dict[str, Any]:
    return {
        "channel": "gbm",
        "label": "agent",
        "config": {
            "client_token": scene.google.client_token,
            "service_account": service_account,
            "api_base_url": f"{scene.google_url}/v1",
            **config,
        },
    }


async def test_api_base_url_cannot_be_moved_to_another_host(scene: Scene) -> None:
    async with scene.api.client() as client:
        created = await client.post("/integrations", json=messenger_body(scene))
        assert created.status_code == 201, created.text
        moved = await client.patch(
            "/integrations/messenger/shop", json={"config": {"api_base_url": f"{scene.evil_url}/v25.0"}}
        )
        elsewhere = await client.post(
            "/integrations",
            json={**messenger_body(scene, api_base_url=scene.evil_url), "label": "other"},
        )
        lookalikes = [
            await client.post(
                "/integrations", json={**messenger_body(scene, api_base_url=url), "label": f"l{i}"}
            )
            for i, url in enumerate(
                [
                    "https://graph.facebook.com.evil.example/v25.0",
                    "http://graph.facebook.com/v25.0",  # the official host, but in clear
                    "https://graph.facebook.com:8443/v25.0",
                    f"https://graph.facebook.com@{scene.evil_url.removeprefix('http://')}/v25.0",
                    "https://[graph.facebook.com/v25.0",
                ]
            )
        ]
        listing = (await client.get("/integrations")).json()
        current = (await client.get("/integrations/messenger/shop")).json()
    for refused in (moved, elsewhere, *lookalikes):
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"].startswith("config.api_base_url: ")
        assert "admin_api.allowed_hosts" in refused.json()["error"]
        assert LEAK_MARKER not in refused.text
    assert [i["label"] for i in listing["items"] if i["channel"] == "messenger"] == ["shop"]
    assert current["config"]["api_base_url"] == scene.graph.api_base_url(scene.graph_url)
    # the integration still sends to the Graph simulator, with its token; the listener saw nothing
    await scene.graph.deliver(created.json()["callback_url"], scene.graph.messenger_text("PSID-1", "hi"))
    await wait_until(lambda: any(s.body.get("message") == {"text": "echo: hi"} for s in scene.graph.sent))
    assert scene.evil.received == []


async def test_without_allowed_hosts_only_the_official_host_is_accepted(
    peer: RelayPeer, tmp_path: Path
) -> None:
    evil = Listener()
    async with (
        serve_app(evil.app) as evil_url,
        start_api(peer, f"sqlite:///{tmp_path}/gw.db", admin_api={"allowed_hosts": []}) as api,
        api.client() as client,
    ):
        relay = await client.post(
            "/integrations",
            json={"channel": "relay", "label": "r2", "config": {"secret": "s", "send_url": f"{evil_url}/x"}},
        )
        assert relay.status_code == 400  # an undeclared URL setting of an external channel counts too
        assert relay.json()["error"].startswith("config.send_url: 127.0.0.1:")
    assert evil.received == []


async def test_service_account_is_accepted_only_inline(scene: Scene, tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(scene.google.service_account_info(f"{scene.google_url}/token")))
    async with scene.api.client() as client:
        answers = [
            await client.post("/integrations", json=gbm_body(scene, path))
            for path in (str(key_file), "/etc/passwd", "/no/such/file", "~/.ssh/id_rsa")
        ]
        inline = json.dumps(scene.google.service_account_info(f"{scene.google_url}/token"))
        created = await client.post("/integrations", json=gbm_body(scene, inline))
        patched = await client.patch(
            "/integrations/gbm/agent", json={"config": {"service_account": "/etc/hostname"}}
        )
    errors = {a.json()["error"] for a in answers}
    assert all(a.status_code == 400 for a in answers)
    assert len(errors) == 1  # one answer whatever the path: nothing says whether a file exists
    assert next(iter(errors)).startswith("config.service_account: give the key's JSON itself")
    assert created.status_code == 201, created.text
    assert patched.status_code == 400 and patched.json()["error"] == next(iter(errors))


async def test_a_key_with_a_foreign_token_uri_never_gets_an_assertion(scene: Scene) -> None:
    stolen = json.dumps(scene.google.service_account_info(f"{scene.evil_url}/token"))
    async with scene.api.client() as client:
        refused = await client.post("/integrations", json=gbm_body(scene, stolen))
    assert refused.status_code == 400
    assert "token_uri" in refused.json()["error"] and "not Google's" in refused.json()["error"]
    assert LEAK_MARKER not in refused.text
    assert scene.evil.received == []


async def test_security_switches_are_refused_through_the_api(scene: Scene) -> None:
    async with scene.api.client() as client:
        insecure = await client.post(
            "/integrations",
            json={
                "channel": "messenger",
                "label": "open",
                "config": {
                    "page_access_token": "t",
                    "insecure_no_signature": True,
                    "api_base_url": scene.graph.api_base_url(scene.graph_url),
                },
            },
        )
        created = await client.post("/integrations", json=messenger_body(scene))
        switched = await client.patch(
            "/integrations/messenger/shop",
            json={"config": {"app_secret": None, "insecure_no_signature": True}},
        )
        plaintext = await client.post(
            "/integrations",
            json={
                "channel": "wechat",
                "label": "oa",
                "config": {
                    "app_id": "wx1234567890abcdef",
                    "app_secret": "s",
                    "token": "tok123",
                    "encryption_mode": "plaintext",
                },
            },
        )
        still = (await client.get("/integrations/messenger/shop")).json()
    assert insecure.status_code == 400
    assert insecure.json()["error"].startswith("config.insecure_no_signature:")
    assert created.status_code == 201
    assert switched.status_code == 400 and "config.insecure_no_signature" in switched.json()["error"]
    assert plaintext.status_code == 400 and plaintext.json()["error"].startswith("config.encryption_mode:")
    assert still["config"]["insecure_no_signature"] is False and still["config"]["app_secret"] == "***"


async def test_insecure_config_file_integrations_are_shown_in_readyz_and_health(
    peer: RelayPeer, tmp_path: Path
) -> None:
    insecure = {
        "channel": "messenger",
        "label": "trial",
        "locale": "en-US",
        "verify_token": "v",
        "page_access_token": "t",
        "insecure_no_signature": True,
    }
    integrations = [relay_integration(peer.url), insecure]  # type: ignore[attr-defined]
    async with start_api(peer, f"sqlite:///{tmp_path}/gw.db", integrations=integrations) as api:
        async with httpx.AsyncClient(base_url=api.gw.url) as http:
            ready = await http.get("/readyz")
        async with api.client() as client:
            health = (await client.get("/integrations/messenger/trial")).json()["health"]
            relay = (await client.get("/integrations/relay/main")).json()["health"]
    body = ready.json()
    assert ready.status_code == 200
    assert "insecure_no_signature" in body["insecure"]["messenger/trial"]
    assert (
        "signatures are not required"
        in body["integrations"]["messenger/trial"]["insecure"]["insecure_no_signature"]
    )
    assert "relay/main" not in body["insecure"]
    assert "insecure_no_signature" in health["insecure"] and relay["insecure"] == {}


async def test_monitoring_token_guards_metrics_and_readyz(peer: RelayPeer, tmp_path: Path) -> None:
    token = "mon-" + "x" * 28
    async with (
        start_api(peer, f"sqlite:///{tmp_path}/gw.db", monitoring_token=token) as api,
        httpx.AsyncClient(base_url=api.gw.url) as http,
    ):
        bare = {path: await http.get(path) for path in ("/metrics", "/readyz")}
        wrong = {
            path: await http.get(path, headers={"Authorization": "Bearer mon-wrong"})
            for path in ("/metrics", "/readyz")
        }
        right = {
            path: await http.get(path, headers={"Authorization": f"Bearer {token}"})
            for path in ("/metrics", "/readyz")
        }
        alive = await http.get("/healthz")
    for path in ("/metrics", "/readyz"):
        assert bare[path].status_code == 401 and "monitoring token" in bare[path].json()["error"]
        assert bare[path].headers["www-authenticate"].startswith("Bearer")
        assert wrong[path].status_code == 401
        assert right[path].status_code == 200
    assert "channelgate" in right["/metrics"].text and right["/readyz"].json()["status"] == "ready"
    assert alive.status_code == 200


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://cdn.example.com/a.png", True),
        ("http://images.example.org:8080/a.png", True),
        ("http://127.0.0.1:5432/", False),
        ("http://localhost/a.png", False),
        ("http://[::1]/a.png", False),
        ("http://10.0.0.7/a.png", False),
        ("http://169.254.169.254/latest/meta-data/", False),  # the cloud metadata service
        ("http://2130706433/", False),  # 127.0.0.1 as one number
        ("http://metadata.google.internal/", False),
        ("http://intranet/", False),
        ("file:///etc/passwd", False),
        ("gopher://example.com/", False),
        ("http://[::1/", False),  # unreadable: refused, not a 500
        ("http://example.com:99999/", False),
    ],
)
def test_public_url(url: str, public: bool) -> None:
    assert public_url(url) is public


async def test_api_sent_media_must_be_public(api: Api, client: httpx.AsyncClient) -> None:
    evil = Listener()
    async with serve_app(evil.app) as evil_url:
        target = {"channel": "relay", "label": "main", "user_id": "u-media"}
        internal = f"{evil_url}/admin.png"
        sends = [
            [{"type": "media", "kind": "image", "url": internal}],
            [{"type": "text", "text": "hi"}, {"type": "card", "title": "t", "media": {"url": internal}}],
            [{"type": "carousel", "cards": [{"title": "a", "media": {"url": internal}}]}],
            [{"type": "channel", "payloads": {"wechat": {"_media": {"type": "image", "url": internal}}}}],
        ]
        answers = [await client.post("/messages", json={**target, "messages": m}) for m in sends]
        broadcast = await client.post(
            "/broadcasts",
            json={
                "channel": "relay",
                "label": "main",
                "recipients": [{"user_id": "u1"}],
                "message": sends[0][0],
            },
        )
        public = await client.post(
            "/messages",
            json={
                **target,
                "messages": [{"type": "media", "kind": "image", "url": "https://cdn.example.com/a.png"}],
            },
        )
    for answer, index in zip(answers, (0, 1, 0, 0), strict=True):
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"].startswith(f"messages.{index}: '{internal}' is not a public")
    assert broadcast.status_code == 400 and broadcast.json()["error"].startswith("message: ")
    assert public.status_code == 202
    assert evil.received == []


async def test_a_stored_integration_the_api_would_refuse_does_not_start_until_fixed(
    peer: RelayPeer, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What an earlier version let a key store (a token sent elsewhere, signatures off) stays off after
    the upgrade, and can be fixed or removed through the API."""
    graph = GraphSimulator(access_token="EAAG-old-token", app_secret="old-app-secret")
    evil = Listener()
    async with serve_app(graph.app) as graph_url, serve_app(evil.app) as evil_url:
        store = Store(store_url)
        await store.create_schema()
        base = {"verify_token": "v", "page_access_token": graph.access_token}
        await admin.insert_integration(
            store,
            "messenger",
            "moved",
            "en-US",
            {**base, "app_secret": graph.app_secret, "api_base_url": evil_url},
        )
        await admin.insert_integration(
            store,
            "messenger",
            "open",
            "en-US",
            {**base, "insecure_no_signature": True, "api_base_url": graph_url},
        )
        await store.close()
        allowed = {"allowed_hosts": [graph_url.removeprefix("http://")]}
        async with start_api(peer, store_url, admin_api=allowed) as api, api.client() as client:
            running = sorted(api.gw.gateway.channels)
            listed = [i["label"] for i in (await client.get("/integrations")).json()["items"]]
            fixed = await client.patch(
                "/integrations/messenger/moved",
                json={"config": {"api_base_url": graph.api_base_url(graph_url)}},
            )
            removed = await client.delete("/integrations/messenger/open")
            gone = await client.delete("/integrations/messenger/open")
            callback = fixed.json()["callback_url"]
            await graph.deliver(callback, graph.messenger_text("PSID-9", "back"))
            await wait_until(lambda: any(s.body.get("message") == {"text": "echo: back"} for s in graph.sent))
            after = sorted(api.gw.gateway.channels)
    assert running == [("relay", "main")] and listed == ["main"]
    refused = [r.getMessage() for r in caplog.records if "is not started" in r.getMessage()]
    assert any("messenger/moved" in m and "config.api_base_url" in m for m in refused)
    assert any("messenger/open" in m and "config.insecure_no_signature" in m for m in refused)
    assert fixed.status_code == 200, fixed.text
    assert removed.status_code == 204 and gone.status_code == 404
    assert after == [("messenger", "moved"), ("relay", "main")]
    assert evil.received == []
