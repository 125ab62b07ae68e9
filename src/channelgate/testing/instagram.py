"""An Instagram messaging simulator (Meta's Graph API for Instagram) on a real HTTP server, for channelgate's
tests and for bot developers without an Instagram professional account.

* Sends: ``POST /{version}/{account_id|me}/messages`` with the token as ``Authorization: Bearer`` (or
  ``?access_token=``), checked against Instagram's documented limits (:func:`validate`): text 1-1,000
  characters, ≤ 13 quick replies (titles ≤ 20), generic templates of ≤ 10 elements (titles and subtitles
  ≤ 80, ≤ 3 ``web_url``/``postback`` buttons), image/video/audio attachments by URL, ``messaging_type``
  with only the ``HUMAN_AGENT`` tag, sender actions ``typing_on``/``typing_off``/``mark_seen``. A refused
  send answers Graph's error 100 and is kept in ``sim.rejected``; a wrong token is 401 / code 190.
* Setup: ``POST /{version}/{account_id}/subscribed_apps?subscribed_fields=…`` and ``GET`` on it.
* Profiles: ``GET /{version}/{igsid}?fields=name,username`` from ``sim.profiles``.
* Failures on demand: ``sim.fail_next(1, status=429, retry_after=2)`` (Graph code 4 and ``Retry-After``),
  ``sim.fail_next(2, status=502)``, ``sim.fail_next(1, code=10, subcode=2534022)`` (the window), 190;
  ``sim.outage(seconds)``.
* Webhooks as Meta sends them (``object: instagram``, ``X-Hub-Signature-256`` with the app secret):
  ``await sim.deliver(url, sim.text("IGSID", "hi"))``; builders for every messaging item (quick replies,
  postbacks, attachments, story replies, reactions, reads, echoes, unsends, edits) and comment changes.
  Redelivering the same bytes (``sim.last_delivery``) is a redelivery.

Run it with ``channelgate simulate instagram``: it prints the integration config and serves ``POST
/_sim/say`` (``{"webhook": url, "text": "hi"}`` or ``{"webhook": url, "payload": "YES"}``) and ``GET
/_sim/sent``. Graph's validation error type is the Graph simulator's (``graph.py``); the error body, the token
check and the signed webhook are ``graph_wire.py``'s, shared with it.

Why one module of ~480 lines: the validation rules, the endpoints and the webhook builders are one simulated
platform, read together when a test fails (as ``graph.py`` and ``telegram.py`` are).
"""

from __future__ import annotations

import secrets
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.testing.arrivals import Arrivals
from channelgate.testing.graph import GraphValidationError
from channelgate.testing.graph_wire import (
    INVALID_TOKEN_MESSAGE,
    MetaWebhookSender,
    graph_error,
    token_refused,
)

TEXT_MAX = 1000
QUICK_REPLIES_MAX = 13
ELEMENTS_MAX = 10
BUTTONS_MAX = 3
SENDER_ACTIONS = frozenset({"typing_on", "typing_off", "mark_seen"})
ATTACHMENT_TYPES = frozenset({"image", "video", "audio"})
_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    10: "(#10) This message is sent outside of allowed window.",
    190: INVALID_TOKEN_MESSAGE,
}


def _bad(text: str) -> GraphValidationError:
    return GraphValidationError(f"(#100) {text}")


def validate(body: Any) -> GraphValidationError | None:
    """The error Graph would answer for an Instagram Send API body, or None when it would accept it."""
    try:
        _validate(body)
    except GraphValidationError as exc:
        return exc
    return None


def _validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object")
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not (recipient.get("id") or recipient.get("comment_id")):
        raise _bad("The parameter recipient is required")
    action, message = body.get("sender_action"), body.get("message")
    if action is not None:
        if message is not None or action not in SENDER_ACTIONS:
            raise _bad("Param sender_action must be one of {typing_on, typing_off, mark_seen}, alone")
        return
    if not isinstance(message, dict):
        raise _bad("The parameter message is required")
    kind = body.get("messaging_type", "RESPONSE")
    if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
        raise _bad("Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
    if kind == "MESSAGE_TAG" and body.get("tag") != "HUMAN_AGENT":
        raise _bad("Param tag must be HUMAN_AGENT")
    if ("text" in message) == ("attachment" in message):
        raise _bad("Exactly one of message[text] and message[attachment] must be set")
    if "text" in message:
        _length(message["text"], TEXT_MAX, "message[text]")
    else:
        _attachment(message["attachment"])
    if "quick_replies" in message:
        _quick_replies(message["quick_replies"])


def _length(value: Any, high: int, name: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= high:
        got = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
        raise _bad(f"Param {name} must be a string of 1 to {high} characters (got {got})")


def _quick_replies(replies: Any) -> None:
    if not isinstance(replies, list) or not 1 <= len(replies) <= QUICK_REPLIES_MAX:
        raise _bad(f"Param message[quick_replies] must have between 1 and {QUICK_REPLIES_MAX} elements")
    for i, reply in enumerate(replies):
        kind = reply.get("content_type") if isinstance(reply, dict) else None
        if kind in ("user_phone_number", "user_email"):
            continue
        if kind != "text":
            raise _bad(f"Param message[quick_replies][{i}][content_type] must be text")
        _length(reply.get("title"), 20, f"message[quick_replies][{i}][title]")
        _length(reply.get("payload"), 1000, f"message[quick_replies][{i}][payload]")


def _attachment(attachment: Any) -> None:
    if not isinstance(attachment, dict) or not isinstance(attachment.get("payload"), dict):
        raise _bad("Param message[attachment] must have a type and a payload")
    kind, payload = attachment.get("type"), attachment["payload"]
    if kind in ATTACHMENT_TYPES:
        if not str(payload.get("url") or "").startswith(("https://", "http://")):
            raise _bad(f"An {kind} attachment needs an http(s) url")
        return
    if kind != "template" or payload.get("template_type") != "generic":
        raise _bad("Param message[attachment][type] must be image, video, audio or a generic template")
    elements = payload.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= ELEMENTS_MAX:
        raise _bad(f"A generic template must have between 1 and {ELEMENTS_MAX} elements")
    for element in elements:
        if not isinstance(element, dict):
            raise _bad("Every element must be an object")
        _length(element.get("title"), 80, "element[title]")
        if "subtitle" in element:
            _length(element["subtitle"], 80, "element[subtitle]")
        if not any(element.get(k) for k in ("subtitle", "image_url", "default_action", "buttons")):
            raise _bad("An element needs a title and at least one other property")
        buttons = element.get("buttons") or []
        if not isinstance(buttons, list) or len(buttons) > BUTTONS_MAX:
            raise _bad(f"An element can have at most {BUTTONS_MAX} buttons")
        for button in buttons:
            _button(button)


def _button(button: Any) -> None:
    if not isinstance(button, dict):
        raise _bad("Every button must be an object")
    _length(button.get("title"), 20, "button[title]")
    if button.get("type") == "web_url":
        if not str(button.get("url") or "").startswith(("https://", "http://")):
            raise _bad("A web_url button needs an http(s) url")
    elif button.get("type") == "postback":
        _length(button.get("payload"), 1000, "button[payload]")
    else:
        raise _bad(f"Unsupported button type {button.get('type')!r}: Instagram takes web_url and postback")


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One send the simulator accepted."""

    recipient: str
    body: dict[str, Any]
    message_id: str | None
    at: float


@dataclass(slots=True)
class _Failure:
    status: int
    code: int
    subcode: int | None
    retry_after: float | None
    actions: bool


@dataclass(eq=False)
class InstagramSimulator(MetaWebhookSender):
    """The simulated platform's state; ``.app`` is the Starlette app serving it."""

    access_token: str = "IGAA-simulated-access-token"  # noqa: S105 - a simulator's well-known value
    app_secret: str = "simulated-instagram-app-secret"  # noqa: S105
    verify_token: str = "simulated-verify-token"  # noqa: S105
    account_id: str = "17841400000000001"
    version: str = "v25.0"
    sent: list[SentMessage] = field(repr=False, default_factory=list)
    #: sends refused by validation: ``{"body", "error"}``
    rejected: list[dict[str, Any]] = field(repr=False, default_factory=list)
    #: user profiles by IGSID: ``{"name", "username"}``
    profiles: dict[str, dict[str, Any]] = field(repr=False, default_factory=dict)
    #: the webhook fields the account is subscribed to (``subscribed_apps``)
    subscribed_fields: list[str] = field(default_factory=list)
    last_delivery: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._failures: deque[_Failure] = deque()
        self._outage_until = 0.0
        self._arrivals = Arrivals()
        self._counter = 0
        self.app = Starlette(
            routes=[
                Route("/_sim/sent", self._sim_sent, methods=["GET"]),
                Route("/_sim/say", self._sim_say, methods=["POST"]),
                Route("/{version}/{node}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{node}/subscribed_apps", self._subscribed_apps, methods=["GET", "POST"]),
                Route("/{version}/{node}", self._node, methods=["GET"]),
            ]
        )

    def api_base_url(self, server_url: str) -> str:
        """The ``api_base_url`` to configure, given the URL the simulator is served on."""
        return f"{server_url.rstrip('/')}/{self.version}"

    # --- test controls ---

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        retry_after: float | None = None,
        actions: bool = False,
    ) -> None:
        """Fail the next ``n`` sends with HTTP ``status`` and Graph ``code`` (each inferred from the other:
        429 → code 4, 5xx → code 2, code 10 → subcode 2534022). Sender actions are not counted unless
        ``actions`` is true, so the failure reaches the message a test is about."""
        if status is None and code is None:
            raise ValueError("give an HTTP status, a Graph code, or both")
        if code is None:
            code = 4 if status == 429 else 2 if status and status >= 500 else 100
        if status is None:
            status = 401 if code == 190 else 503 if code in (1, 2) else 400
        if code == 10 and subcode is None:
            subcode = 2534022
        self._failures.extend(_Failure(status, code, subcode, retry_after, actions) for _ in range(n))

    def outage(self, seconds: float) -> None:
        """Every API call answers 500 / code 2 for the next ``seconds``."""
        self._outage_until = time.monotonic() + max(seconds, 0.0)

    async def wait_for_sends(self, n: int, timeout: float = 5.0) -> list[SentMessage]:  # noqa: ASYNC109
        """Wait until at least ``n`` sends were accepted; the accepted sends so far, or TimeoutError."""
        await self._arrivals.until(lambda: len(self.sent), n, timeout)
        return list(self.sent)

    def messages(self) -> list[SentMessage]:
        """The accepted sends that are messages (not sender actions)."""
        return [s for s in self.sent if "message" in s.body]

    # --- webhooks, as Meta sends them (deliver and verify: graph_wire.MetaWebhookSender) ---

    def _id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{secrets.token_hex(8)}{self._counter}"

    def webhook(self, *items: dict[str, Any], changes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """One ``instagram`` webhook carrying ``items`` (and ``changes``) in one entry."""
        entry: dict[str, Any] = {"time": int(time.time() * 1000), "id": self.account_id}
        if items:
            entry["messaging"] = list(items)
        if changes:
            entry["changes"] = changes
        return {"object": "instagram", "entry": [entry]}

    def item(self, igsid: str, **content: Any) -> dict[str, Any]:
        return {
            "sender": {"id": igsid},
            "recipient": {"id": self.account_id},
            "timestamp": int(time.time() * 1000),
            **content,
        }

    def message(self, igsid: str, mid: str | None = None, **message: Any) -> dict[str, Any]:
        return self.webhook(self.item(igsid, message={"mid": mid or self._id("aWdf"), **message}))

    def text(self, igsid: str, text: str, *, mid: str | None = None) -> dict[str, Any]:
        return self.message(igsid, mid, text=text)

    def quick_reply(self, igsid: str, title: str, payload: str) -> dict[str, Any]:
        return self.message(igsid, text=title, quick_reply={"payload": payload})

    def attachment(self, igsid: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.message(igsid, attachments=[{"type": kind, "payload": payload}])

    def story_reply(self, igsid: str, text: str, story_id: str, url: str) -> dict[str, Any]:
        return self.message(igsid, text=text, reply_to={"story": {"url": url, "id": story_id}})

    def echo(self, igsid: str, text: str) -> dict[str, Any]:
        item = self.item(self.account_id, message={"mid": self._id("aWdf"), "text": text, "is_echo": True})
        item["recipient"] = {"id": igsid}
        return self.webhook(item)

    def unsend(self, igsid: str, mid: str) -> dict[str, Any]:
        return self.message(igsid, mid, is_deleted=True)

    def edit(self, igsid: str, mid: str, text: str, num_edit: int = 1) -> dict[str, Any]:
        return self.webhook(self.item(igsid, message_edit={"mid": mid, "text": text, "num_edit": num_edit}))

    def postback(self, igsid: str, title: str, payload: str) -> dict[str, Any]:
        return self.webhook(
            self.item(igsid, postback={"mid": self._id("aWdf"), "title": title, "payload": payload})
        )

    def reaction(self, igsid: str, mid: str, action: str = "react", emoji: str = "\u2764") -> dict[str, Any]:
        reaction = {"mid": mid, "action": action}
        if action == "react":
            reaction |= {"reaction": "love", "emoji": emoji}
        return self.webhook(self.item(igsid, reaction=reaction))

    def read(self, igsid: str, mid: str) -> dict[str, Any]:
        return self.webhook(self.item(igsid, read={"mid": mid}))

    def comment(
        self, igsid: str, username: str, text: str, media_id: str = "17900000000000001"
    ) -> dict[str, Any]:
        value = {
            "id": self._id(""),
            "from": {"id": igsid, "username": username},
            "text": text,
            "media": {"id": media_id, "media_product_type": "FEED"},
        }
        return self.webhook(changes=[{"field": "comments", "value": value}])

    # --- HTTP handlers ---

    @staticmethod
    def _error(
        status: int, code: int, message: str, subcode: int | None = None, retry_after: float | None = None
    ) -> JSONResponse:
        return graph_error(status, code, message, subcode=subcode, retry_after=retry_after)

    def _refused(self, request: Request) -> JSONResponse | None:
        """Auth, then an outage: what every API call answers before doing anything."""
        refused = token_refused(request, self.access_token)
        if refused is None and time.monotonic() < self._outage_until:
            refused = self._error(500, 2, _MESSAGES[2])
        return refused

    def _own(self, node: str) -> bool:
        return node in ("me", self.account_id)

    async def _messages(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if not self._own(request.path_params["node"]):
            return self._error(400, 100, "(#100) Unsupported post request: unknown object", subcode=33)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return self._error(400, 100, "(#100) The request body is not valid JSON")
        is_action = isinstance(body, dict) and "sender_action" in body
        if self._failures and (not is_action or self._failures[0].actions):
            f = self._failures.popleft()
            text = _MESSAGES.get(f.code, f"(#{f.code}) Simulated error")
            return self._error(f.status, f.code, text, f.subcode, f.retry_after)
        problem = validate(body)
        if problem is not None:
            self.rejected.append({"body": body, "error": problem.message})
            return self._error(400, problem.code, problem.message)
        recipient = str(body["recipient"].get("id") or body["recipient"].get("comment_id"))
        message_id = None if is_action else self._id("aWdf")
        self.sent.append(SentMessage(recipient, body, message_id, time.time()))
        self._arrivals.arrived()
        answer = {"recipient_id": recipient}
        return JSONResponse(answer if message_id is None else {**answer, "message_id": message_id})

    async def _subscribed_apps(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if not self._own(request.path_params["node"]):
            return self._error(400, 100, "(#100) Unsupported request: unknown object", subcode=33)
        if request.method == "GET":
            data = [{"subscribed_fields": self.subscribed_fields}] if self.subscribed_fields else []
            return JSONResponse({"data": data})
        fields = [f for f in request.query_params.get("subscribed_fields", "").split(",") if f]
        if not fields:
            return self._error(400, 100, "(#100) The parameter subscribed_fields is required")
        self.subscribed_fields = fields
        return JSONResponse({"success": True})

    async def _node(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        node = request.path_params["node"]
        profile = self.profiles.get(node)
        if profile is None:
            return self._error(400, 100, f"(#100) Object with ID '{node}' does not exist", subcode=33)
        fields = request.query_params.get("fields", "name").split(",")
        return JSONResponse({**{f: profile[f] for f in fields if f in profile}, "id": node})

    async def _sim_sent(self, request: Request) -> Response:
        return JSONResponse([asdict(s) for s in self.sent])

    async def _sim_say(self, request: Request) -> Response:
        spec = orjson.loads(await request.body() or b"{}")
        url, user = spec.get("webhook"), str(spec.get("user") or "IGSID_1")
        if not url:
            return JSONResponse(
                {"error": "webhook (the gateway's callback URL) is required"}, status_code=400
            )
        payload_value = spec.get("payload")
        payload = (
            self.quick_reply(user, str(spec.get("title") or payload_value), str(payload_value))
            if payload_value is not None
            else self.text(user, str(spec.get("text") or ""))
        )
        response = await self.deliver(str(url), payload)
        return JSONResponse({"status": response.status_code, "body": response.text})


def main(host: str = "127.0.0.1", port: int = 9090) -> None:
    """Serve the simulator until interrupted, after printing the integration config that points at it."""
    import uvicorn

    sim = InstagramSimulator()
    lines = [
        f"Instagram messaging simulator on http://{host}:{port}",
        "Integration config for channelgate:",
        f"  verify_token: {sim.verify_token}",
        f"  app_secret: {sim.app_secret}",
        f"  access_token: {sim.access_token}",
        f"  instagram_account_id: '{sim.account_id}'",
        f"  api_base_url: {sim.api_base_url(f'http://{host}:{port}')}",
        "Talk to your bot as a user:",
        f"  curl -s -X POST http://{host}:{port}/_sim/say "
        + '-d \'{"webhook": "<callback URL>", "text": "hi"}\'',
        f"  curl -s http://{host}:{port}/_sim/sent",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    uvicorn.run(sim.app, host=host, port=port, log_level="info")
