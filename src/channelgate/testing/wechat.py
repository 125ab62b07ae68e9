"""A WeChat server simulator: the API side (tokens, customer-service, template and media calls) and the
callback side (signed, optionally encrypted XML pushed to a gateway, retried like WeChat does).

    sim = WeChatSimulator(encoding_aes_key=KEY)
    async with serve_app(sim.app) as api_url:          # the channel's api_base_url
        delivery = await sim.deliver(webhook_url, sim.text_message("oUser1", "hi"), mode="safe")
        reply = sim.read_reply(delivery.response)      # the passive reply, decrypted and verified
        await sim.wait_for_sends(1)                    # what came through the customer-service API

What it checks, as WeChat does: the access token on every call (unknown or superseded → 40001, expired →
42001, missing → 41001), a new token superseding the previous ones after a grace period (WeChat: 5 minutes;
0 for tests), the message types and their limits (text over 2048 bytes → 45002, more than one news article
→ 45008, unknown ``msgtype`` → 40008, unknown ``media_id`` → 40007), and it injects errors on demand
(``inject(45009)``, ``inject(45015)``, ``inject(status=503)``, ``expire_tokens()``).

Callbacks: ``deliver`` signs the query (``signature``; plus ``encrypt_type=aes`` and ``msg_signature`` in
compatible and safe mode), encrypts with the account's EncodingAESKey, and when the gateway does not answer
within ``callback_timeout`` (WeChat: 5 s) sends the same callback again, three tries in all.

Run standalone with ``python -m channelgate.testing.wechat --port 8081`` (credentials from the
``WECHAT_SIM_*`` environment variables, printed at start).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hmac
import itertools
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.channels.wechat.crypto import MessageCrypto, sha1_signature
from channelgate.channels.wechat.xml import XmlError, XmlValue, build_xml, parse_xml
from channelgate.tasks import wait_set

Mode = Literal["plaintext", "compatible", "safe"]
Api = Literal["token", "custom", "template", "upload", "media", "any"]

TEXT_MAX_BYTES = 2048
MENU_TEXT_MAX_BYTES = 1024
MENU_ITEMS_MAX = 10
IMAGE_MAX_BYTES = 10 * 1024 * 1024
CUSTOM_TYPES = frozenset(
    {
        "text",
        "image",
        "voice",
        "video",
        "music",
        "news",
        "mpnews",
        "mpnewsarticle",
        "msgmenu",
        "wxcard",
        "miniprogrampage",
    }
)
MEDIA_TYPES = frozenset({"image", "voice", "video", "thumb"})

ERRORS = {
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40013: "invalid appid",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    44004: "empty content",
    45002: "content size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    -1: "system error",
}


def wechat_error(code: int, message: str | None = None) -> JSONResponse:
    return JSONResponse({"errcode": code, "errmsg": f"{message or ERRORS.get(code, 'error')} rid: sim"})


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One accepted API call: ``api`` is ``custom`` or ``template``; ``body`` is the JSON WeChat got."""

    api: str
    body: dict[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one callback: the gateway's last answer (None if it never answered in time) and how
    many times the callback was sent."""

    response: httpx.Response | None
    attempts: int


@dataclass(frozen=True, slots=True)
class Callback:
    """One callback as sent: its query string and body, i.e. what a proxy's access log or an eavesdropper
    captures and may try to replay (``replay``)."""

    params: dict[str, str]
    body: str


@dataclass
class _Token:
    expires_at: float
    superseded_at: float = float("inf")


@dataclass
class _Injected:
    api: Api
    errcode: int | None
    status: int
    times: int


@dataclass
class _Media:
    type: str
    content: bytes
    mime_type: str
    filename: str


@dataclass
class WeChatSimulator:
    """One Official Account as WeChat's servers see it."""

    app_id: str = "wxsimulator0000001"
    app_secret: str = "simulator-app-secret"  # noqa: S105 - the simulator's own fake credentials
    token: str = "simtoken123"  # noqa: S105
    encoding_aes_key: str | None = None
    account: str = "gh_simulator00"
    token_ttl: int = 7200
    #: how long a superseded token keeps working (WeChat: 300 s)
    grace_period: float = 300.0
    #: how long a callback waits for the gateway before WeChat sends it again (WeChat: 5 s)
    callback_timeout: float = 5.0
    callback_tries: int = 3

    sent: list[SentMessage] = field(default_factory=list)
    captured: list[Callback] = field(default_factory=list)
    tokens_issued: int = 0
    callback_attempts: int = 0
    media: dict[str, _Media] = field(default_factory=dict)
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _injected: list[_Injected] = field(default_factory=list)
    _changed: asyncio.Event | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.crypto = (
            MessageCrypto(self.token, self.encoding_aes_key, self.app_id) if self.encoding_aes_key else None
        )
        self.app = Starlette(
            routes=[
                Route("/cgi-bin/token", self._issue_token, methods=["GET"]),
                Route("/cgi-bin/message/custom/send", self._custom_send, methods=["POST"]),
                Route("/cgi-bin/message/template/send", self._template_send, methods=["POST"]),
                Route("/cgi-bin/media/upload", self._media_upload, methods=["POST"]),
                Route("/cgi-bin/media/get", self._media_get, methods=["GET"]),
                Route("/sim/video/{media_id}", self._video_file, methods=["GET"]),
            ]
        )

    # --- controls ---

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (the next call with one gets 42001)."""
        now = time.time()
        for item in self._tokens.values():
            item.expires_at = min(item.expires_at, now)

    def inject(
        self, errcode: int | None = None, *, status: int = 200, api: Api = "custom", times: int = 1
    ) -> None:
        """Answer the next ``times`` calls to ``api`` with ``errcode`` (or HTTP ``status``) instead."""
        self._injected.append(_Injected(api, errcode, status, times))

    async def wait_for_sends(self, count: int, timeout: float = 5.0) -> list[SentMessage]:  # noqa: ASYNC109
        """Wait until ``count`` messages were accepted; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.sent) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} sends within {timeout}s, got {len(self.sent)}")
            event = self._event()
            event.clear()
            await wait_set(event, remaining)
        return list(self.sent)

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _record(self, api: str, body: dict[str, Any]) -> None:
        self.sent.append(SentMessage(api, body, time.time()))
        self._event().set()

    def _take_injected(self, api: Api) -> Response | None:
        for item in self._injected:
            if item.api in (api, "any"):
                item.times -= 1
                if item.times <= 0:
                    self._injected.remove(item)
                if item.errcode is None:
                    return Response("simulated failure", status_code=item.status)
                return wechat_error(item.errcode)
        return None

    # --- tokens ---

    async def _issue_token(self, request: Request) -> Response:
        q = request.query_params
        if q.get("grant_type") != "client_credential":
            return wechat_error(40002)
        if q.get("appid") != self.app_id:
            return wechat_error(40013)
        if not hmac.compare_digest(q.get("secret", "").encode(), self.app_secret.encode()):
            return wechat_error(40125)
        injected = self._take_injected("token")
        if injected is not None:
            return injected
        now = time.time()
        for item in self._tokens.values():
            item.superseded_at = min(item.superseded_at, now + self.grace_period)
        token = f"SIM_{secrets.token_urlsafe(48)}"
        self._tokens[token] = _Token(expires_at=now + self.token_ttl)
        self.tokens_issued += 1
        return JSONResponse({"access_token": token, "expires_in": self.token_ttl})

    def _check_token(self, request: Request) -> Response | None:
        token = request.query_params.get("access_token")
        if not token:
            return wechat_error(41001)
        item = self._tokens.get(token)
        now = time.time()
        if item is None or now >= item.superseded_at:
            return wechat_error(40001)
        if now >= item.expires_at:
            return wechat_error(42001)
        return None

    async def _json_body(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return wechat_error(47001)
        return body if isinstance(body, dict) else wechat_error(47001)

    # --- customer-service and template messages ---

    async def _custom_send(self, request: Request) -> Response:
        refused = self._check_token(request) or self._take_injected("custom")
        if refused is not None:
            return refused
        body = await self._json_body(request)
        if isinstance(body, Response):
            return body
        problem = self._validate_custom(body)
        if problem is not None:
            return wechat_error(problem)
        self._record("custom", body)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    def _validate_custom(self, body: dict[str, Any]) -> int | None:
        if not isinstance(body.get("touser"), str) or not body["touser"]:
            return 40003
        msgtype = body.get("msgtype")
        if msgtype not in CUSTOM_TYPES:
            return 40008
        content = body.get(msgtype)
        if not isinstance(content, dict):
            return 47001
        if msgtype == "text":
            return _check_text(content.get("content"), TEXT_MAX_BYTES)
        if msgtype in ("image", "voice"):
            return None if content.get("media_id") in self.media else 40007
        if msgtype == "news":
            articles = content.get("articles")
            if not isinstance(articles, list) or not articles:
                return 47001
            return 45008 if len(articles) > 1 else None
        if msgtype == "msgmenu":
            return _check_menu(content)
        return None

    async def _template_send(self, request: Request) -> Response:
        refused = self._check_token(request) or self._take_injected("template")
        if refused is not None:
            return refused
        body = await self._json_body(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body.get("touser"), str) or not body["touser"]:
            return wechat_error(40003)
        if not isinstance(body.get("template_id"), str) or not body["template_id"]:
            return wechat_error(40037)
        data = body.get("data")
        if not isinstance(data, dict) or not all(isinstance(v, dict) and "value" in v for v in data.values()):
            return wechat_error(47001)
        self._record("template", body)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": 200000000 + next(self._ids)})

    # --- media ---

    async def _media_upload(self, request: Request) -> Response:
        refused = self._check_token(request) or self._take_injected("upload")
        if refused is not None:
            return refused
        kind = request.query_params.get("type", "")
        if kind not in MEDIA_TYPES:
            return wechat_error(40004)
        part = _multipart_file(request.headers.get("content-type", ""), await request.body(), "media")
        if part is None:
            return wechat_error(47001, "media field missing")
        filename, content, mime = part
        if kind == "image" and (not content or len(content) > IMAGE_MAX_BYTES):
            return wechat_error(40009)
        media_id = f"MEDIA_{secrets.token_urlsafe(24)}"
        self.media[media_id] = _Media(kind, content, mime, filename)
        return JSONResponse({"type": kind, "media_id": media_id, "created_at": int(time.time())})

    async def _media_get(self, request: Request) -> Response:
        refused = self._check_token(request) or self._take_injected("media")
        if refused is not None:
            return refused
        media_id = request.query_params.get("media_id", "")
        item = self.media.get(media_id)
        if item is None:
            return wechat_error(40007)
        if item.type == "video":  # WeChat answers a video with a link to it
            return JSONResponse({"video_url": f"{str(request.base_url).rstrip('/')}/sim/video/{media_id}"})
        return Response(
            item.content,
            media_type=item.mime_type,
            headers={"content-disposition": f'attachment; filename="{item.filename}"'},
        )

    async def _video_file(self, request: Request) -> Response:
        item = self.media.get(request.path_params["media_id"])
        if item is None or item.type != "video":
            return Response(status_code=404)
        return Response(item.content, media_type=item.mime_type)

    def add_media(self, content: bytes, mime_type: str, kind: str = "voice") -> str:
        """Media a user "sent": returns the media id a callback can carry."""
        media_id = f"MEDIA_{secrets.token_urlsafe(24)}"
        self.media[media_id] = _Media(kind, content, mime_type, f"{kind}.bin")
        return media_id

    # --- callbacks to the gateway ---

    def message_xml(
        self,
        user: str,
        msg_type: str,
        fields: dict[str, XmlValue] | None = None,
        *,
        create_time: int | None = None,
    ) -> str:
        """A callback's XML as WeChat builds it (plaintext form). Messages get a fresh ``MsgId``."""
        head: dict[str, XmlValue] = {
            "ToUserName": self.account,
            "FromUserName": user,
            "CreateTime": create_time or int(time.time()),
            "MsgType": msg_type,
        }
        body = {**head, **(fields or {})}
        if msg_type != "event" and "MsgId" not in body:
            body["MsgId"] = 7_000_000_000_000_000_000 + next(self._ids)
        return build_xml(body)

    def text_message(
        self, user: str, content: str, *, menu_id: str | None = None, msg_id: int | None = None
    ) -> str:
        fields: dict[str, XmlValue] = {"Content": content}
        if msg_id is not None:
            fields["MsgId"] = msg_id
        if menu_id is not None:
            fields["bizmsgmenuid"] = menu_id
        return self.message_xml(user, "text", fields)

    def event_message(self, user: str, event: str, fields: dict[str, XmlValue] | None = None) -> str:
        return self.message_xml(user, "event", {"Event": event, **(fields or {})})

    def signed_query(self, timestamp: str, nonce: str, user: str | None = None) -> dict[str, str]:
        query = {
            "signature": sha1_signature(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        if user:
            query["openid"] = user
        return query

    def seal(self, xml: str, timestamp: str, nonce: str, mode: Mode) -> tuple[str, dict[str, str]]:
        """The body and extra query parameters of a callback in ``mode``."""
        if mode == "plaintext":
            return xml, {}
        if self.crypto is None:
            raise ValueError(f"{mode} mode needs the simulator's encoding_aes_key")
        encrypted, msg_signature = self.crypto.seal(xml, timestamp, nonce)
        if mode == "safe":
            to_user = _field(xml, "ToUserName") or self.account
            body = build_xml({"ToUserName": to_user, "Encrypt": encrypted})
        else:  # compatible: the plaintext fields and the ciphertext side by side
            body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n</xml>")
        return body, {"encrypt_type": "aes", "msg_signature": msg_signature}

    def _callback_timeouts(self) -> httpx.Timeout:
        """WeChat's limit is on the answer (5 s): the connection itself gets longer, so a loaded test
        machine's slow accept is not taken for a gateway that did not answer."""
        return httpx.Timeout(self.callback_timeout, connect=max(self.callback_timeout, 5.0))

    async def deliver(
        self,
        url: str,
        xml: str,
        *,
        mode: Mode = "plaintext",
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> Delivery:
        """POST a callback to ``url`` as WeChat does; resend it when no answer comes within
        ``callback_timeout``, ``callback_tries`` times in all."""
        callback = self.callback(xml, mode=mode, timestamp=timestamp, nonce=nonce)
        async with httpx.AsyncClient(timeout=self._callback_timeouts()) as client:
            for attempt in range(1, self.callback_tries + 1):
                self.callback_attempts += 1
                try:
                    response = await post_callback(client, url, callback)
                except (httpx.TimeoutException, httpx.TransportError):
                    continue
                return Delivery(response, attempt)
        return Delivery(None, self.callback_tries)

    def callback(
        self, xml: str, *, mode: Mode = "plaintext", timestamp: int | None = None, nonce: str | None = None
    ) -> Callback:
        """The signed (and in compatible and safe mode encrypted) callback of ``xml``; recorded in
        ``captured``. WeChat's retries of one callback send it again unchanged."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**9))
        body, extra = self.seal(xml, ts, nonce, mode)
        callback = Callback({**self.signed_query(ts, nonce, _field(xml, "FromUserName")), **extra}, body)
        self.captured.append(callback)
        return callback

    async def verify_url(
        self, url: str, echostr: str = "sim-echo-1234", timestamp: int | None = None
    ) -> httpx.Response:
        """The console's URL verification (GET with signature and echostr)."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = str(secrets.randbelow(10**9))
        async with httpx.AsyncClient(timeout=self._callback_timeouts()) as client:
            return await client.get(url, params={**self.signed_query(ts, nonce), "echostr": echostr})

    def read_reply(self, response: httpx.Response | str | bytes | None) -> dict[str, str] | None:
        """The passive reply in a callback's answer, decrypted and its ``MsgSignature`` verified when it is
        an encrypted envelope; None for ``success`` or an empty answer. AssertionError for anything else."""
        if response is None:
            return None
        text = response.text if isinstance(response, httpx.Response) else response
        text = text.decode() if isinstance(text, bytes) else text
        if text.strip() in ("", "success"):
            return None
        fields = parse_xml(text)
        if "Encrypt" not in fields:
            return fields
        if self.crypto is None:
            raise AssertionError("an encrypted reply, but the simulator has no encoding_aes_key")
        plain = self.crypto.open(
            fields["Encrypt"], fields.get("MsgSignature"), fields["TimeStamp"], fields["Nonce"]
        )
        return parse_xml(plain)


async def post_callback(client: httpx.AsyncClient, url: str, callback: Callback) -> httpx.Response:
    """POST ``callback`` to ``url`` once, as WeChat (or someone replaying it) would."""
    return await client.post(
        url, params=callback.params, content=callback.body.encode(), headers={"content-type": "text/xml"}
    )


def _field(xml: str, name: str) -> str | None:
    """One field of a callback, or None when the XML is not parseable (hostile test input is sent as is)."""
    try:
        return parse_xml(xml).get(name)
    except XmlError:
        return None


def _check_text(content: Any, limit: int) -> int | None:
    if not isinstance(content, str) or not content:
        return 44004
    return 45002 if len(content.encode()) > limit else None


def _check_menu(content: dict[str, Any]) -> int | None:
    items = content.get("list")
    if not isinstance(items, list) or not 0 < len(items) <= MENU_ITEMS_MAX:
        return 47001
    for item in items:
        if not isinstance(item, dict) or not item.get("id") or not item.get("content"):
            return 47001
    for key in ("head_content", "tail_content"):
        value = content.get(key, "")
        if not isinstance(value, str) or len(value.encode()) > MENU_TEXT_MAX_BYTES:
            return 45002
    return None


def _multipart_file(content_type: str, body: bytes, name: str) -> tuple[str, bytes, str] | None:
    """The file field ``name`` of a multipart/form-data body (stdlib only: no python-multipart needed)."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
            return part.get_filename() or name, content, part.get_content_type()
    return None


def main(host: str = "127.0.0.1", port: int = 8081) -> None:
    """Serve a simulator (credentials from ``WECHAT_SIM_APP_ID``, ``_APP_SECRET``, ``_TOKEN``,
    ``_ENCODING_AES_KEY``) until interrupted."""
    import uvicorn

    sim = WeChatSimulator(
        app_id=os.environ.get("WECHAT_SIM_APP_ID", WeChatSimulator.app_id),
        app_secret=os.environ.get("WECHAT_SIM_APP_SECRET", WeChatSimulator.app_secret),
        token=os.environ.get("WECHAT_SIM_TOKEN", WeChatSimulator.token),
        encoding_aes_key=os.environ.get("WECHAT_SIM_ENCODING_AES_KEY") or None,
    )
    print(f"WeChat simulator on http://{host}:{port} (api_base_url), app_id={sim.app_id}")
    uvicorn.run(sim.app, host=host, port=port, log_level="info")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="WeChat API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    arguments = parser.parse_args()
    main(arguments.host, arguments.port)
