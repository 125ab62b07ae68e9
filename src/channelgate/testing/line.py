"""A LINE Messaging API simulator on a real HTTP server, for channelgate's tests and for bot developers
without a LINE channel of their own.

* It answers the calls channelgate makes, as LINE does, with ``Authorization: Bearer <token>`` checked (401
  ``Authentication failed ...`` otherwise): ``POST /v2/bot/message/reply`` and ``/push``,
  ``PUT|GET /v2/bot/channel/webhook/endpoint``, ``POST /v2/bot/channel/webhook/test``,
  ``GET /v2/bot/profile/{userId}`` and ``GET /v2/bot/message/{id}/content`` (the data host's call).
* Sends are checked against the documented limits (:func:`validate_messages`): 1-5 message objects of a
  known type; text 1-5,000 characters; image URLs HTTPS and at most 2,000 characters; location title and
  address at most 100; ``altText`` 1-400; Flex carousels 1-12 bubbles; buttons templates at most 4
  actions; quick replies 1-13 items of the actions LINE allows there (no ``uri``); postback ``data`` 1-300
  and labels at most 20 characters (40 in Flex). A refused send is 400 with LINE's ``details`` and is
  kept in ``sim.rejected``.
* Reply tokens are issued by the event builders, work once, and expire after ``sim.reply_token_ttl``
  seconds (400 ``Invalid reply token``). A push's ``X-Line-Retry-Key`` must be a UUID; once a push with it
  was accepted, the same key is answered 409 with the ``sentMessages`` (LINE's idempotency); a retry key on
  a reply is refused, as LINE refuses it.
* Failures on demand: ``sim.fail_next(2, status=500)`` fails the next send calls before processing them;
  ``after_accepting=True`` delivers the push and then fails the answer (a lost answer, which only the retry
  key can make safe); ``sim.rate_limit = (rate, burst)`` answers 429 ``The API rate limit has been
  exceeded`` above that rate, as LINE's per-channel limit does.
* It builds events (``sim.text_event(user, "hi")``, ``postback_event``, ``follow_event``, ``image_event``...)
  and delivers them to the endpoint set with the API (or any URL), signed with ``X-Line-Signature`` exactly
  as LINE signs them; ``sim.redeliver(event)`` sends it again with ``deliveryContext.isRedelivery: true``.

Why one module of ~600 lines: the validation rules, the endpoints and the event builders are one simulated
platform, read together when a test fails (``graph.py`` and ``telegram.py`` are built the same way).
One allowance: LINE only calls HTTPS webhooks; the simulator also takes ``http://`` on a loopback host.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import secrets
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SIGNATURE_HEADER = "X-Line-Signature"
RETRY_KEY_HEADER = "X-Line-Retry-Key"
MESSAGES_MAX, TEXT_MAX, URL_MAX, URI_MAX, ALT_TEXT_MAX = 5, 5000, 2000, 1000, 400
QUICK_REPLIES_MAX, BUBBLES_MAX, TEMPLATE_ACTIONS_MAX = 13, 12, 4
LABEL_MAX, FLEX_LABEL_MAX, DATA_MAX, LOCATION_TEXT_MAX, ENDPOINT_MAX = 20, 40, 300, 100, 500
MESSAGE_TYPES = frozenset(
    {"text", "image", "video", "audio", "location", "sticker", "imagemap", "template", "flex"}
)
ACTIONS = frozenset({"postback", "message", "uri", "datetimepicker", "camera", "cameraRoll", "location",
                     "richmenuswitch", "clipboard"})  # fmt: skip
QUICK_REPLY_ACTIONS = ACTIONS - {"uri"}
RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class BadRequest(Exception):
    """A call LINE would refuse with 400: ``message`` and ``details`` as LINE's ErrorResponse."""

    def __init__(self, message: str, prop: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.prop = prop

    def body(self) -> dict[str, Any]:
        if self.prop is None:
            return {"message": self.message}
        detail = {"message": self.message, "property": self.prop}
        return {"message": "The request body has 1 error(s)", "details": [detail]}


def sign(body: bytes, channel_secret: str) -> str:
    """``X-Line-Signature``: base64 of the HMAC-SHA256 of the raw body with the channel secret."""
    return base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()


def ulid() -> str:
    """A ULID, the shape of LINE's ``webhookEventId``: 48 bits of milliseconds, 80 random bits."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


# --- validation --------------------------------------------------------------------------------------------


def _text(value: Any, prop: str, limit: int, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value:
        raise BadRequest("must be specified", prop)
    if len(value) > limit:
        raise BadRequest(f"Length must be between 0 and {limit}", prop)


def _url(value: Any, prop: str, limit: int = URL_MAX) -> None:
    _text(value, prop, limit)
    if not str(value).lower().startswith("https://"):
        raise BadRequest("must be a valid HTTPS URL", prop)


def validate_messages(messages: Any) -> None:
    """Raise BadRequest as LINE would for a send's ``messages``."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= MESSAGES_MAX:
        raise BadRequest(f"Size must be between 1 and {MESSAGES_MAX}", "messages")
    for index, message in enumerate(messages):
        validate_message(message, f"messages[{index}]")


def validate_message(message: Any, prop: str) -> None:
    if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
        raise BadRequest("must be one of the message types", f"{prop}.type")
    kind = message["type"]
    if kind == "text":
        _text(message.get("text"), f"{prop}.text", TEXT_MAX)
    elif kind in ("image", "video"):
        _url(message.get("originalContentUrl"), f"{prop}.originalContentUrl")
        _url(message.get("previewImageUrl"), f"{prop}.previewImageUrl")
    elif kind == "audio":
        _url(message.get("originalContentUrl"), f"{prop}.originalContentUrl")
        if not isinstance(message.get("duration"), int):
            raise BadRequest("must be specified", f"{prop}.duration")
    elif kind == "location":
        _text(message.get("title"), f"{prop}.title", LOCATION_TEXT_MAX)
        _text(message.get("address"), f"{prop}.address", LOCATION_TEXT_MAX)
        for name, bound in (("latitude", 90), ("longitude", 180)):
            value = message.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not -bound <= value <= bound:
                raise BadRequest("invalid coordinate", f"{prop}.{name}")
    elif kind == "sticker":
        _text(message.get("packageId"), f"{prop}.packageId", 100)
        _text(message.get("stickerId"), f"{prop}.stickerId", 100)
    elif kind in ("template", "flex", "imagemap"):
        _text(message.get("altText"), f"{prop}.altText", ALT_TEXT_MAX)
        if kind == "template":
            _template(message.get("template"), f"{prop}.template")
        elif kind == "flex":
            _flex(message.get("contents"), f"{prop}.contents")
    quick = message.get("quickReply")
    if quick is not None:
        items = quick.get("items") if isinstance(quick, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= QUICK_REPLIES_MAX:
            raise BadRequest(f"Size must be between 1 and {QUICK_REPLIES_MAX}", f"{prop}.quickReply.items")
        for i, item in enumerate(items):
            where = f"{prop}.quickReply.items[{i}]"
            if not isinstance(item, dict) or item.get("type") != "action":
                raise BadRequest("must be 'action'", f"{where}.type")
            validate_action(item.get("action"), f"{where}.action", allowed=QUICK_REPLY_ACTIONS)


def validate_action(
    action: Any, prop: str, *, allowed: frozenset[str] = ACTIONS, label: int = LABEL_MAX
) -> None:
    if not isinstance(action, dict) or action.get("type") not in allowed:
        raise BadRequest("invalid action type", f"{prop}.type")
    _text(action.get("label"), f"{prop}.label", label, required=action["type"] != "postback")
    if action["type"] == "postback":
        _text(action.get("data"), f"{prop}.data", DATA_MAX)
        _text(action.get("displayText"), f"{prop}.displayText", DATA_MAX, required=False)
    elif action["type"] == "message":
        _text(action.get("text"), f"{prop}.text", DATA_MAX)
    elif action["type"] == "uri":
        _text(action.get("uri"), f"{prop}.uri", URI_MAX)
        if urlsplit(str(action["uri"])).scheme not in ("http", "https", "line", "tel"):
            raise BadRequest("invalid uri scheme", f"{prop}.uri")


def _template(template: Any, prop: str) -> None:
    if not isinstance(template, dict) or template.get("type") not in (
        "buttons",
        "confirm",
        "carousel",
        "image_carousel",
    ):
        raise BadRequest("invalid template type", f"{prop}.type")
    if template["type"] == "buttons":
        actions = template.get("actions")
        if not isinstance(actions, list) or not 1 <= len(actions) <= TEMPLATE_ACTIONS_MAX:
            raise BadRequest(f"Size must be between 1 and {TEMPLATE_ACTIONS_MAX}", f"{prop}.actions")
        for i, action in enumerate(actions):
            validate_action(action, f"{prop}.actions[{i}]")


def _flex(contents: Any, prop: str) -> None:
    if not isinstance(contents, dict) or contents.get("type") not in ("bubble", "carousel"):
        raise BadRequest("must be a bubble or a carousel", f"{prop}.type")
    bubbles = [contents] if contents["type"] == "bubble" else contents.get("contents")
    if not isinstance(bubbles, list) or not 1 <= len(bubbles) <= BUBBLES_MAX:
        raise BadRequest(f"Size must be between 1 and {BUBBLES_MAX}", f"{prop}.contents")
    for i, bubble in enumerate(bubbles):
        where = prop if contents["type"] == "bubble" else f"{prop}.contents[{i}]"
        if not isinstance(bubble, dict) or bubble.get("type") != "bubble":
            raise BadRequest("must be a bubble", f"{where}.type")
        hero = bubble.get("hero")
        if isinstance(hero, dict) and hero.get("type") == "image":
            _url(hero.get("url"), f"{where}.hero.url")
        for block in ("header", "body", "footer"):
            _box(bubble.get(block), f"{where}.{block}")


def _box(box: Any, prop: str) -> None:
    if box is None:
        return
    if not isinstance(box, dict) or box.get("type") != "box" or not isinstance(box.get("contents"), list):
        raise BadRequest("must be a box with contents", prop)
    for i, item in enumerate(box["contents"]):
        where = f"{prop}.contents[{i}]"
        if not isinstance(item, dict):
            raise BadRequest("must be a component", where)
        if item.get("type") == "text":
            _text(item.get("text"), f"{where}.text", TEXT_MAX)
        elif item.get("type") == "button":
            validate_action(item.get("action"), f"{where}.action", label=FLEX_LABEL_MAX)
        elif item.get("type") == "box":
            _box(item, where)


# --- the simulator ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """One accepted send call: ``endpoint`` is ``reply`` or ``push``."""

    endpoint: str
    to: str
    messages: list[dict[str, Any]]
    retry_key: str | None
    ids: list[str]
    at: float


@dataclass(slots=True)
class Failure:
    status: int
    message: str
    retry_after: float | None
    after_accepting: bool


@dataclass
class LineSimulator:
    """The Messaging API of one channel; see the module docstring."""

    channel_secret: str = "line-sim-channel-secret-0123456789"  # noqa: S105 - a simulator's
    access_token: str = "line-sim-access-token-ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # noqa: S105
    bot_user_id: str = "U0000000000000000000000000000b0t"
    reply_token_ttl: float = 60.0
    #: (calls per second, burst) for the send endpoints; None: unlimited
    rate_limit: tuple[float, float] | None = None
    webhook: dict[str, Any] = field(default_factory=lambda: {"endpoint": None, "active": True})
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    contents: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    rejected: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    calls: list[tuple[str, str, float]] = field(default_factory=list)
    throttled: int = 0
    last_delivery: bytes | None = None
    _tokens: dict[str, float] = field(default_factory=dict)
    _retry_keys: dict[str, list[str]] = field(default_factory=dict)
    _failures: list[Failure] = field(default_factory=list)
    _bucket: tuple[float, float] = (0.0, 0.0)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(600_000_000_000_000_000))
    _sends: asyncio.Condition | None = None

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v2/bot/message/reply", self._reply, methods=["POST"]),
                Route("/v2/bot/message/push", self._push, methods=["POST"]),
                Route("/v2/bot/channel/webhook/endpoint", self._endpoint, methods=["PUT", "GET"]),
                Route("/v2/bot/channel/webhook/test", self._test, methods=["POST"]),
                Route("/v2/bot/profile/{user_id}", self._profile, methods=["GET"]),
                Route("/v2/bot/message/{message_id}/content", self._content, methods=["GET"]),
                Route("/_sim/say", self._say, methods=["POST"]),
                Route("/_sim/sent", self._sent, methods=["GET"]),
            ]
        )

    # --- failures and limits ---

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        message: str = "Internal server error",
        retry_after: float | None = None,
        after_accepting: bool = False,
    ) -> None:
        """Fail the next ``count`` send calls; ``after_accepting``: deliver a push, then fail its answer."""
        self._failures += [Failure(status, message, retry_after, after_accepting) for _ in range(count)]

    def _over_rate(self) -> bool:
        if self.rate_limit is None:
            return False
        rate, burst = self.rate_limit
        tokens, at = self._bucket
        now = time.monotonic()
        tokens = burst if at == 0 else min(burst, tokens + (now - at) * rate)
        if tokens < 1:
            self._bucket = (tokens, now)
            return True
        self._bucket = (tokens - 1, now)
        return False

    # --- endpoints ---

    def _authorised(self, request: Request) -> JSONResponse | None:
        self.calls.append((request.method, request.url.path, time.time()))
        if request.headers.get("authorization") == f"Bearer {self.access_token}":
            return None
        reason = "Authentication failed due to the following reason: invalid token. Confirm that the access "
        return JSONResponse({"message": reason + "token in the authorization header is valid."}, 401)

    async def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise BadRequest("The request body could not be parsed as JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("The request body could not be parsed as JSON")
        return body

    def _refuse(self, path: str, exc: BadRequest) -> JSONResponse:
        self.rejected.append((path, exc.body()))
        return JSONResponse(exc.body(), 400)

    async def _send(self, request: Request, endpoint: str) -> Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        failure = self._failures.pop(0) if self._failures else None
        if failure is not None and not failure.after_accepting:
            return self._failure(failure)
        if self._over_rate():
            self.throttled += 1
            return JSONResponse({"message": RATE_LIMITED}, 429)
        key = request.headers.get(RETRY_KEY_HEADER)
        try:
            body = await self._body(request)
            if endpoint == "reply":
                if key is not None:
                    raise BadRequest("The retry key cannot be specified for this endpoint")
                self._use_token(body.get("replyToken"))
                to = str(body.get("replyToken"))
            else:
                to = self._push_target(body, key)
                if key is not None and key in self._retry_keys:
                    sent = [{"id": i} for i in self._retry_keys[key]]
                    return JSONResponse(
                        {"message": "The retry key is already accepted", "sentMessages": sent}, 409
                    )
            validate_messages(body.get("messages"))
        except BadRequest as exc:
            return self._refuse(request.url.path, exc)
        ids = [str(next(self._ids)) for _ in body["messages"]]
        if key is not None:
            self._retry_keys[key] = ids
        await self._record(Sent(endpoint, to, body["messages"], key, ids, time.time()))
        if failure is not None:
            return self._failure(failure)
        return JSONResponse({"sentMessages": [{"id": i, "quoteToken": f"q{i}"} for i in ids]})

    def _use_token(self, token: Any) -> None:
        issued = self._tokens.pop(token, None) if isinstance(token, str) else None
        if issued is None or time.time() - issued > self.reply_token_ttl:
            raise BadRequest("Invalid reply token")

    @staticmethod
    def _push_target(body: dict[str, Any], key: str | None) -> str:
        to = body.get("to")
        if not isinstance(to, str) or not to or to[0] not in "UCR":
            raise BadRequest("The property, 'to', in the request body is invalid", "to")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                raise BadRequest("The retry key must be a UUID") from None
        return to

    @staticmethod
    def _failure(failure: Failure) -> JSONResponse:
        headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
        return JSONResponse({"message": failure.message}, failure.status, headers=headers)

    async def _record(self, sent: Sent) -> None:
        if self._sends is None:
            self._sends = asyncio.Condition()
        async with self._sends:
            self.sent.append(sent)
            self._sends.notify_all()

    async def _reply(self, request: Request) -> Response:
        return await self._send(request, "reply")

    async def _push(self, request: Request) -> Response:
        return await self._send(request, "push")

    async def _endpoint(self, request: Request) -> Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            return JSONResponse(
                {"endpoint": self.webhook["endpoint"] or "", "active": self.webhook["active"]}
            )
        try:
            endpoint = (await self._body(request)).get("endpoint")
            _text(endpoint, "endpoint", ENDPOINT_MAX)
            if not _webhook_url(str(endpoint)):
                raise BadRequest("Invalid webhook endpoint URL", "endpoint")
        except BadRequest as exc:
            return self._refuse(request.url.path, exc)
        self.webhook["endpoint"] = endpoint
        return JSONResponse({})

    async def _test(self, request: Request) -> Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        try:
            given = (await self._body(request)).get("endpoint") if await request.body() else None
        except BadRequest as exc:
            return self._refuse(request.url.path, exc)
        endpoint = given or self.webhook["endpoint"]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        if not endpoint:
            return self._refuse(request.url.path, BadRequest("The webhook endpoint is not set"))
        try:
            answer = await self.deliver([], url=str(endpoint))
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            return JSONResponse(
                {
                    "success": False,
                    "timestamp": stamp,
                    "statusCode": 0,
                    "reason": "COULD_NOT_CONNECT",
                    "detail": detail,
                }
            )
        ok = answer.status_code == 200
        return JSONResponse(
            {
                "success": ok,
                "timestamp": stamp,
                "statusCode": answer.status_code,
                "reason": "OK" if ok else "ERROR_STATUS_CODE",
                "detail": str(answer.status_code),
            }
        )

    async def _profile(self, request: Request) -> Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        profile = self.profiles.get(request.path_params["user_id"])
        if profile is None:
            return JSONResponse({"message": "Not found"}, 404)
        return JSONResponse({"userId": request.path_params["user_id"], **profile})

    async def _content(self, request: Request) -> Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        found = self.contents.get(request.path_params["message_id"])
        if found is None:
            return JSONResponse({"message": "Not found"}, 404)
        return Response(found[0], media_type=found[1])

    async def _say(self, request: Request) -> Response:
        """``{"webhook": url, "text": "hi", "user": "U..."}``: a user's message to a gateway."""
        data = orjson.loads(await request.body() or b"{}")
        user = str(data.get("user") or "U" + "1" * 32)
        text = str(data.get("text") or "hi")
        try:
            answer = await self.deliver([self.text_event(user, text)], url=data.get("webhook"))
        except (httpx.HTTPError, RuntimeError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, 502)
        return JSONResponse({"status": answer.status_code})

    async def _sent(self, request: Request) -> Response:
        return JSONResponse([{"endpoint": s.endpoint, "to": s.to, "messages": s.messages} for s in self.sent])

    # --- events and webhooks ---

    def _event(
        self, kind: str, source: Mapping[str, str], *, reply: bool = True, **fields: Any
    ) -> dict[str, Any]:
        event: dict[str, Any] = {"type": kind, "mode": "active", "timestamp": int(time.time() * 1000)}
        event["source"] = dict(source)
        event["webhookEventId"] = ulid()
        event["deliveryContext"] = {"isRedelivery": False}
        if reply:
            token = secrets.token_hex(16)
            self._tokens[token] = time.time()
            event["replyToken"] = token
        return {**event, **fields}

    @staticmethod
    def source(user: str, group: str | None = None) -> dict[str, str]:
        if group is None:
            return {"type": "user", "userId": user}
        return {"type": "group", "groupId": group, "userId": user}

    def text_event(self, user: str, text: str, *, group: str | None = None) -> dict[str, Any]:
        message = {
            "id": str(next(self._ids)),
            "type": "text",
            "text": text,
            "quoteToken": secrets.token_hex(8),
        }
        return self._event("message", self.source(user, group), message=message)

    def image_event(self, user: str, content: bytes = b"\x89PNG", mime: str = "image/png") -> dict[str, Any]:
        message_id = str(next(self._ids))
        self.contents[message_id] = (content, mime)
        message = {"id": message_id, "type": "image", "contentProvider": {"type": "line"}}
        return self._event("message", self.source(user), message=message)

    def postback_event(self, user: str, data: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        postback: dict[str, Any] = {"data": data}
        if params:
            postback["params"] = params
        return self._event("postback", self.source(user), postback=postback)

    def follow_event(self, user: str, *, unblocked: bool = False) -> dict[str, Any]:
        return self._event("follow", self.source(user), follow={"isUnblocked": unblocked})

    def unfollow_event(self, user: str) -> dict[str, Any]:
        return self._event("unfollow", self.source(user), reply=False)

    def join_event(self, group: str) -> dict[str, Any]:
        return self._event("join", {"type": "group", "groupId": group})

    def webhook_body(self, events: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"destination": self.bot_user_id, "events": events})

    async def deliver(
        self,
        events: list[dict[str, Any]] | bytes,
        *,
        url: str | None = None,
        signed: bool = True,
        secret: str | None = None,
    ) -> httpx.Response:
        """POST a webhook as LINE does: JSON, ``X-Line-Signature`` over the exact bytes (with ``secret`` to
        sign with a wrong one, unsigned with ``signed=False``)."""
        body = events if isinstance(events, bytes) else self.webhook_body(events)
        target = url or self.webhook["endpoint"]
        if not target:
            raise RuntimeError("no webhook endpoint: set one with the API (connect) or pass url=")
        headers = {"content-type": "application/json; charset=utf-8", "user-agent": "LineBotWebhook/2.0"}
        if signed:
            headers[SIGNATURE_HEADER.lower()] = sign(body, secret or self.channel_secret)
        self.last_delivery = body
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(str(target), content=body, headers=headers)

    async def redeliver(self, event: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """The same event again, as LINE's redelivery sends it: same ``webhookEventId``, ``isRedelivery``."""
        again = {**event, "deliveryContext": {"isRedelivery": True}}
        return await self.deliver([again], **kwargs)

    async def wait_for_sends(self, count: int, timeout: float = 10.0) -> list[Sent]:  # noqa: ASYNC109
        """The first ``count`` accepted send calls, waiting for them (AssertionError after ``timeout``)."""
        if self._sends is None:
            self._sends = asyncio.Condition()
        async with self._sends:
            try:
                async with asyncio.timeout(timeout):
                    await self._sends.wait_for(lambda: len(self.sent) >= count)
            except TimeoutError:
                raise AssertionError(
                    f"{len(self.sent)} of {count} sends within {timeout}s: {self.rejected}"
                ) from None
        return self.sent[:count]


def _webhook_url(url: str) -> bool:
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    return parts.scheme == "https" or (parts.scheme == "http" and loopback)


def main(host: str = "127.0.0.1", port: int = 9090) -> None:
    """Serve a simulator until interrupted, after printing the integration config that points at it."""
    import uvicorn

    sim = LineSimulator()
    lines = [
        f"LINE Messaging API simulator on http://{host}:{port}",
        "Integration config for channelgate:",
        f"  channel_secret: {sim.channel_secret}",
        f"  channel_access_token: {sim.access_token}",
        f"  api_base_url: http://{host}:{port}",
        "Talk to your bot as a user:",
        f"  curl -s -X POST http://{host}:{port}/_sim/say "
        + '-d \'{"webhook": "<callback URL>", "text": "hi"}\'',
        f"  curl -s http://{host}:{port}/_sim/sent",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    uvicorn.run(sim.app, host=host, port=port, log_level="info")
