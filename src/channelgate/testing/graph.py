"""A Graph API simulator: Messenger's Send API and WhatsApp's Cloud API, on a real HTTP server.

It lets channelgate's tests, and bot developers without a Meta account, run a bot end to end:

* it accepts sends (``POST /{version}/me/messages``, ``POST /{version}/{phone_number_id}/messages``) and
  checks them against the platforms' documented limits, answering what Graph answers, including its error
  shape ``{"error": {"message", "type": "OAuthException", "code", "error_subcode"?, "fbtrace_id"}}`` (a
  fourth reply button, a 21-character title or a missing ``messaging_product`` are error 100);
* it checks the access token (``Authorization: Bearer`` or ``?access_token=``), answers user profiles
  (``GET /{version}/{psid}``) and media (``GET /{version}/{media_id}`` and the download URL it gives);
* it records accepted sends (``sim.sent``; ``await sim.wait_for_sends(n)``), can be told to fail the next
  sends (``sim.fail_next(1, code=131047)``, throttling codes with ``retry_after``, 5xx, 190), to go down
  for a while (``sim.outage(600)``: every API call answers 500 until then) and to answer slowly
  (``sim.send_delay``);
* it speaks Messenger's handover protocol (``POST /{version}/{page}/pass_thread_control`` and
  ``take_thread_control``: ``sim.thread_calls``, ``sim.thread_owner``) and builds its webhook events
  (``messenger_pass_thread_control``, ``messenger_take_thread_control``, ``messenger_request_thread_control``,
  ``messenger_standby_text``);
* it builds the platform's webhook payloads and delivers them signed with the app secret, as Meta does
  (``await sim.deliver(url, sim.messenger_text("PSID", "hi"))``); redelivering the same bytes is a redelivery.

Run it standalone with ``channelgate simulate messenger|whatsapp`` (see :func:`main`): it prints the config to
give the integration, and offers a small control API (``POST /_sim/say``, ``GET /_sim/sent``,
``POST /_sim/fail``, ``POST /_sim/outage``) to talk to the bot as a user would.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.channels.meta import obj, sign
from channelgate.testing.arrivals import Arrivals
from channelgate.testing.graph_wire import (
    INVALID_TOKEN_MESSAGE,
    MetaWebhookSender,
    graph_error,
    token_refused,
)

Product = Literal["messenger", "whatsapp"]

_VERSION = re.compile(r"^v\d+\.\d+$")

#: Messenger's documented limits (Send API, quick replies, templates).
MESSENGER_TEXT_MAX = 2000
MESSENGER_TAGS = frozenset(
    {"HUMAN_AGENT", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"}
)
#: WhatsApp's documented limits (Cloud API messages, interactive messages).
WHATSAPP_TEXT_MAX = 4096
WHATSAPP_BODY_MAX = 1024

_DEFAULT_MESSAGES: dict[int, str] = {
    2: "Service temporarily unavailable",
    4: "(#4) Application request limit reached",
    10: "(#10) This message is sent outside of allowed window.",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    190: INVALID_TOKEN_MESSAGE,
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80007: "(#80007) Rate limit issues",
    130429: "(#130429) Rate limit hit",
    131047: "(#131047) Re-engagement message",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
}
_DEFAULT_DETAILS: dict[int, str] = {
    131047: "Message failed to send because more than 24 hours have passed since the customer last replied "
    "to this number.",
}


class GraphValidationError(Exception):
    """A send Graph would refuse; ``details`` is what WhatsApp puts in ``error_data.details``."""

    def __init__(self, message: str, details: str | None = None, code: int = 100) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.code = code


def _fail(details: str) -> GraphValidationError:
    return GraphValidationError("(#100) Invalid parameter", details)


# --- Messenger validation ----------------------------------------------------------------------------------


def validate_messenger(body: Any) -> GraphValidationError | None:
    """The error Graph would answer for a Send API body, or None when it would accept it."""
    try:
        _messenger(body)
    except GraphValidationError as exc:
        return exc
    return None


def _messenger(body: Any) -> None:
    if not isinstance(body, dict):
        raise GraphValidationError("(#100) The request body must be a JSON object")
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not (recipient.get("id") or recipient.get("user_ref")):
        raise GraphValidationError("(#100) The parameter recipient is required")
    action, message = body.get("sender_action"), body.get("message")
    if action is not None:
        if message is not None:
            raise GraphValidationError("(#100) sender_action and message cannot be sent in the same request")
        if action not in ("typing_on", "typing_off", "mark_seen"):
            raise GraphValidationError(
                "(#100) Param sender_action must be one of {typing_on, typing_off, mark_seen}"
            )
        return
    if not isinstance(message, dict):
        raise GraphValidationError("(#100) The parameter message is required")
    kind = body.get("messaging_type")
    if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
        raise GraphValidationError(
            "(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"
        )
    if kind == "MESSAGE_TAG" and body.get("tag") not in MESSENGER_TAGS:
        raise GraphValidationError(f"(#100) Param tag must be one of {{{', '.join(sorted(MESSENGER_TAGS))}}}")
    has_text, has_attachment = "text" in message, "attachment" in message
    if has_text == has_attachment:
        raise GraphValidationError("(#100) Exactly one of message[text] and message[attachment] must be set")
    if has_text:
        _length(message["text"], 1, MESSENGER_TEXT_MAX, "message[text]", messenger=True)
    else:
        _messenger_attachment(message["attachment"])
    if "quick_replies" in message:
        _messenger_quick_replies(message["quick_replies"])


def _length(value: Any, low: int, high: int, name: str, *, messenger: bool = False) -> None:
    if not isinstance(value, str) or not low <= len(value) <= high:
        got = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
        text = f"{name} must be a string of {low} to {high} characters (got {got})"
        raise GraphValidationError(f"(#100) Param {text}") if messenger else _fail(text)


def _messenger_quick_replies(replies: Any) -> None:
    if not isinstance(replies, list) or not 1 <= len(replies) <= 13:
        raise GraphValidationError("(#100) Param message[quick_replies] must have between 1 and 13 elements")
    for i, reply in enumerate(replies):
        where = f"message[quick_replies][{i}]"
        if not isinstance(reply, dict):
            raise GraphValidationError(f"(#100) Param {where} must be an object")
        content_type = reply.get("content_type")
        if content_type in ("user_phone_number", "user_email"):
            continue
        if content_type != "text":
            raise GraphValidationError(
                f"(#100) Param {where}[content_type] must be text, user_phone_number or user_email"
            )
        _length(reply.get("title"), 1, 20, f"{where}[title]", messenger=True)
        _length(reply.get("payload"), 1, 1000, f"{where}[payload]", messenger=True)


def _messenger_attachment(attachment: Any) -> None:
    if not isinstance(attachment, dict) or not isinstance(attachment.get("payload"), dict):
        raise GraphValidationError("(#100) Param message[attachment] must have a type and a payload")
    kind, payload = attachment.get("type"), attachment["payload"]
    if kind in ("image", "video", "audio", "file"):
        if not (payload.get("url") or payload.get("attachment_id")):
            raise GraphValidationError("(#100) message[attachment][payload] needs a url or an attachment_id")
        return
    if kind != "template":
        raise GraphValidationError(
            "(#100) Param message[attachment][type] must be image, video, audio, file or template"
        )
    template_type = payload.get("template_type")
    if template_type == "button":
        _length(payload.get("text"), 1, 640, "message[attachment][payload][text]", messenger=True)
        buttons = payload.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise GraphValidationError("(#100) A button template must have between 1 and 3 buttons")
        for button in buttons:
            _messenger_button(button)
    elif template_type == "generic":
        elements = payload.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            raise GraphValidationError("(#100) A generic template must have between 1 and 10 elements")
        for element in elements:
            _messenger_element(element)
    else:
        raise GraphValidationError(f"(#100) Unsupported template_type {template_type!r}")


def _messenger_element(element: Any) -> None:
    if not isinstance(element, dict):
        raise GraphValidationError("(#100) Every element must be an object")
    _length(element.get("title"), 1, 80, "element[title]", messenger=True)
    if "subtitle" in element:
        _length(element["subtitle"], 1, 80, "element[subtitle]", messenger=True)
    if not any(element.get(k) for k in ("subtitle", "image_url", "default_action", "buttons")):
        raise GraphValidationError("(#100) An element needs a title and at least one other property")
    buttons = element.get("buttons") or []
    if not isinstance(buttons, list) or len(buttons) > 3:
        raise GraphValidationError("(#100) An element can have at most 3 buttons")
    for button in buttons:
        _messenger_button(button)


def _messenger_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise GraphValidationError("(#100) Every button must be an object")
    _length(button.get("title"), 1, 20, "button[title]", messenger=True)
    kind = button.get("type")
    if kind == "web_url":
        if not str(button.get("url") or "").startswith(("https://", "http://")):
            raise GraphValidationError("(#100) A web_url button needs an http(s) url")
    elif kind == "postback":
        _length(button.get("payload"), 1, 1000, "button[payload]", messenger=True)
    elif kind == "phone_number":
        if not str(button.get("payload") or "").startswith("+"):
            raise GraphValidationError(
                "(#100) A phone_number button's payload must be a number starting with +"
            )
    else:
        raise GraphValidationError(f"(#100) Unsupported button type {kind!r}")


# --- WhatsApp validation -----------------------------------------------------------------------------------


def validate_whatsapp(body: Any) -> GraphValidationError | None:
    """The error the Cloud API would answer for a messages body, or None when it would accept it."""
    try:
        _whatsapp(body)
    except GraphValidationError as exc:
        return exc
    return None


def _whatsapp(body: Any) -> None:
    if not isinstance(body, dict):
        raise _fail("the request body must be a JSON object")
    if body.get("messaging_product") != "whatsapp":
        raise GraphValidationError(
            "(#100) The parameter messaging_product is required.", "messaging_product must be 'whatsapp'"
        )
    if body.get("status") == "read":
        if not body.get("message_id"):
            raise _fail("message_id is required to mark a message as read")
        indicator = body.get("typing_indicator")
        if indicator is not None and indicator != {"type": "text"}:
            raise _fail("typing_indicator must be {'type': 'text'}")
        return
    if not (body.get("to") or body.get("recipient")):
        raise GraphValidationError(
            "(#100) The parameter to is required.", "to (or recipient, a BSUID) is required"
        )
    if body.get("recipient_type", "individual") not in ("individual", "group"):
        raise _fail("recipient_type must be individual or group")
    kind = body.get("type", "text")
    content = body.get(kind)
    if not isinstance(content, dict) and kind != "contacts":
        raise _fail(f"the {kind!r} object is required for a message of type {kind!r}")
    checks: dict[str, Callable[[Any, str], None]] = {
        "text": _wa_text,
        "image": _wa_media,
        "video": _wa_media,
        "audio": _wa_media,
        "document": _wa_media,
        "sticker": _wa_media,
        "location": _wa_location,
        "interactive": _wa_interactive,
        "template": _wa_template,
        "reaction": _wa_reaction,
        "contacts": _wa_contacts,
    }
    if kind not in checks:
        raise _fail(f"unsupported message type {kind!r}")
    checks[kind](content, kind)
    context = body.get("context")
    if context is not None and not (isinstance(context, dict) and context.get("message_id")):
        raise _fail("context.message_id is required when context is set")


def _wa_contacts(contacts: Any, kind: str) -> None:
    if not isinstance(contacts, list) or not contacts:
        raise _fail("contacts must be a non-empty list")


def _wa_text(text: dict[str, Any], kind: str) -> None:
    _length(text.get("body"), 1, WHATSAPP_TEXT_MAX, "text.body")
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise _fail("text.preview_url must be a boolean")


def _wa_media(media: dict[str, Any], kind: str) -> None:
    if bool(media.get("link")) == bool(media.get("id")):
        raise _fail(f"{kind} needs exactly one of link and id")
    if "caption" in media:
        if kind in ("audio", "sticker"):
            raise _fail(f"{kind} messages cannot have a caption")
        _length(media["caption"], 1, 1024, f"{kind}.caption")


def _wa_location(location: dict[str, Any], kind: str) -> None:
    for name, bound in (("latitude", 90), ("longitude", 180)):
        value = location.get(name)
        if not isinstance(value, int | float) or not -bound <= value <= bound:
            raise _fail(f"location.{name} must be a number between {-bound} and {bound}")


def _wa_reaction(reaction: dict[str, Any], kind: str) -> None:
    if not reaction.get("message_id"):
        raise _fail("reaction.message_id is required")


def _wa_template(template: dict[str, Any], kind: str) -> None:
    if not template.get("name"):
        raise _fail("template.name is required")
    language = template.get("language")
    if not isinstance(language, dict) or not language.get("code"):
        raise _fail("template.language.code is required")
    components = template.get("components", [])
    if not isinstance(components, list) or not all(isinstance(c, dict) and c.get("type") for c in components):
        raise _fail("template.components must be a list of objects with a type")


def _wa_interactive(interactive: dict[str, Any], kind: str) -> None:
    itype = interactive.get("type")
    action = interactive.get("action")
    if not isinstance(action, dict):
        raise _fail("interactive.action is required")
    body = interactive.get("body")
    if not isinstance(body, dict):
        raise _fail("interactive.body is required")
    _length(body.get("text"), 1, WHATSAPP_BODY_MAX, "interactive.body.text")
    footer = interactive.get("footer")
    if footer is not None:
        _length(footer.get("text") if isinstance(footer, dict) else None, 1, 60, "interactive.footer.text")
    header = interactive.get("header")
    if header is not None:
        _wa_header(header, itype)
    if itype == "button":
        _wa_buttons(action)
    elif itype == "list":
        _wa_list(action)
    elif itype == "cta_url":
        parameters = obj(action.get("parameters"))
        if action.get("name") != "cta_url":
            raise _fail("interactive.action.name must be cta_url")
        _length(parameters.get("display_text"), 1, 20, "interactive.action.parameters.display_text")
        if not str(parameters.get("url") or "").startswith(("https://", "http://")):
            raise _fail("interactive.action.parameters.url must be an http(s) URL")
    else:
        raise _fail(f"unsupported interactive type {itype!r}")


def _wa_header(header: Any, itype: Any) -> None:
    if not isinstance(header, dict):
        raise _fail("interactive.header must be an object")
    htype = header.get("type")
    if htype == "text":
        _length(header.get("text"), 1, 60, "interactive.header.text")
        return
    if itype == "list":
        raise _fail("a list message's header must be of type text")
    if htype not in ("image", "video", "document"):
        raise _fail("interactive.header.type must be text, image, video or document")
    _wa_media(obj(header.get(htype)), str(htype))


def _wa_buttons(action: dict[str, Any]) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        count = len(buttons) if isinstance(buttons, list) else 0
        raise _fail(f"interactive.action.buttons must have between 1 and 3 buttons (got {count})")
    ids: set[str] = set()
    for i, button in enumerate(buttons):
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(button, dict) or button.get("type") != "reply" or not isinstance(reply, dict):
            raise _fail(f"button {i} must be {{'type': 'reply', 'reply': {{'id', 'title'}}}}")
        _length(reply.get("id"), 1, 256, f"buttons[{i}].reply.id")
        _length(reply.get("title"), 1, 20, f"buttons[{i}].reply.title")
        if reply["id"] in ids:
            raise _fail(f"buttons[{i}].reply.id {reply['id']!r} is not unique")
        ids.add(reply["id"])


def _wa_list(action: dict[str, Any]) -> None:
    _length(action.get("button"), 1, 20, "interactive.action.button")
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise _fail("interactive.action.sections must have between 1 and 10 sections")
    rows_total = 0
    ids: set[str] = set()
    for s, section in enumerate(sections):
        rows = section.get("rows") if isinstance(section, dict) else None
        if not isinstance(rows, list) or not rows:
            raise _fail(f"sections[{s}].rows must be a non-empty list")
        if len(sections) > 1 or "title" in section:
            _length(section.get("title"), 1, 24, f"sections[{s}].title")
        for r, row in enumerate(rows):
            if not isinstance(row, dict):
                raise _fail(f"sections[{s}].rows[{r}] must be an object")
            _length(row.get("id"), 1, 200, f"sections[{s}].rows[{r}].id")
            _length(row.get("title"), 1, 24, f"sections[{s}].rows[{r}].title")
            if "description" in row:
                _length(row["description"], 1, 72, f"sections[{s}].rows[{r}].description")
            if row["id"] in ids:
                raise _fail(f"row id {row['id']!r} is not unique")
            ids.add(row["id"])
        rows_total += len(rows)
    if rows_total > 10:
        raise _fail(f"a list can have at most 10 rows across all sections (got {rows_total})")


# --- the simulator ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One send the simulator accepted."""

    product: Product
    recipient: str
    body: dict[str, Any]
    message_id: str | None
    at: float


@dataclass(slots=True)
class _Failure:
    status: int
    code: int | None
    subcode: int | None
    message: str
    details: str | None
    retry_after: float | None
    actions: bool


@dataclass(eq=False)
class GraphSimulator(MetaWebhookSender):
    """Holds the simulated platform's state; ``.app`` is the Starlette app serving it.

    One simulator serves both products: Messenger on ``/{version}/me/messages`` (or ``/{page_id}/messages``),
    WhatsApp on ``/{version}/{phone_number_id}/messages``. ``kind`` only chooses what ``/_sim/say`` sends.
    """

    kind: Product = "messenger"
    access_token: str = "EAAG-simulated-access-token"  # noqa: S105 - a simulator's well-known value
    app_secret: str = "simulated-app-secret"  # noqa: S105
    verify_token: str = "simulated-verify-token"  # noqa: S105
    page_id: str = "1122334455"
    phone_number_id: str = "106540352242922"
    display_phone_number: str = "15550783881"
    business_account_id: str = "102290129340398"
    version: str = "v25.0"
    #: seconds every accepted send waits before answering (for benchmarks)
    send_delay: float = 0.0
    sent: list[SentMessage] = field(repr=False, default_factory=list)
    #: sends refused by validation: ``{"product", "body", "error"}``
    rejected: list[dict[str, Any]] = field(repr=False, default_factory=list)
    #: Messenger user profiles by PSID: ``{"first_name", "last_name", "locale"}``
    profiles: dict[str, dict[str, Any]] = field(repr=False, default_factory=dict)
    #: WhatsApp media by id: ``(content, mime_type)``
    media: dict[str, tuple[bytes, str]] = field(repr=False, default_factory=dict)
    #: the raw bytes of the last webhook delivered, for redelivery
    last_delivery: bytes | None = field(default=None, repr=False)
    #: app subscriptions (``subscribed_apps``) by node (a Page id or ``me``, a WhatsApp Business Account id):
    #: the fields the app is subscribed to (WhatsApp's list stays empty: its fields are the app's)
    subscriptions: dict[str, list[str]] = field(default_factory=dict)
    #: the app the gateway's token belongs to (the Page's primary receiver, for the handover protocol)
    app_id: str = "1234567890123456"
    #: handover protocol calls, in order: ``{"op": "pass_thread_control"|"take_thread_control", **body}``
    thread_calls: list[dict[str, Any]] = field(repr=False, default_factory=list)
    #: the app that holds each user's thread (PSID → app id); absent: this app
    thread_owner: dict[str, str] = field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._failures: deque[_Failure] = deque()
        self._outage_until = 0.0
        self._outage_status = 500
        #: API calls answered with the outage's error (``outage``)
        self.outage_refused = 0
        self._arrivals = Arrivals()
        self._counter = 0
        self.app = Starlette(
            routes=[
                Route("/_sim/sent", self._sim_sent, methods=["GET"]),
                Route("/_sim/say", self._sim_say, methods=["POST"]),
                Route("/_sim/fail", self._sim_fail, methods=["POST"]),
                Route("/_sim/outage", self._sim_outage, methods=["POST"]),
                Route("/whatsapp_business/attachments/", self._download, methods=["GET"]),
                Route("/{version}/{node}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{node}/pass_thread_control", self._thread_control, methods=["POST"]),
                Route("/{version}/{node}/take_thread_control", self._thread_control, methods=["POST"]),
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
        code: int | None = None,
        status: int | None = None,
        subcode: int | None = None,
        retry_after: float | None = None,
        message: str | None = None,
        details: str | None = None,
        actions: bool = False,
    ) -> None:
        """Fail the next ``n`` sends with Graph error ``code`` (and/or HTTP ``status``).

        ``retry_after`` sets a ``Retry-After`` header. Typing indicators and read marks are not counted unless
        ``actions`` is true, so a failure reaches the message a test is about.
        """
        if code is None and status is None:
            raise ValueError("give a Graph error code, an HTTP status, or both")
        if code is None:
            code = 2 if status is not None and status >= 500 else 4 if status == 429 else None
        if status is None:
            status = 503 if code == 2 else 400
        if code == 10 and subcode is None:
            subcode = 2018278
        text = message or _DEFAULT_MESSAGES.get(code or 0) or f"(#{code}) Simulated error"
        failure = _Failure(
            status, code, subcode, text, details or _DEFAULT_DETAILS.get(code or 0), retry_after, actions
        )
        self._failures.extend(failure for _ in range(n))

    def outage(self, seconds: float, status: int = 500) -> None:
        """Answer every API call (sends, typing, profiles, media) with ``status`` for the next ``seconds``,
        as a platform down for a while does; ``outage(0)`` ends it at once.

        Unlike ``fail_next`` it is bounded by time, not by a count: how long the gateway keeps a
        conversation's messages waiting is measured against it (``make soak``)."""
        if not 500 <= status <= 599:
            raise ValueError(f"an outage answers a 5xx status, not {status}")
        self._outage_status = status
        self._outage_until = time.monotonic() + max(seconds, 0.0)

    def outage_left(self) -> float:
        """Seconds until the outage ends (0 when the platform is up)."""
        return max(self._outage_until - time.monotonic(), 0.0)

    def _outage_error(self, product: Product | None) -> JSONResponse | None:
        if not self.outage_left():
            return None
        self.outage_refused += 1
        return self._error(self._outage_status, 2, _DEFAULT_MESSAGES[2], product=product)

    def add_media(self, media_id: str, content: bytes, mime_type: str) -> None:
        self.media[media_id] = (content, mime_type)

    async def wait_for_sends(self, n: int, timeout: float = 5.0) -> list[SentMessage]:  # noqa: ASYNC109
        """Wait until at least ``n`` sends were accepted; the accepted sends so far, or TimeoutError."""
        await self._arrivals.until(lambda: len(self.sent), n, timeout)
        return list(self.sent)

    def reset(self) -> None:
        self.sent.clear()
        self.rejected.clear()
        self._failures.clear()
        self._outage_until = 0.0

    # --- webhooks, as the platform sends them (deliver and verify: graph_wire.MetaWebhookSender) ---

    def signature(self, raw: bytes) -> str:
        return sign(raw, self.app_secret)

    # --- payload builders: Messenger ---

    def _id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{secrets.token_hex(6)}{self._counter}"

    @staticmethod
    def _now_ms() -> int:
        return int(time.time() * 1000)

    def messenger_webhook(self, *events: dict[str, Any]) -> dict[str, Any]:
        """One ``page`` webhook carrying ``events`` (batched in one entry)."""
        return {
            "object": "page",
            "entry": [{"id": self.page_id, "time": self._now_ms(), "messaging": list(events)}],
        }

    def messenger_event(self, psid: str, **content: Any) -> dict[str, Any]:
        return {
            "sender": {"id": psid},
            "recipient": {"id": self.page_id},
            "timestamp": self._now_ms(),
            **content,
        }

    def messenger_text(self, psid: str, text: str, *, mid: str | None = None) -> dict[str, Any]:
        message = {"mid": mid or self._id("m_"), "text": text}
        return self.messenger_webhook(self.messenger_event(psid, message=message))

    def messenger_quick_reply(
        self, psid: str, title: str, payload: str, *, mid: str | None = None
    ) -> dict[str, Any]:
        message = {"mid": mid or self._id("m_"), "text": title, "quick_reply": {"payload": payload}}
        return self.messenger_webhook(self.messenger_event(psid, message=message))

    def messenger_postback(
        self, psid: str, title: str, payload: str, *, mid: str | None = None
    ) -> dict[str, Any]:
        postback = {"mid": mid or self._id("m_"), "title": title, "payload": payload}
        return self.messenger_webhook(self.messenger_event(psid, postback=postback))

    def messenger_attachment(
        self, psid: str, kind: str, url: str, *, mid: str | None = None
    ) -> dict[str, Any]:
        message = {"mid": mid or self._id("m_"), "attachments": [{"type": kind, "payload": {"url": url}}]}
        return self.messenger_webhook(self.messenger_event(psid, message=message))

    def messenger_delivery(self, psid: str, watermark_ms: int, mids: Iterable[str] = ()) -> dict[str, Any]:
        delivery: dict[str, Any] = {"watermark": watermark_ms}
        if mids:
            delivery["mids"] = list(mids)
        return self.messenger_webhook(self.messenger_event(psid, delivery=delivery))

    def messenger_read(self, psid: str, watermark_ms: int) -> dict[str, Any]:
        return self.messenger_webhook(self.messenger_event(psid, read={"watermark": watermark_ms}))

    def messenger_thread_event(self, psid: str, field: str, **data: Any) -> dict[str, Any]:
        """A handover protocol event (``pass_thread_control``, ``take_thread_control``,
        ``request_thread_control``) in a ``page`` webhook."""
        return self.messenger_webhook(self.messenger_event(psid, **{field: data}))

    def messenger_pass_thread_control(
        self, psid: str, *, from_app_id: str, metadata: str = ""
    ) -> dict[str, Any]:
        """Another app (e.g. the Page inbox) passed the thread to this app."""
        self.thread_owner.pop(psid, None)
        return self.messenger_thread_event(
            psid,
            "pass_thread_control",
            previous_owner_app_id=from_app_id,
            new_owner_app_id=self.app_id,
            metadata=metadata,
        )

    def messenger_take_thread_control(
        self, psid: str, *, by_app_id: str, metadata: str = ""
    ) -> dict[str, Any]:
        """Another app (e.g. the Page inbox) took the thread from this app."""
        self.thread_owner[psid] = by_app_id
        return self.messenger_thread_event(
            psid,
            "take_thread_control",
            previous_owner_app_id=self.app_id,
            new_owner_app_id=by_app_id,
            metadata=metadata,
        )

    def messenger_request_thread_control(
        self, psid: str, *, by_app_id: str, metadata: str = ""
    ) -> dict[str, Any]:
        """A secondary receiver asks this app (the primary receiver) for the thread."""
        return self.messenger_thread_event(
            psid, "request_thread_control", requested_owner_app_id=by_app_id, metadata=metadata
        )

    def messenger_standby_text(self, psid: str, text: str, *, mid: str | None = None) -> dict[str, Any]:
        """A user's message while another app holds the thread: it comes in the entry's ``standby``."""
        event = self.messenger_event(psid, message={"mid": mid or self._id("m_"), "text": text})
        return {
            "object": "page",
            "entry": [{"id": self.page_id, "time": self._now_ms(), "standby": [event]}],
        }

    # --- payload builders: WhatsApp ---

    def whatsapp_webhook(
        self,
        *,
        messages: Iterable[dict[str, Any]] = (),
        statuses: Iterable[dict[str, Any]] = (),
        contacts: Iterable[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        value: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.display_phone_number,
                "phone_number_id": self.phone_number_id,
            },
        }
        if contacts:
            value["contacts"] = list(contacts)
        if messages:
            value["messages"] = list(messages)
        if statuses:
            value["statuses"] = list(statuses)
        change = {"value": value, "field": "messages"}
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.business_account_id, "changes": [change]}],
        }

    @staticmethod
    def whatsapp_contact(
        wa_id: str | None, user_id: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        contact: dict[str, Any] = {}
        if name:
            contact["profile"] = {"name": name}
        if wa_id:
            contact["wa_id"] = wa_id
        if user_id:
            contact["user_id"] = user_id
        return contact

    def whatsapp_message(
        self,
        kind: str,
        content: dict[str, Any],
        *,
        wa_id: str | None = "16505551234",
        user_id: str | None = None,
        name: str | None = "Sheena Nelson",
        wamid: str | None = None,
        context_id: str | None = None,
    ) -> dict[str, Any]:
        """A webhook with one user message; ``wa_id=None`` gives the 2026 shape of a user known only by a
        business-scoped user id (``user_id``)."""
        message: dict[str, Any] = {
            "id": wamid or self._id("wamid."),
            "timestamp": str(int(time.time())),
            "type": kind,
        }
        if wa_id:
            message["from"] = wa_id
        if context_id:
            message["context"] = {"from": self.display_phone_number, "id": context_id}
        message[kind] = content
        return self.whatsapp_webhook(
            messages=[message], contacts=[self.whatsapp_contact(wa_id, user_id, name)]
        )

    def whatsapp_text(self, wa_id: str | None, text: str, **kw: Any) -> dict[str, Any]:
        return self.whatsapp_message("text", {"body": text}, wa_id=wa_id, **kw)

    def whatsapp_button_reply(self, wa_id: str | None, id: str, title: str, **kw: Any) -> dict[str, Any]:
        content = {"type": "button_reply", "button_reply": {"id": id, "title": title}}
        return self.whatsapp_message("interactive", content, wa_id=wa_id, **kw)

    def whatsapp_list_reply(self, wa_id: str | None, id: str, title: str, **kw: Any) -> dict[str, Any]:
        content = {"type": "list_reply", "list_reply": {"id": id, "title": title}}
        return self.whatsapp_message("interactive", content, wa_id=wa_id, **kw)

    def whatsapp_image(
        self, wa_id: str | None, media_id: str, *, caption: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        content: dict[str, Any] = {
            "mime_type": "image/jpeg",
            "sha256": hashlib.sha256(media_id.encode()).hexdigest(),
            "id": media_id,
        }
        if caption:
            content["caption"] = caption
        return self.whatsapp_message("image", content, wa_id=wa_id, **kw)

    def whatsapp_status(
        self,
        wamid: str,
        status: str,
        recipient_id: str = "16505551234",
        *,
        errors: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": recipient_id,
        }
        if errors:
            item["errors"] = errors
        return self.whatsapp_webhook(statuses=[item])

    # --- HTTP handlers ---

    @staticmethod
    def _error(
        status: int,
        code: int | None,
        message: str,
        *,
        subcode: int | None = None,
        details: str | None = None,
        product: Product | None = None,
        retry_after: float | None = None,
    ) -> JSONResponse:
        """Graph's error answer; WhatsApp's carry ``error_data.details`` when there are any."""
        data = None
        if product == "whatsapp" and details:
            data = {"messaging_product": "whatsapp", "details": details}
        return graph_error(status, code, message, subcode=subcode, error_data=data, retry_after=retry_after)

    async def _subscribed_apps(self, request: Request) -> Response:
        """``POST`` subscribes the app to a Page (``subscribed_fields`` required) or a WhatsApp Business
        Account (no fields); ``GET`` lists it."""
        refused = self._version_error(request) or self._auth_error(request) or self._outage_error(None)
        if refused is not None:
            return refused
        node = request.path_params["node"]
        page = node in (self.page_id, "me")
        if not page and node != self.business_account_id:
            return self._error(400, 100, f"(#100) Object with ID '{node}' does not exist", subcode=33)
        if request.method == "GET":
            listed = node in self.subscriptions
            return JSONResponse({"data": [{"subscribed_fields": self.subscriptions[node]}] if listed else []})
        fields = [f for f in request.query_params.get("subscribed_fields", "").split(",") if f]
        if page and not fields:
            return self._error(400, 100, "(#100) The parameter subscribed_fields is required")
        self.subscriptions[node] = fields
        return JSONResponse({"success": True})

    def _auth_error(self, request: Request) -> JSONResponse | None:
        return token_refused(request, self.access_token)

    def _product(self, node: str) -> Product | None:
        if node in ("me", self.page_id):
            return "messenger"
        if node == self.phone_number_id:
            return "whatsapp"
        return None

    def _version_error(self, request: Request) -> JSONResponse | None:
        version = request.path_params["version"]
        if _VERSION.fullmatch(version):
            return None
        return self._error(400, 2500, f"Unknown path components: /{version}")

    async def _messages(self, request: Request) -> Response:
        node = request.path_params["node"]
        bad_version = self._version_error(request)
        if bad_version is not None:
            return bad_version
        product = self._product(node)
        if product is None:
            return self._unknown_node(node, "post")
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return self._error(400, 100, "(#100) The request body is not valid JSON", product=product)
        down = self._outage_error(product)
        if down is not None:
            return down
        is_action = isinstance(body, dict) and ("sender_action" in body or body.get("status") == "read")
        failure = self._take_failure(is_action)
        if failure is not None:
            return self._error(
                failure.status,
                failure.code,
                failure.message,
                subcode=failure.subcode,
                details=failure.details,
                product=product,
                retry_after=failure.retry_after,
            )
        problem = validate_messenger(body) if product == "messenger" else validate_whatsapp(body)
        if problem is not None:
            self.rejected.append(
                {"product": product, "body": body, "error": problem.message, "details": problem.details}
            )
            return self._error(400, problem.code, problem.message, details=problem.details, product=product)
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        return JSONResponse(self._accept(product, body))

    async def _thread_control(self, request: Request) -> Response:
        """``pass_thread_control`` (``recipient``, ``target_app_id``, ``metadata``) and
        ``take_thread_control`` (``recipient``, ``metadata``) on a Page; ``{"success": true}``."""
        node = request.path_params["node"]
        refused = self._version_error(request) or self._auth_error(request) or self._outage_error(None)
        if refused is not None:
            return refused
        if node not in (self.page_id, "me"):
            return self._unknown_node(node, "post")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return self._error(400, 100, "(#100) The request body is not valid JSON")
        op = request.url.path.rsplit("/", 1)[-1]
        psid = obj(obj(body).get("recipient")).get("id")
        if not isinstance(psid, str) or not psid:
            return self._error(400, 100, "(#100) The parameter recipient is required")
        if op == "pass_thread_control":
            target = body.get("target_app_id")
            if target in (None, ""):
                return self._error(400, 100, "(#100) The parameter target_app_id is required")
            if str(target) == self.app_id:
                return self._error(400, 10, "(#10) Cannot pass thread control to the same app")
            self.thread_owner[psid] = str(target)
        else:
            self.thread_owner.pop(psid, None)
        self.thread_calls.append({"op": op, **body})
        self._arrivals.arrived()
        return JSONResponse({"success": True})

    def _take_failure(self, is_action: bool) -> _Failure | None:
        if self._failures and (not is_action or self._failures[0].actions):
            return self._failures.popleft()
        return None

    def _accept(self, product: Product, body: dict[str, Any]) -> dict[str, Any]:
        if product == "messenger":
            recipient = str(body["recipient"].get("id") or body["recipient"].get("user_ref"))
            if "sender_action" in body:
                answer: dict[str, Any] = {"recipient_id": recipient}
                message_id = None
            else:
                message_id = self._id("m_")
                answer = {"recipient_id": recipient, "message_id": message_id}
        elif body.get("status") == "read":
            recipient, message_id, answer = "", None, {"success": True}
        else:
            recipient = str(body.get("to") or body.get("recipient"))
            contact = {"input": recipient, "wa_id" if body.get("to") else "user_id": recipient}
            message_id = self._id("wamid.")
            answer = {
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [{"id": message_id}],
            }
        self.sent.append(SentMessage(product, recipient, body, message_id, time.time()))
        self._arrivals.arrived()
        return answer

    def _unknown_node(self, node: str, verb: str) -> JSONResponse:
        return self._error(
            400,
            100,
            f"Unsupported {verb} request. Object with ID '{node}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation.",
            subcode=33,
        )

    async def _node(self, request: Request) -> Response:
        node = request.path_params["node"]
        bad_version = self._version_error(request)
        if bad_version is not None:
            return bad_version
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        down = self._outage_error(None)
        if down is not None:
            return down
        if node in self.media:
            content, mime = self.media[node]
            url = f"{str(request.base_url).rstrip('/')}/whatsapp_business/attachments/?mid={node}"
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "url": url,
                    "mime_type": mime,
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "file_size": len(content),
                    "id": node,
                }
            )
        if node in self.profiles:
            fields = [f for f in request.query_params.get("fields", "first_name,last_name").split(",") if f]
            profile = self.profiles[node]
            return JSONResponse({**{f: profile[f] for f in fields if f in profile}, "id": node})
        return self._unknown_node(node, "get")

    async def _download(self, request: Request) -> Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        down = self._outage_error("whatsapp")
        if down is not None:
            return down
        item = self.media.get(request.query_params.get("mid", ""))
        if item is None:
            return Response(status_code=404)
        return Response(item[0], media_type=item[1])

    # --- the control API for standalone use ---

    async def _sim_sent(self, request: Request) -> Response:
        return JSONResponse([asdict(s) for s in self.sent])

    async def _sim_fail(self, request: Request) -> Response:
        """``{"count": 3, "code": 2}`` fails the next sends (an outage bounded by time: ``/_sim/outage``)."""
        spec = orjson.loads(await request.body() or b"{}")
        self.fail_next(
            int(spec.get("count", 1)),
            code=spec.get("code"),
            status=spec.get("status"),
            retry_after=spec.get("retry_after"),
        )
        return JSONResponse({"queued": len(self._failures)})

    async def _sim_outage(self, request: Request) -> Response:
        """``{"seconds": 600, "status": 500}``: every API call fails with ``status`` for ``seconds``
        (``{"seconds": 0}`` ends an outage); answers how long is left and how many calls it refused."""
        try:
            spec = orjson.loads(await request.body() or b"{}")
            seconds, status = float(spec.get("seconds", 0)), int(spec.get("status", 500))
            self.outage(seconds, status)
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            error = f"expected {{'seconds': N, 'status': 5xx}}: {exc}"
            return JSONResponse({"error": error}, status_code=400)
        return JSONResponse({"seconds_left": self.outage_left(), "refused": self.outage_refused})

    async def _sim_say(self, request: Request) -> Response:
        """``{"webhook": url, "user": id, "text": "hi"}`` or ``{..., "payload": "X", "title": "Yes"}``:
        deliver what the user would send, signed; answers the gateway's status."""
        spec = orjson.loads(await request.body() or b"{}")
        url, user = (
            spec.get("webhook"),
            str(spec.get("user") or ("PSID_1" if self.kind == "messenger" else "16505551234")),
        )
        if not url:
            return JSONResponse(
                {"error": "webhook (the gateway's callback URL) is required"}, status_code=400
            )
        payload_value = spec.get("payload")
        if self.kind == "messenger":
            title = str(spec.get("title") or payload_value or "")
            payload = (
                self.messenger_postback(user, title, str(payload_value))
                if payload_value is not None
                else self.messenger_text(user, str(spec.get("text") or ""))
            )
        elif payload_value is not None:
            payload = self.whatsapp_button_reply(
                user, str(payload_value), str(spec.get("title") or payload_value)
            )
        else:
            payload = self.whatsapp_text(user, str(spec.get("text") or ""))
        response = await self.deliver(str(url), payload)
        return JSONResponse({"status": response.status_code, "body": response.text})


def main(kind: str, host: str = "127.0.0.1", port: int = 9090) -> None:
    """Serve a simulator for ``kind`` ("messenger" or "whatsapp") until interrupted, after printing the
    integration config that points channelgate at it."""
    import uvicorn

    if kind not in ("messenger", "whatsapp"):
        raise SystemExit(f"unknown kind {kind!r}: expected messenger or whatsapp")
    sim = GraphSimulator(kind=kind)  # type: ignore[arg-type]
    base = sim.api_base_url(f"http://{host}:{port}")
    token_key = "page_access_token" if kind == "messenger" else "access_token"
    lines = [
        f"Graph API simulator ({kind}) on http://{host}:{port}",
        "Integration config for channelgate:",
        f"  verify_token: {sim.verify_token}",
        f"  app_secret: {sim.app_secret}",
        f"  {token_key}: {sim.access_token}",
        f"  api_base_url: {base}",
    ]
    if kind == "whatsapp":
        lines.append(f"  phone_number_id: {sim.phone_number_id}")
    lines += [
        "Talk to your bot as a user:",
        f"  curl -s -X POST http://{host}:{port}/_sim/say "
        + '-d \'{"webhook": "<callback URL>", "text": "hi"}\'',
        f"  curl -s http://{host}:{port}/_sim/sent",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    uvicorn.run(sim.app, host=host, port=port, log_level="info")
