"""A Telegram Bot API simulator on a real HTTP server, for channelgate's tests and for bot developers
without a bot of their own.

* It answers ``POST|GET /bot<token>/<method>`` (JSON, form or query parameters) as the Bot API does, with
  ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code", "description", "parameters"?}``: a wrong
  token is 401 ``Unauthorized``, an unknown method 404 ``Not Found``.
* Methods: ``getMe``, ``setWebhook``, ``deleteWebhook``, ``getWebhookInfo``, ``sendMessage``, ``sendPhoto``,
  ``sendVideo``, ``sendAudio``, ``sendDocument``, ``sendLocation``, ``sendVenue``, ``sendChatAction``,
  ``answerCallbackQuery``, ``getFile`` (and ``GET /file/bot<token>/<path>``).
* Sends are checked against the documented limits (:func:`validate`): text 1-4,096 characters, captions up
  to 1,024, ``callback_data`` 1-64 bytes, an inline keyboard as rows of buttons with a text and exactly one
  action, coordinates on Earth, ``secret_token`` of 1-256 ``A-Za-z0-9_-``. A refused send is 400
  ``Bad Request: …`` and is kept in ``sim.rejected``.
* Failures on demand: ``sim.fail_next(1, status=429, retry_after=2)`` (flood control, with
  ``parameters.retry_after``), 5xx, 401; ``sim.outage(seconds)``; ``sim.blocked`` chats answer 403
  ``Forbidden: bot was blocked by the user``; ``sim.chat_limit = (rate, burst)`` answers 429 to sends over
  that rate per chat, as Telegram's flood control does.
* It builds updates (``sim.text_update(chat_id, "hi")``, ``callback_update``, ``photo_update``…) and
  delivers them to the webhook set with ``setWebhook`` (or any URL) with the
  ``X-Telegram-Bot-Api-Secret-Token`` header; a non-2xx answer becomes ``getWebhookInfo``'s
  ``last_error_message``, as on Telegram. Redelivering the same bytes is a redelivery.

Why one module of ~600 lines: the validation rules, the methods and the update builders are one simulated
platform, read together when a test fails (the Graph simulator, ``graph.py``, is built the same way).

One allowance: Telegram only calls HTTPS webhooks; the simulator also takes ``http://`` on a loopback host,
where tests run the gateway.
"""

from __future__ import annotations

import hmac
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.testing.arrivals import Arrivals

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name

TEXT_MAX = 4096
CAPTION_MAX = 1024
CALLBACK_DATA_MAX = 64
CALLBACK_ANSWER_MAX = 200
#: PTB's InlineKeyboardMarkupLimit (100 buttons, 8 a row); not in the Bot API's own text.
BUTTONS_MAX, ROW_MAX = 100, 8
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
WEBHOOK_PORTS = (443, 80, 88, 8443)
CHAT_ACTIONS = frozenset(
    {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
     "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}
)  # fmt: skip
INLINE_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query", "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay",
)  # fmt: skip
MEDIA_METHODS = {"sendPhoto": "photo", "sendVideo": "video", "sendAudio": "audio", "sendDocument": "document"}


class BadRequest(Exception):
    """A call Telegram would refuse with 400 ``Bad Request: <message>``."""


# --- validation --------------------------------------------------------------------------------------------


def validate(method: str, params: Mapping[str, Any]) -> None:
    """Raise BadRequest as the Bot API would for ``method`` with ``params``."""
    if method in ("sendMessage", *MEDIA_METHODS, "sendLocation", "sendVenue", "sendChatAction"):
        chat = params.get("chat_id")
        if chat is None or chat == "" or isinstance(chat, bool) or not isinstance(chat, int | str):
            raise BadRequest("chat_id is empty")
    if method == "sendMessage":
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("message text is empty")
        if len(text) > TEXT_MAX:
            raise BadRequest("message is too long")
    elif method in MEDIA_METHODS:
        source = params.get(MEDIA_METHODS[method])
        if not isinstance(source, str) or not source:
            raise BadRequest(f"there is no {MEDIA_METHODS[method]} in the request")
        caption = params.get("caption")
        if caption is not None and (not isinstance(caption, str) or len(caption) > CAPTION_MAX):
            raise BadRequest("message caption is too long")
    elif method in ("sendLocation", "sendVenue"):
        _coordinates(params)
        if method == "sendVenue":
            for name in ("title", "address"):
                if not isinstance(params.get(name), str) or not params[name]:
                    raise BadRequest(f"venue {name} is empty")
    elif method == "sendChatAction":
        if params.get("action") not in CHAT_ACTIONS:
            raise BadRequest("wrong parameter action in request")
    elif method == "answerCallbackQuery":
        if not params.get("callback_query_id"):
            raise BadRequest("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > CALLBACK_ANSWER_MAX):
            raise BadRequest("MESSAGE_TOO_LONG")
    if "reply_markup" in params:
        validate_markup(params["reply_markup"])
    parse_mode = params.get("parse_mode")
    if parse_mode is not None and parse_mode not in ("MarkdownV2", "HTML", "Markdown"):
        raise BadRequest(f"unsupported parse_mode {parse_mode!r}")


def _coordinates(params: Mapping[str, Any]) -> None:
    for name, bound in (("latitude", 90), ("longitude", 180)):
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not -bound <= value <= bound:
            raise BadRequest(f"wrong {name}")


def validate_markup(markup: Any) -> None:
    """An InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove or ForceReply."""
    if not isinstance(markup, dict):
        raise BadRequest("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _inline_keyboard(markup["inline_keyboard"])
    elif "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise BadRequest('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
        for row in rows:
            for button in row:
                text = button.get("text") if isinstance(button, dict) else button
                if not isinstance(text, str) or not text:
                    raise BadRequest("keyboard button text is empty")
    elif markup.get("remove_keyboard") is not True and markup.get("force_reply") is not True:
        raise BadRequest('can\'t find field "inline_keyboard"')


def _inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise BadRequest('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    if sum(len(r) for r in rows) > BUTTONS_MAX:
        raise BadRequest("reply markup is too long")
    for row in rows:
        if len(row) > ROW_MAX:
            raise BadRequest("too many buttons in a row")
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
                raise BadRequest(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            actions = [a for a in INLINE_ACTIONS if a in button]
            if len(actions) != 1:
                raise BadRequest(
                    "can't parse inline keyboard button: exactly one of the optional fields must be used"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_MAX:
                    raise BadRequest("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not url.startswith(("https://", "http://", "tg://")):
                    raise BadRequest("BUTTON_URL_INVALID")


def webhook_url_problem(url: str) -> str | None:
    """Why Telegram would refuse ``url`` as a webhook (None: it would not)."""
    if url == "":
        return None  # removes the webhook
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        return "bad webhook: An HTTPS URL must be provided for webhook"
    if parts.scheme == "https" and (parts.port or 443) not in WEBHOOK_PORTS:
        return "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
    return None


# --- the simulator -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentCall:
    """One call the simulator accepted."""

    method: str
    chat_id: str | None
    params: dict[str, Any]
    message_id: int | None
    at: float


@dataclass(slots=True)
class _Failure:
    status: int
    description: str
    retry_after: float | None
    actions: bool


_DESCRIPTIONS = {
    400: "Bad Request: simulated",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    429: "Too Many Requests: retry after {retry}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass(eq=False)
class TelegramSimulator:
    """The simulated Bot API's state; ``.app`` is the Starlette app serving it."""

    bot_token: str = "123456789:AAE-simulated-bot-token-0123456789"  # noqa: S105 - a simulator's value
    secret_token: str = "simulated-secret-token"  # noqa: S105
    bot_id: int = 123456789
    username: str = "channelgate_sim_bot"
    #: per-chat flood control, (messages per second, burst), or None: off
    chat_limit: tuple[float, float] | None = None
    #: accepted message sends (``send*``), in order
    sent: list[SentCall] = field(default_factory=list, repr=False)
    #: every accepted call (sends, callback answers, chat actions, webhook calls)
    calls: list[SentCall] = field(default_factory=list, repr=False)
    #: calls refused by validation: ``{"method", "params", "error"}``
    rejected: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: chat ids that have blocked the bot
    blocked: set[str] = field(default_factory=set, repr=False)
    #: files by ``file_id``: ``(file_path, content, mime_type)``
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict, repr=False)
    #: the raw bytes of the last update delivered, for redelivery
    last_delivery: bytes | None = field(default=None, repr=False)
    #: sends answered 429 by ``chat_limit``
    flood_refused: int = 0

    def __post_init__(self) -> None:
        self.webhook: dict[str, Any] = {"url": "", "pending_update_count": 0}
        self._webhook_secret: str | None = None
        self._failures: deque[_Failure] = deque()
        self._outage_until = 0.0
        self._update_id = 100000
        self._message_ids: dict[str, int] = {}
        self._chat_buckets: dict[str, tuple[float, float]] = {}
        self._arrivals = Arrivals()
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._call, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )

    # --- test controls ---

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        retry_after: float | None = None,
        description: str | None = None,
        actions: bool = False,
    ) -> None:
        """Fail the next ``n`` sends with ``status`` (429 carries ``parameters.retry_after``). Callback
        answers and chat actions are not counted unless ``actions``, so the failure reaches a message."""
        if status == 429 and retry_after is None:
            retry_after = 1
        text = description or _DESCRIPTIONS.get(status, f"Error {status}")
        text = text.format(retry=int(retry_after) if retry_after is not None else 0)
        self._failures.extend(_Failure(status, text, retry_after, actions) for _ in range(n))

    def outage(self, seconds: float) -> None:
        """Answer every call 502 ``Bad Gateway`` for the next ``seconds`` (0 ends it)."""
        self._outage_until = time.monotonic() + max(seconds, 0.0)

    def add_file(self, file_id: str, content: bytes, mime_type: str, path: str | None = None) -> None:
        """A file users sent; ``path=""`` makes it one bots cannot download (over 20 MB: no ``file_path``)."""
        self.files[file_id] = (f"documents/{file_id}.bin" if path is None else path, content, mime_type)

    async def wait_for_sends(self, n: int, timeout: float = 5.0) -> list[SentCall]:  # noqa: ASYNC109
        """Wait until at least ``n`` message sends were accepted."""
        await self._arrivals.until(lambda: len(self.sent), n, timeout)
        return list(self.sent)

    def answered_callbacks(self) -> list[str]:
        return [
            str(c.params.get("callback_query_id")) for c in self.calls if c.method == "answerCallbackQuery"
        ]

    # --- updates, as Telegram sends them ---

    def next_update_id(self) -> int:
        self._update_id += 1
        return self._update_id

    @staticmethod
    def user(
        user_id: int, first_name: str = "Ann", last_name: str | None = "Lee", **more: Any
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        return {**user, "language_code": "en", **more}

    def message(self, chat_id: int, content: dict[str, Any], *, sender: int | None = None) -> dict[str, Any]:
        """A Message in a private chat (``chat_id`` > 0) or a group (< 0), from ``sender`` (the chat's user
        by default)."""
        sender_id = sender if sender is not None else abs(chat_id)
        chat: dict[str, Any] = (
            {"id": chat_id, "type": "private", "first_name": "Ann", "last_name": "Lee"}
            if chat_id > 0
            else {"id": chat_id, "type": "supergroup", "title": "Test group"}
        )
        key = str(chat_id)
        self._message_ids[key] = self._message_ids.get(key, 0) + 1
        return {
            "message_id": self._message_ids[key],
            "from": self.user(sender_id),
            "chat": chat,
            "date": int(time.time()),
            **content,
        }

    def update(self, kind: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"update_id": self.next_update_id(), kind: value}

    def text_update(self, chat_id: int, text: str, **kw: Any) -> dict[str, Any]:
        return self.update("message", self.message(chat_id, {"text": text}, **kw))

    def photo_update(self, chat_id: int, file_id: str, caption: str | None = None) -> dict[str, Any]:
        sizes = [
            {"file_id": f"{file_id}-s", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 1000},
            {"file_id": file_id, "file_unique_id": "m", "width": 800, "height": 800, "file_size": 50000},
        ]
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return self.update("message", self.message(chat_id, content))

    def location_update(self, chat_id: int, latitude: float, longitude: float) -> dict[str, Any]:
        return self.update(
            "message", self.message(chat_id, {"location": {"latitude": latitude, "longitude": longitude}})
        )

    def contact_update(self, chat_id: int, phone: str, first_name: str = "Ann") -> dict[str, Any]:
        contact = {"phone_number": phone, "first_name": first_name, "user_id": abs(chat_id)}
        return self.update("message", self.message(chat_id, {"contact": contact}))

    def edited_update(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        message = self.message(chat_id, {"text": text, "edit_date": int(time.time())})
        message["message_id"] = message_id
        return self.update("edited_message", message)

    def callback_update(
        self, chat_id: int, data: str, *, message: dict[str, Any] | None = None, query_id: str | None = None
    ) -> dict[str, Any]:
        """A tap on an inline button with ``data``, on ``message`` (by default the last message the bot
        sent to the chat that had a keyboard, as Telegram attaches it)."""
        if message is None:
            message = next(
                (
                    self._as_message(c)
                    for c in reversed(self.sent)
                    if c.chat_id == str(chat_id) and "reply_markup" in c.params
                ),
                None,
            )
        query: dict[str, Any] = {
            "id": query_id or f"{abs(chat_id)}{self.next_update_id()}",
            "from": self.user(abs(chat_id)),
            "chat_instance": "-5555555555555555555",
            "data": data,
        }
        if message is not None:
            query["message"] = message
        return self.update("callback_query", query)

    def my_chat_member_update(self, chat_id: int, status: str) -> dict[str, Any]:
        """The user blocked (``kicked``) or unblocked (``member``) the bot in their private chat."""
        old = "member" if status == "kicked" else "kicked"
        value = {
            "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
            "from": self.user(abs(chat_id)),
            "date": int(time.time()),
            "old_chat_member": {"user": self.me(), "status": old},
            "new_chat_member": {"user": self.me(), "status": status},
        }
        return self.update("my_chat_member", value)

    async def deliver(
        self,
        update: dict[str, Any] | bytes,
        url: str | None = None,
        *,
        secret: str | None = None,
        signed: bool = True,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        """POST an update to ``url`` (default: the webhook set with setWebhook) with the secret header: the
        secret given to setWebhook, ``secret`` to send another, ``signed=False`` to send none."""
        target = url or self.webhook["url"]
        if not target:
            raise RuntimeError("no webhook is set: call setWebhook first, or pass url")
        raw = update if isinstance(update, bytes) else orjson.dumps(update)
        self.last_delivery = raw
        headers = {"Content-Type": "application/json"}
        token = secret if secret is not None else (self._webhook_secret or self.secret_token)
        if signed:
            headers[SECRET_HEADER] = token
        if client is not None:
            response = await client.post(target, content=raw, headers=headers)
        else:
            async with httpx.AsyncClient(timeout=10) as own:
                response = await own.post(target, content=raw, headers=headers)
        if response.is_success:
            self.webhook.pop("last_error_message", None)
        else:
            self.webhook["last_error_date"] = int(time.time())
            self.webhook["last_error_message"] = (
                f"Wrong response from the webhook: {response.status_code} " + (response.reason_phrase or "")
            )
        return response

    # --- the Bot API ---

    def me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Simulated bot", "username": self.username}

    @staticmethod
    def _answer(result: Any) -> JSONResponse:
        return JSONResponse({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        headers = (
            {"Retry-After": str(parameters["retry_after"])}
            if parameters and "retry_after" in parameters
            else None
        )
        return JSONResponse(body, status_code=status, headers=headers)

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        kind = request.headers.get("content-type", "")
        if raw and "json" in kind:
            loaded = orjson.loads(raw)
            if not isinstance(loaded, dict):
                raise BadRequest("parameters must be a JSON object")
            params.update(loaded)
        elif raw:
            params.update(parse_qsl(raw.decode(), keep_blank_values=True))
        for name in ("reply_markup", "allowed_updates", "reply_parameters"):  # JSON-serialised in forms
            if isinstance(params.get(name), str):
                params[name] = orjson.loads(params[name])
        return params

    async def _call(self, request: Request) -> Response:
        if not hmac.compare_digest(request.path_params["token"].encode(), self.bot_token.encode()):
            return self._error(401, "Unauthorized")
        method = request.path_params["method"]
        handler = self._methods().get(method)
        if handler is None:
            return self._error(404, "Not Found")
        if time.monotonic() < self._outage_until:
            return self._error(502, "Bad Gateway")
        try:
            params = await self._params(request)
        except (orjson.JSONDecodeError, UnicodeDecodeError, BadRequest) as exc:
            return self._error(400, f"Bad Request: can't parse parameters: {exc}")
        is_send = method.startswith("send") and method != "sendChatAction"
        if self._failures and (is_send or self._failures[0].actions):
            failure = self._failures.popleft()
            parameters = {"retry_after": failure.retry_after} if failure.retry_after is not None else None
            return self._error(failure.status, failure.description, parameters)
        try:
            validate(method, params)
        except BadRequest as exc:
            self.rejected.append({"method": method, "params": params, "error": str(exc)})
            return self._error(400, f"Bad Request: {exc}")
        chat_id = str(params["chat_id"]) if "chat_id" in params else None
        if is_send and chat_id in self.blocked:
            return self._error(403, "Forbidden: bot was blocked by the user")
        if is_send and chat_id is not None:
            wait = self._flood_wait(chat_id)
            if wait:
                self.flood_refused += 1
                return self._error(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        params["_method"] = method
        response: Response = handler(params, chat_id)
        return response

    def _flood_wait(self, chat_id: str) -> int:
        """Seconds to wait (0: go) under ``chat_limit``'s token bucket for this chat."""
        if self.chat_limit is None:
            return 0
        rate, burst = self.chat_limit
        now = time.monotonic()
        tokens, updated = self._chat_buckets.get(chat_id, (burst, now))
        tokens = min(burst, tokens + (now - updated) * rate)
        if tokens < 1 - 1e-6:
            self._chat_buckets[chat_id] = (tokens, now)
            return max(1, round((1 - tokens) / rate))
        self._chat_buckets[chat_id] = (tokens - 1, now)
        return 0

    def _methods(self) -> dict[str, Any]:
        sends = {m: self._send for m in ("sendMessage", *MEDIA_METHODS, "sendLocation", "sendVenue")}
        return {
            **sends,
            "getMe": lambda params, chat: self._answer(self.me()),
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": lambda params, chat: self._answer(dict(self.webhook)),
            "answerCallbackQuery": self._recorded,
            "sendChatAction": self._recorded,
            "getFile": self._get_file,
        }

    def _record(
        self, method: str, params: dict[str, Any], chat: str | None, message_id: int | None
    ) -> SentCall:
        call = SentCall(method, chat, params, message_id, time.time())
        self.calls.append(call)
        return call

    def _send(self, params: dict[str, Any], chat: str | None) -> Response:
        method = str(params.pop("_method"))
        assert chat is not None
        self._message_ids[chat] = self._message_ids.get(chat, 0) + 1
        call = self._record(method, params, chat, self._message_ids[chat])
        self.sent.append(call)
        self._arrivals.arrived()
        return self._answer(self._as_message(call))

    def _as_message(self, call: SentCall) -> dict[str, Any]:
        """The Message Telegram answers for a send (and attaches to a callback query)."""
        chat_id = call.chat_id or "0"
        message: dict[str, Any] = {
            "message_id": call.message_id,
            "from": self.me(),
            "chat": {
                "id": int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id,
                "type": "supergroup" if chat_id.startswith("-") else "private",
            },
            "date": int(call.at),
        }
        for name in ("text", "caption", "reply_markup", "location"):
            if name in call.params:
                message[name] = call.params[name]
        return message

    def _recorded(self, params: dict[str, Any], chat: str | None) -> Response:
        self._record(str(params.pop("_method")), params, chat, None)
        return self._answer(True)

    def _set_webhook(self, params: dict[str, Any], chat: str | None) -> Response:
        url = str(params.get("url", ""))
        problem = webhook_url_problem(url)
        if problem:
            return self._error(400, f"Bad Request: {problem}")
        secret = params.get("secret_token")
        if secret is not None and (not isinstance(secret, str) or not SECRET_TOKEN.fullmatch(secret)):
            return self._error(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if allowed is not None and not (
            isinstance(allowed, list) and all(isinstance(a, str) for a in allowed)
        ):
            return self._error(400, "Bad Request: can't parse allowed updates")
        self._record("setWebhook", {k: v for k, v in params.items() if k != "_method"}, None, None)
        self.webhook = {
            "url": url,
            "has_custom_certificate": False,
            "pending_update_count": 0,
            "max_connections": int(params.get("max_connections", 40)),
        }
        if allowed is not None:
            self.webhook["allowed_updates"] = allowed
        self._webhook_secret = secret
        return self._answer(True)

    def _delete_webhook(self, params: dict[str, Any], chat: str | None) -> Response:
        self.webhook = {"url": "", "pending_update_count": 0}
        self._webhook_secret = None
        return self._answer(True)

    def _get_file(self, params: dict[str, Any], chat: str | None) -> Response:
        file_id = str(params.get("file_id", ""))
        item = self.files.get(file_id)
        if item is None:
            return self._error(400, "Bad Request: invalid file_id")
        answer: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": file_id[:8],
            "file_size": len(item[1]),
        }
        if item[0]:
            answer["file_path"] = item[0]
        return self._answer(answer)

    async def _file(self, request: Request) -> Response:
        if not hmac.compare_digest(request.path_params["token"].encode(), self.bot_token.encode()):
            return Response(status_code=401)
        for path, content, mime in self.files.values():
            if path == request.path_params["path"]:
                return Response(content, media_type=mime)
        return Response(status_code=404)
