"""What the Graph API simulators share: how Graph refuses a call and how Meta delivers a webhook.

Messenger and WhatsApp (graph.py) and Instagram (instagram.py) are products of one platform: the same
error body, the same access-token check, the same signed webhook POST and subscription GET. Each simulator
keeps its own endpoints, validation rules and payload builders; this module holds the wire they share, so
a fix to one (a header Meta adds, an error field) reaches both.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from channelgate.channels.meta import SIGNATURE_HEADER, sign

#: Graph's message for an access token it cannot use (code 190)
INVALID_TOKEN_MESSAGE = "Invalid OAuth access token - Cannot parse access token"  # noqa: S105 - a message


def graph_error(
    status: int,
    code: int | None,
    message: str,
    *,
    subcode: int | None = None,
    error_data: dict[str, Any] | None = None,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Graph's error answer: ``{"error": {"message", "type", "code", "error_subcode"?, "error_data"?,
    "fbtrace_id"}}``, with ``Retry-After`` when ``retry_after`` is given."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException"}
    if code is not None:
        error["code"] = code
    if subcode is not None:
        error["error_subcode"] = subcode
    if error_data:
        error["error_data"] = error_data
    error["fbtrace_id"] = secrets.token_urlsafe(9)
    if retry_after is not None:
        headers = {**(headers or {}), "Retry-After": f"{retry_after:g}"}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def token_refused(request: Request, access_token: str) -> JSONResponse | None:
    """Graph's answer to a call without the right access token (``Authorization: Bearer``/``OAuth``, or
    ``?access_token=``), compared in constant time; None when the token is right."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("bearer", "oauth"):
        token = request.query_params.get("access_token", "")
    if not token:
        return graph_error(
            400, 2500, "An active access token must be used to query information about the current user."
        )
    if not hmac.compare_digest(token.encode(), access_token.encode()):
        invalid = {"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'}
        return graph_error(401, 190, INVALID_TOKEN_MESSAGE, headers=invalid)
    return None


async def deliver_webhook(
    url: str,
    raw: bytes,
    app_secret: str,
    *,
    signed: bool = True,
    signature: str | None = None,
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    """POST ``raw`` to ``url`` as Meta does: ``X-Hub-Signature-256`` and the legacy SHA-1
    ``X-Hub-Signature`` over the raw bytes with the app secret. ``signature`` replaces the SHA-256 one
    (to test wrong ones, and then the SHA-1 one is left out); ``signed=False`` omits both."""
    headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    elif signed:
        headers[SIGNATURE_HEADER] = sign(raw, app_secret)
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(app_secret.encode(), raw, hashlib.sha1).hexdigest()
    if client is not None:
        return await client.post(url, content=raw, headers=headers)
    async with httpx.AsyncClient(timeout=10) as own:
        return await own.post(url, content=raw, headers=headers)


class MetaWebhookSender:
    """What a Graph simulator sends as Meta: its webhooks and the subscription check, with the app's
    ``app_secret`` and ``verify_token``. The last delivery's bytes are kept (``last_delivery``), so a test
    can send them again as a redelivery."""

    app_secret: str
    verify_token: str
    last_delivery: bytes | None

    async def deliver(
        self,
        url: str,
        payload: dict[str, Any] | bytes,
        *,
        signed: bool = True,
        signature: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        """POST a webhook to ``url`` with Meta's headers (``X-Hub-Signature-256`` and the legacy SHA-1 one).
        ``signature`` overrides the computed one (to test wrong signatures); ``signed=False`` omits both."""
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        self.last_delivery = raw
        return await deliver_webhook(
            url, raw, self.app_secret, signed=signed, signature=signature, client=client
        )

    async def verify(
        self,
        url: str,
        verify_token: str | None = None,
        challenge: str = "1158201444",
        mode: str = "subscribe",
    ) -> httpx.Response:
        """The GET Meta sends when a callback URL is saved in the App Dashboard."""
        return await verify_subscription(url, verify_token or self.verify_token, challenge, mode)


async def verify_subscription(
    url: str, verify_token: str, challenge: str = "1158201444", mode: str = "subscribe"
) -> httpx.Response:
    """The GET Meta sends when a callback URL is saved in the App Dashboard."""
    params = {"hub.mode": mode, "hub.verify_token": verify_token, "hub.challenge": challenge}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url, params=params)
