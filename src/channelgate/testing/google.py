"""A Google agent-messaging simulator: the parts of Google Business Messages and RCS for Business that a
gateway talks to, speaking their wire formats, for tests and for bot developers (GBM itself was shut down
on 31 July 2024, so this is the only place a GBM integration can still be exercised end to end).

* ``POST /token``: the OAuth2 token endpoint. It accepts only the jwt-bearer grant whose assertion is
  signed by the simulator's own throwaway service-account key (checked against the key's public half,
  its ``kid``, issuer, audience and lifetime), and issues short opaque bearer tokens for the asked scope.
* GBM: ``POST /v1/conversations/{id}/messages`` and ``/events?eventId=``; RBM:
  ``POST /v1/phones/{E.164}/agentMessages?messageId=&agentId=`` and ``/agentEvents?eventId=&agentId=``.
  Each checks the bearer token (401) and its scope (403), validates the message against the documented
  limits (400 ``INVALID_ARGUMENT``), requires GBM's ``fallback`` on rich messages (400
  ``FAILED_PRECONDITION``: the simulated device cannot show rich content), refuses a reused GBM
  ``messageId`` (409 ``ALREADY_EXISTS``) and ignores a reused RBM one, and records what it accepted.
* Error injection: :meth:`GoogleAgentSimulator.fail_next` (429 with ``Retry-After``, 503, 401, ...).
* Webhook delivery: :meth:`GoogleAgentSimulator.deliver` signs and POSTs an event to a gateway
  (GBM: the raw JSON; RBM: the Pub/Sub push envelope with base64 ``message.data``), and
  :meth:`GoogleAgentSimulator.verify_webhook` sends the ``clientToken``/``secret`` verification.

Errors use Google's shape: ``{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}``.
Run it standalone with ``python -m channelgate.testing.google [host] [port]``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs

import httpx
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt as google_jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.channels.google.token import JWT_BEARER_GRANT
from channelgate.channels.google.webhook import sign

GBM_SCOPE = "https://www.googleapis.com/auth/businessmessages"
RBM_SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"

Api = Literal["gbm", "rbm"]
Kind = Literal["message", "event"]

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

GBM_MESSAGE_FIELDS = {
    "messageId",
    "name",
    "representative",
    "text",
    "image",
    "richCard",
    "suggestions",
    "fallback",
    "containsRichText",
}
RBM_MESSAGE_FIELDS = {"name", "sendTime", "contentMessage", "messageTrafficType", "expireTime", "ttl"}
RBM_CONTENT_FIELDS = {"text", "fileName", "uploadedRbmFile", "richCard", "contentInfo", "suggestions"}


class Invalid(Exception):
    """A request Google would refuse; answered in Google's error shape."""

    def __init__(self, message: str, status: int = 400, status_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.status_name = status_name or _STATUS_NAMES.get(status, "UNKNOWN")


def google_error(
    status: int, message: str, status_name: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    name = status_name or _STATUS_NAMES.get(status, "UNKNOWN")
    return JSONResponse(
        {"error": {"code": status, "message": message, "status": name}}, status, headers=headers
    )


@dataclass(frozen=True, slots=True)
class SentRequest:
    """One accepted API call: ``target`` is the conversation id (GBM) or phone number (RBM), ``id`` the
    message or event id, ``body`` the JSON the gateway posted."""

    api: Api
    kind: Kind
    target: str
    id: str
    body: dict[str, Any]
    params: dict[str, str]


@dataclass(slots=True)
class _Failure:
    status: int
    remaining: int
    retry_after: float | None
    api: Api | None
    kind: Kind | None
    message: str


@dataclass(slots=True)
class _Token:
    scope: str
    expires_at: float


@dataclass
class GoogleAgentSimulator:
    """The simulator. Serve :attr:`app` (e.g. with ``channelgate.testing.server.serve_app``), then give the
    gateway :meth:`service_account_info` and ``{base}/v1`` as its ``api_base_url``."""

    client_token: str = "sim-client-token"  # noqa: S105 (a test fixture, not a credential)
    token_lifetime: int = 3600
    require_fallback: bool = True
    client_email: str = "channelgate-sim@sim-project.iam.gserviceaccount.com"
    sent: list[SentRequest] = field(default_factory=list)
    events: list[SentRequest] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    clock: Callable[[], float] = time.time

    #: a PEM private key to reuse (generating a 2048-bit key per simulator is slow in large test suites)
    private_key_pem: str | None = None

    def __post_init__(self) -> None:
        key = load_or_generate_key(self.private_key_pem)
        self.private_key_id = secrets.token_hex(20)
        self._private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.public_pem = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        self._tokens: dict[str, _Token] = {}
        self._failures: list[_Failure] = []
        self._seen_gbm: set[tuple[str, str]] = set()
        self._seen_rbm: set[str] = set()
        self._changed = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route("/token", self._token_endpoint, methods=["POST"]),
                Route("/v1/conversations/{conversation}/messages", self._gbm_message, methods=["POST"]),
                Route("/v1/conversations/{conversation}/events", self._gbm_event, methods=["POST"]),
                Route("/v1/phones/{phone}/agentMessages", self._rbm_message, methods=["POST"]),
                Route("/v1/phones/{phone}/agentEvents", self._rbm_event, methods=["POST"]),
                Route("/_sim/sent", self._inspect, methods=["GET"]),
                Route("/_sim/say", self._say, methods=["POST"]),
                Route("/_sim/verify", self._verify, methods=["POST"]),
                Route("/_sim/fail", self._fail, methods=["POST"]),
            ]
        )

    # --- what a test or a developer configures ---

    def service_account_info(self, token_uri: str) -> dict[str, Any]:
        """A service-account key (the JSON the console downloads) whose ``token_uri`` is this simulator."""
        return {
            "type": "service_account",
            "project_id": "sim-project",
            "private_key_id": self.private_key_id,
            "private_key": self._private_pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/sim",
        }

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        api: Api | None = None,
        kind: Kind | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching API calls with ``status`` (before any other check)."""
        text = message or {
            429: "Quota exceeded.",
            503: "The service is currently unavailable.",
            401: "Request had invalid authentication credentials.",
        }.get(status, "Injected error.")
        self._failures.append(_Failure(status, times, retry_after, api, kind, text))

    def revoke_tokens(self) -> None:
        """Forget every issued access token: the next API call with one gets 401."""
        self._tokens.clear()

    async def wait_for_sends(self, n: int, timeout: float = 5.0) -> list[SentRequest]:  # noqa: ASYNC109
        """Wait until at least ``n`` messages were accepted; returns them. TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()
                if len(self.sent) >= n:
                    return list(self.sent)
                await self._changed.wait()

    # --- webhook delivery to a gateway ---

    def signed_gbm(
        self, payload: dict[str, Any], client_token: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        body = orjson.dumps(payload)
        token = self.client_token if client_token is None else client_token
        return body, {"Content-Type": "application/json", "X-Goog-Signature": sign(body, token)}

    def signed_rbm(
        self, event: dict[str, Any], client_token: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        data = orjson.dumps(event)
        envelope = {
            "message": {
                "data": base64.b64encode(data).decode(),
                "messageId": str(secrets.randbelow(10**16)),
                "publishTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "attributes": {},
            },
            "subscription": "projects/rbm-sim/subscriptions/rbm-agent-sim",
        }
        token = self.client_token if client_token is None else client_token
        return orjson.dumps(envelope), {
            "Content-Type": "application/json",
            "X-Goog-Signature": sign(data, token),
        }

    async def deliver(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        api: Api = "gbm",
        client_token: str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """POST one event to a gateway webhook, signed as Google signs it. ``signature`` overrides the
        header (``""`` sends none), for tests of the refusal paths."""
        body, headers = (self.signed_gbm if api == "gbm" else self.signed_rbm)(payload, client_token)
        if signature is not None:
            headers.pop("X-Goog-Signature")
            if signature:
                headers["X-Goog-Signature"] = signature
        async with httpx.AsyncClient(timeout=10.0) as client:
            return await client.post(url, content=body, headers=headers)

    async def verify_webhook(
        self, url: str, *, client_token: str | None = None, secret: str | None = None, form: bool = False
    ) -> httpx.Response:
        """The console's "Verify" button: POST ``clientToken`` and ``secret``; the answer must be it."""
        fields = {
            "clientToken": self.client_token if client_token is None else client_token,
            "secret": secret or secrets.token_hex(8),
        }
        async with httpx.AsyncClient(timeout=10.0) as client:
            if form:
                return await client.post(url, data=fields)
            return await client.post(url, json=fields)

    # --- event builders (the documented webhook shapes) ---

    @staticmethod
    def gbm_text(
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        locale: str = "en-US",
        display_name: str = "Sim User",
    ) -> dict[str, Any]:
        message_id = message_id or uuid.uuid4().hex
        return {
            "agent": "brands/sim-brand/agents/sim-agent",
            "conversationId": conversation_id,
            "customAgentId": "",
            "requestId": uuid.uuid4().hex,
            "message": {
                "name": f"conversations/{conversation_id}/messages/{message_id}",
                "messageId": message_id,
                "text": text,
                "createTime": _now(),
            },
            "context": {
                "entryPoint": "PLACESHEET",
                "userInfo": {"displayName": display_name, "userDeviceLocale": locale},
            },
            "sendTime": _now(),
        }

    @staticmethod
    def gbm_suggestion(
        conversation_id: str, postback: str, text: str, *, message_id: str = "m0"
    ) -> dict[str, Any]:
        return {
            "agent": "brands/sim-brand/agents/sim-agent",
            "conversationId": conversation_id,
            "requestId": uuid.uuid4().hex,
            "suggestionResponse": {
                "message": f"conversations/{conversation_id}/messages/{message_id}",
                "postbackData": postback,
                "createTime": _now(),
                "text": text,
                "type": "REPLY",
            },
            "sendTime": _now(),
        }

    @staticmethod
    def gbm_receipts(conversation_id: str, receipts: list[tuple[str, str]]) -> dict[str, Any]:
        return {
            "agent": "brands/sim-brand/agents/sim-agent",
            "conversationId": conversation_id,
            "customAgentId": "",
            "sendTime": _now(),
            "receipts": {
                "receipts": [
                    {"message": f"conversations/{conversation_id}/messages/{mid}", "receiptType": kind}
                    for mid, kind in receipts
                ],
                "createTime": _now(),
            },
        }

    @staticmethod
    def rbm_text(
        msisdn: str, text: str, *, agent_id: str = "sim-agent", message_id: str | None = None
    ) -> dict[str, Any]:
        return {
            "senderPhoneNumber": msisdn,
            "messageId": message_id or uuid.uuid4().hex,
            "sendTime": _now(),
            "agentId": f"{agent_id}@rbm.goog",
            "text": text,
        }

    @staticmethod
    def rbm_event(
        msisdn: str, event_type: str, message_id: str | None = None, *, agent_id: str = "sim-agent"
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "senderPhoneNumber": msisdn,
            "eventType": event_type,
            "eventId": uuid.uuid4().hex,
            "sendTime": _now(),
            "agentId": f"{agent_id}@rbm.goog",
        }
        if message_id is not None:
            event["messageId"] = message_id
        return event

    # --- the token endpoint ---

    async def _token_endpoint(self, request: Request) -> Response:
        # parsed here rather than with request.form(), which needs python-multipart
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        grant_type, assertion = form.get("grant_type"), form.get("assertion")
        if grant_type != JWT_BEARER_GRANT:
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, 400
            )
        if not isinstance(assertion, str) or not assertion:
            return JSONResponse({"error": "invalid_request", "error_description": "Missing assertion"}, 400)
        audience = str(request.url.replace(query=""))
        try:
            claims: dict[str, Any] = google_jwt.decode(  # type: ignore[no-untyped-call]
                assertion, certs={self.private_key_id: self.public_pem}, audience=audience
            )
        except (ValueError, KeyError) as exc:
            return JSONResponse({"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}, 400)
        problem = self._claims_problem(claims)
        if problem:
            return JSONResponse({"error": "invalid_grant", "error_description": problem}, 400)
        self.token_requests.append(claims)
        token = "ya29.sim-" + secrets.token_urlsafe(24)
        self._tokens[token] = _Token(
            scope=str(claims["scope"]), expires_at=self.clock() + self.token_lifetime
        )
        return JSONResponse(
            {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        )

    def _claims_problem(self, claims: dict[str, Any]) -> str | None:
        if claims.get("iss") != self.client_email:
            return "Invalid JWT: iss is not this service account"
        if not isinstance(claims.get("scope"), str) or not claims["scope"]:
            return "Invalid JWT: no scope"
        lifetime = int(claims.get("exp", 0)) - int(claims.get("iat", 0))
        if not 0 < lifetime <= 3600:
            return (
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
            )
        return None

    # --- the API endpoints ---

    async def _gbm_message(self, request: Request) -> Response:
        conversation = request.path_params["conversation"]
        return await self._handle(
            request,
            "gbm",
            "message",
            GBM_SCOPE,
            lambda body: self._accept_gbm_message(conversation, body, request),
        )

    async def _gbm_event(self, request: Request) -> Response:
        conversation = request.path_params["conversation"]
        return await self._handle(
            request,
            "gbm",
            "event",
            GBM_SCOPE,
            lambda body: self._accept_gbm_event(conversation, body, request),
        )

    async def _rbm_message(self, request: Request) -> Response:
        phone = request.path_params["phone"]
        return await self._handle(
            request, "rbm", "message", RBM_SCOPE, lambda body: self._accept_rbm_message(phone, body, request)
        )

    async def _rbm_event(self, request: Request) -> Response:
        phone = request.path_params["phone"]
        return await self._handle(
            request, "rbm", "event", RBM_SCOPE, lambda body: self._accept_rbm_event(phone, body, request)
        )

    async def _inspect(self, request: Request) -> Response:
        return JSONResponse(
            {"sent": [_dump(s) for s in self.sent], "events": [_dump(e) for e in self.events]}
        )

    # --- control endpoints, for driving a standalone simulator with curl ---

    async def _say(self, request: Request) -> Response:
        """``{"webhook", "api"?, "user"?, "text" | "payload" (+ "title")}``: deliver a user's message."""
        spec = await _json_object(request)
        webhook, api = spec.get("webhook"), spec.get("api", "gbm")
        if not isinstance(webhook, str) or api not in ("gbm", "rbm"):
            return JSONResponse({"error": 'give "webhook" (the callback URL) and "api": gbm or rbm'}, 400)
        payload = spec.get("payload")
        text = str(spec.get("text") or "")
        if api == "gbm":
            user = str(spec.get("user") or "sim-conversation")
            event = (
                self.gbm_suggestion(user, str(payload), str(spec.get("title") or payload))
                if payload
                else self.gbm_text(user, text)
            )
        else:
            user = str(spec.get("user") or "+12223334444")
            event = self.rbm_text(user, text, agent_id=str(spec.get("agent_id") or "sim-agent"))
            if payload:
                del event["text"]
                event["suggestionResponse"] = {
                    "postbackData": str(payload),
                    "text": str(spec.get("title") or payload),
                    "type": "REPLY",
                }
        answer = await self.deliver(webhook, event, api=api)
        return JSONResponse({"status": answer.status_code, "body": answer.text})

    async def _verify(self, request: Request) -> Response:
        spec = await _json_object(request)
        if not isinstance(spec.get("webhook"), str):
            return JSONResponse({"error": 'give "webhook" (the callback URL)'}, 400)
        answer = await self.verify_webhook(spec["webhook"], form=bool(spec.get("form")))
        return JSONResponse({"status": answer.status_code, "body": answer.text})

    async def _fail(self, request: Request) -> Response:
        """``{"status": 429, "count"?: 1, "retry_after"?: 5, "api"?: "gbm" | "rbm"}``."""
        spec = await _json_object(request)
        status, api = spec.get("status"), spec.get("api")
        if not isinstance(status, int) or api not in (None, "gbm", "rbm"):
            return JSONResponse({"error": 'give "status" (an HTTP status) and optionally "api"'}, 400)
        retry_after = spec.get("retry_after")
        self.fail_next(
            status,
            times=int(spec.get("count", 1)),
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
            api=api,
        )
        return JSONResponse({"queued": status})

    async def _handle(
        self,
        request: Request,
        api: Api,
        kind: Kind,
        scope: str,
        accept: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Response:
        injected = self._injected(api, kind)
        if injected is not None:
            return injected
        denied = self._check_token(request, scope)
        if denied is not None:
            return denied
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return google_error(400, f"Invalid JSON payload received. {exc}")
        if not isinstance(body, dict):
            return google_error(400, "Invalid JSON payload received. Expected an object.")
        try:
            answer = accept(body)
        except Invalid as exc:
            self.rejected.append(
                {
                    "api": api,
                    "kind": kind,
                    "status": exc.status,
                    "status_name": exc.status_name,
                    "message": exc.message,
                    "body": body,
                }
            )
            return google_error(exc.status, exc.message, exc.status_name)
        self._changed.set()
        return JSONResponse(answer)

    def _injected(self, api: Api, kind: Kind) -> Response | None:
        for failure in self._failures:
            if failure.remaining > 0 and failure.api in (None, api) and failure.kind in (None, kind):
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._failures.remove(failure)
                headers = (
                    {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else None
                )
                return google_error(failure.status, failure.message, headers=headers)
        return None

    def _check_token(self, request: Request, scope: str) -> Response | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        issued = self._tokens.get(token)
        if issued is None or issued.expires_at <= self.clock():
            return google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential.",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        if scope not in issued.scope.split():
            return google_error(403, "Request had insufficient authentication scopes.")
        return None

    # --- GBM validation ---

    def _accept_gbm_message(
        self, conversation: str, body: dict[str, Any], request: Request
    ) -> dict[str, Any]:
        check_gbm_message(body, require_fallback=self.require_fallback)
        message_id = str(body["messageId"])
        if (conversation, message_id) in self._seen_gbm:
            raise Invalid(f"Message with id {message_id} already exists.", status=409)
        self._seen_gbm.add((conversation, message_id))
        self.sent.append(
            SentRequest("gbm", "message", conversation, message_id, body, dict(request.query_params))
        )
        return {**body, "name": f"conversations/{conversation}/messages/{message_id}"}

    def _accept_gbm_event(self, conversation: str, body: dict[str, Any], request: Request) -> dict[str, Any]:
        event_id = request.query_params.get("eventId")
        if not event_id:
            raise Invalid("eventId is required.")
        if body.get("eventType") not in (
            "TYPING_STARTED",
            "TYPING_STOPPED",
            "REPRESENTATIVE_JOINED",
            "REPRESENTATIVE_LEFT",
        ):
            raise Invalid(f"Invalid value at 'event.event_type': {body.get('eventType')!r}")
        if not isinstance(body.get("representative"), dict):
            raise Invalid("representative is required.")
        self.events.append(
            SentRequest("gbm", "event", conversation, event_id, body, dict(request.query_params))
        )
        return {**body, "name": f"conversations/{conversation}/events/{event_id}"}

    # --- RBM validation ---

    def _rbm_common(self, phone: str, request: Request, id_param: str) -> str:
        if not _E164.match(phone):
            raise Invalid(f"Invalid phone number {phone!r}: expected E.164.")
        item_id = request.query_params.get(id_param, "")
        if not _UUID.match(item_id):
            raise Invalid(f"{id_param} must be a UUID (RFC 4122).")
        if not request.query_params.get("agentId"):
            raise Invalid("agentId is required.")
        return item_id

    def _accept_rbm_message(self, phone: str, body: dict[str, Any], request: Request) -> dict[str, Any]:
        message_id = self._rbm_common(phone, request, "messageId")
        check_rbm_message(body)
        name = f"phones/{phone}/agentMessages/{message_id}"
        if message_id in self._seen_rbm:  # the platform ignores a message id it has seen
            return {**body, "name": name}
        self._seen_rbm.add(message_id)
        self.sent.append(SentRequest("rbm", "message", phone, message_id, body, dict(request.query_params)))
        return {**body, "name": name, "sendTime": _now()}

    def _accept_rbm_event(self, phone: str, body: dict[str, Any], request: Request) -> dict[str, Any]:
        event_id = self._rbm_common(phone, request, "eventId")
        event_type = body.get("eventType")
        if event_type not in ("IS_TYPING", "READ"):
            raise Invalid(f"Invalid value at 'agent_event.event_type': {event_type!r}")
        if event_type == "READ" and not body.get("messageId"):
            raise Invalid("messageId is required for READ events.")
        self.events.append(SentRequest("rbm", "event", phone, event_id, body, dict(request.query_params)))
        return {**body, "name": f"phones/{phone}/agentEvents/{event_id}", "sendTime": _now()}


# --- validation shared by both APIs (the documented limits) -------------------------------------------------


def check_gbm_message(body: dict[str, Any], *, require_fallback: bool = True) -> None:
    """Raise :class:`Invalid` for a Business Messages ``Message`` Google would refuse."""
    unknown = sorted(set(body) - GBM_MESSAGE_FIELDS)
    if unknown:
        raise Invalid(f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
    message_id = body.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise Invalid("messageId is required.")
    representative = body.get("representative")
    if not isinstance(representative, dict) or representative.get("representativeType") not in (
        "BOT",
        "HUMAN",
    ):
        raise Invalid("representative.representativeType must be BOT or HUMAN.")
    contents = [k for k in ("text", "image", "richCard") if k in body]
    if len(contents) != 1:
        raise Invalid("Exactly one of text, image or richCard must be set.")
    _check_content(body, suggestions_max=13)
    rich = contents[0] != "text" or bool(body.get("suggestions"))
    if require_fallback and rich and not (isinstance(body.get("fallback"), str) and body["fallback"]):
        raise Invalid(
            "The message type is not supported by the user's device and no fallback text is set.",
            status_name="FAILED_PRECONDITION",
        )


def check_rbm_message(body: dict[str, Any]) -> None:
    """Raise :class:`Invalid` for an RBM ``AgentMessage`` Google would refuse."""
    unknown = sorted(set(body) - RBM_MESSAGE_FIELDS)
    if unknown:
        raise Invalid(f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
    content = body.get("contentMessage")
    if not isinstance(content, dict):
        raise Invalid("contentMessage is required.")
    unknown = sorted(set(content) - RBM_CONTENT_FIELDS)
    if unknown:
        raise Invalid(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}" at '
            "'agent_message.content_message': Cannot find field."
        )
    if len([k for k in RBM_CONTENT_FIELDS - {"suggestions"} if k in content]) != 1:
        raise Invalid("Exactly one of text, fileName, uploadedRbmFile, richCard or contentInfo must be set.")
    _check_content(content, suggestions_max=11)


def _check_content(content: dict[str, Any], *, suggestions_max: int) -> None:
    text = content.get("text")
    if "text" in content and (not isinstance(text, str) or not text or len(text) > 3072):
        raise Invalid("text must be 1 to 3072 characters.")
    _check_suggestions(content.get("suggestions"), suggestions_max, "message")
    card = content.get("richCard")
    if card is not None:
        _check_rich_card(card)
    if "image" in content or "contentInfo" in content:
        image = content.get("image")
        info = image.get("contentInfo") if isinstance(image, dict) else content.get("contentInfo")
        if not (isinstance(info, dict) and info.get("fileUrl")):
            raise Invalid("contentInfo.fileUrl is required.")


def _check_rich_card(card: Any) -> None:
    if not isinstance(card, dict) or len([k for k in ("standaloneCard", "carouselCard") if k in card]) != 1:
        raise Invalid("richCard must set exactly one of standaloneCard or carouselCard.")
    if "standaloneCard" in card:
        standalone = card["standaloneCard"]
        if not isinstance(standalone, dict) or not isinstance(standalone.get("cardContent"), dict):
            raise Invalid("standaloneCard.cardContent is required.")
        _check_card_content(standalone["cardContent"], "MEDIUM")
        return
    carousel = card["carouselCard"]
    contents = carousel.get("cardContents") if isinstance(carousel, dict) else None
    if not isinstance(contents, list) or not 2 <= len(contents) <= 10:
        raise Invalid("A carousel must have between 2 and 10 cards.")
    width = carousel.get("cardWidth", "CARD_WIDTH_UNSPECIFIED")
    if width not in ("CARD_WIDTH_UNSPECIFIED", "SMALL", "MEDIUM"):
        raise Invalid(f"Invalid cardWidth {width!r}.")
    for item in contents:
        _check_card_content(item, width)


def _check_card_content(item: Any, width: str) -> None:
    if not isinstance(item, dict):
        raise Invalid("cardContent must be an object.")
    if len(str(item.get("title", ""))) > 200:
        raise Invalid("Card title exceeds 200 characters.")
    if len(str(item.get("description", ""))) > 2000:
        raise Invalid("Card description exceeds 2000 characters.")
    media = item.get("media")
    if media is not None:
        if not isinstance(media, dict):
            raise Invalid("media must be an object.")
        height = media.get("height", "HEIGHT_UNSPECIFIED")
        if height not in ("HEIGHT_UNSPECIFIED", "SHORT", "MEDIUM", "TALL"):
            raise Invalid(f"Invalid media height {height!r}.")
        if height == "TALL" and width == "SMALL":
            raise Invalid("TALL media is not available in carousels with SMALL card width.")
        info = media.get("contentInfo")
        if not (isinstance(info, dict) and info.get("fileUrl")) and not media.get("fileName"):
            raise Invalid("media.contentInfo.fileUrl is required.")
    if not any(item.get(k) for k in ("title", "description", "media")):
        raise Invalid("A card needs a title, a description or media.")
    _check_suggestions(item.get("suggestions"), 4, "card")


def _check_suggestions(suggestions: Any, limit: int, where: str) -> None:
    if suggestions is None:
        return
    if not isinstance(suggestions, list) or len(suggestions) > limit:
        raise Invalid(f"A {where} can have at most {limit} suggestions.")
    for suggestion in suggestions:
        _check_suggestion(suggestion)


def _check_suggestion(suggestion: Any) -> None:
    kinds = [
        k
        for k in ("reply", "action", "liveAgentRequest", "authenticationRequest")
        if isinstance(suggestion, dict) and k in suggestion
    ]
    if len(kinds) != 1:
        raise Invalid("A suggestion must set exactly one of reply or action.")
    if kinds[0] in ("liveAgentRequest", "authenticationRequest"):
        return
    item = suggestion[kinds[0]]
    text = item.get("text") if isinstance(item, dict) else None
    if not isinstance(text, str) or not 1 <= len(text) <= 25:
        raise Invalid("Suggestion text must be 1 to 25 characters.")
    if len(str(item.get("postbackData", ""))) > 2048:
        raise Invalid("postbackData exceeds 2048 characters.")
    if kinds[0] == "action":
        targets = [
            k
            for k in (
                "openUrlAction",
                "dialAction",
                "viewLocationAction",
                "createCalendarEventAction",
                "shareLocationAction",
            )
            if k in item
        ]
        if len(targets) != 1:
            raise Invalid("A suggested action must set exactly one action.")
        if targets[0] == "openUrlAction" and not str(item["openUrlAction"].get("url", "")).startswith(
            ("http://", "https://")
        ):
            raise Invalid("openUrlAction.url must be an http(s) URL.")
        if targets[0] == "dialAction" and not item["dialAction"].get("phoneNumber"):
            raise Invalid("dialAction.phoneNumber is required.")


def load_or_generate_key(pem: str | None = None) -> rsa.RSAPrivateKey:
    """An RSA key: ``pem`` loaded, or a fresh throwaway 2048-bit one."""
    if pem is None:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the simulator's key must be an RSA key")
    return key


def generate_key_pem() -> str:
    """A throwaway RSA private key in PEM (PKCS#8), for :attr:`GoogleAgentSimulator.private_key_pem`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dump(sent: SentRequest) -> dict[str, Any]:
    return {"api": sent.api, "kind": sent.kind, "target": sent.target, "id": sent.id, "body": sent.body}


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        value = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def main(host: str = "127.0.0.1", port: int = 9090) -> None:
    """Serve the simulator until interrupted, after writing its throwaway service-account key to a
    private temporary file and printing the integration config that points channelgate at it."""
    import uvicorn

    sim = GoogleAgentSimulator()
    base = f"http://{host}:{port}"
    fd, key_path = tempfile.mkstemp(prefix="channelgate-google-sim-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as key_file:  # mkstemp creates it readable by us only
        json.dump(sim.service_account_info(token_uri=f"{base}/token"), key_file, indent=2)
    lines = [
        f"Google agent-messaging simulator (gbm and rbm) on {base}",
        "Integration config for channelgate:",
        f"  client_token: {sim.client_token}",
        f"  service_account: {key_path}",
        f"  api_base_url: {base}/v1",
        "  agent_id: sim-agent            # rbm only",
        "Talk to your bot as a user:",
        f'  curl -s -X POST {base}/_sim/verify -d \'{{"webhook": "<callback URL>"}}\'',
        f'  curl -s -X POST {base}/_sim/say -d \'{{"webhook": "<callback URL>", "text": "hi"}}\'',
        f'  curl -s -X POST {base}/_sim/say -d \'{{"webhook": "<callback URL>", "api": "rbm", '
        f'"user": "+12223334444", "text": "hi"}}\'',
        f"  curl -s {base}/_sim/sent",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    try:
        uvicorn.run(sim.app, host=host, port=port, log_level="info")
    finally:
        os.unlink(key_path)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 9090)
