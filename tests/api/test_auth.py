"""API keys: every endpoint needs one; revoked keys and read-only keys on writes are refused."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select

from channelgate.store import admin
from channelgate.store.admin_tables import api_keys

from .conftest import Api

SEND = {"channel": "relay", "label": "main", "user_id": "u1", "messages": [{"type": "text", "text": "hi"}]}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/integrations"),
        ("GET", "/conversations"),
        ("POST", "/messages"),
        ("GET", "/dead-letters"),
        ("POST", "/broadcasts"),
        ("GET", "/media/relay/main/x"),
        ("GET", "/no-such-endpoint"),
    ],
)
async def test_request_without_a_key_is_401_before_anything_else(api: Api, method: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=api.url) as http:
        response = await http.request(method, path, content=b"{not json")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["error"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_key_and_wrong_scheme_are_401(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as http:
        unknown = await http.get("/integrations", headers={"Authorization": "Bearer cg_nope"})
        basic = await http.get("/integrations", headers={"Authorization": f"Basic {api.full_key}"})
    assert unknown.status_code == 401 and unknown.json() == {"error": "unknown API key"}
    assert basic.status_code == 401


async def test_revoked_key_is_403(api: Api) -> None:
    key, secret = await admin.create_key(api.gw.store, "old-shop", "full")
    async with api.client(secret) as http:
        assert (await http.get("/integrations")).status_code == 200
        revoked = await admin.revoke_key(api.gw.store, key.id)
        response = await http.get("/integrations")
    assert [k.id for k in revoked] == [key.id]
    assert response.status_code == 403 and "revoked" in response.json()["error"]


async def test_read_only_key_reads_but_cannot_write(api: Api) -> None:
    async with api.client(api.read_key) as http:
        listing = await http.get("/integrations")
        send = await http.post("/messages", json=SEND)
        delete = await http.delete("/integrations/relay/main")
    assert listing.status_code == 200
    assert send.status_code == 403 and "read-only" in send.json()["error"]
    assert delete.status_code == 403
    await asyncio.sleep(0.1)
    assert api.peer.received == []


async def test_keys_are_stored_as_sha256_only(api: Api) -> None:
    async with api.gw.store.engine.connect() as conn:
        rows = (await conn.execute(select(api_keys))).mappings().all()
    stored = " ".join(str(dict(r)) for r in rows)
    assert api.full_key not in stored and api.read_key not in stored
    assert admin.hash_key(api.full_key) in stored


async def test_openapi_document_is_public_and_declares_bearer_auth(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as http:
        response = await http.get("/openapi.json")
    doc = response.json()
    assert response.status_code == 200
    assert doc["servers"] == [{"url": "/api/v1"}]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `channelgate keys`",
    }
    send = doc["paths"]["/messages"]["post"]
    assert {"202", "400", "401", "403", "409", "422"} <= set(send["responses"])
    assert "HTTPValidationError" not in str(doc)


async def test_malformed_requests_are_400_with_a_reason(client: httpx.AsyncClient) -> None:
    not_json = await client.post("/messages", content=b"{oops", headers={"content-type": "application/json"})
    missing = await client.post("/messages", json={"channel": "relay", "label": "main", "messages": []})
    unknown_field = await client.post("/messages", json={**SEND, "colour": "blue"})
    bad_limit = await client.get("/conversations", params={"limit": 0})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]
    assert missing.status_code == 400 and "messages" in missing.json()["error"]
    assert unknown_field.status_code == 400 and "colour" in unknown_field.json()["error"]
    assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["error"]


async def test_unknown_endpoint_is_404_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-endpoint")
    assert response.status_code == 404 and response.json() == {"error": "Not Found"}


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/messages", content=b"x" * (8 * 1024 * 1024 + 1))
    assert response.status_code == 413
