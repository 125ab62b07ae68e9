"""A Slack simulator: the Web API methods the channel calls, and the requests Slack posts to an app.

It lets channelgate's tests, and bot developers without a Slack workspace, run a bot end to end:

* it accepts ``chat.postMessage`` (JSON, ``Authorization: Bearer xoxb-…``) and checks it against Slack's
  documented limits, answering as Slack does, HTTP 200 ``{"ok": false, "error": ...}``: ``no_text``,
  ``channel_not_found``, ``msg_too_long`` (text over 40,000 characters), ``invalid_blocks`` (over 50
  blocks, a section over 3,000 characters, over 25 elements in ``actions``, a button text over 75 or a value
  over 2,000, duplicate ``action_id``, an image without ``alt_text``...), with the reasons in ``errors``;
* it answers ``auth.test`` and ``files.info``, and serves the private file URLs it gives (bot token only);
* it paces each channel as Slack does (about one message a second, short bursts allowed): over that it
  answers HTTP 429 ``ratelimited`` with ``Retry-After``; it can be told to fail the next sends
  (``sim.fail_next(1, error="ratelimited", status=429, retry_after=1)``, ``status=500`` before or after
  posting, ``error="channel_not_found"``...);
* it records accepted posts (``sim.sent``; ``await sim.wait_for_sends(n)``);
* it builds Slack's requests and posts them signed exactly as Slack does (``X-Slack-Signature`` v0 over
  ``v0:{timestamp}:{body}``, ``X-Slack-Request-Timestamp``): Events API envelopes
  (``sim.message("D0USER", "hi")``), ``url_verification``, interactivity forms ``payload=<JSON>``
  (``sim.button_click(...)``), slash commands; ``sim.redeliver(url)`` repeats the last one as Slack's retry
  does (same body, a new timestamp, ``X-Slack-Retry-Num``).

Run it standalone with ``channelgate simulate slack`` (see :func:`main`). This is one module on purpose:
the wire format, the limits it checks and the requests it sends are one picture of the platform.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.channels.slack.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from channelgate.testing.arrivals import Arrivals

#: Slack's documented limits (chat.postMessage, Block Kit reference).
TEXT_MAX = 40_000
BLOCKS_MAX = 50
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
ACTIONS_MAX = 25
CONTEXT_MAX = 10
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
ID_MAX = 255
ALT_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
BLOCK_TYPES = frozenset(
    {"section", "image", "actions", "context", "divider", "header", "rich_text", "input", "file", "video"}
)
CHANNEL_PREFIXES = ("C", "D", "G", "U", "W")


class InvalidBlocks(Exception):
    """A message Slack would refuse with ``invalid_blocks``; the reason is what Slack puts in ``errors``."""


# --- validation ----------------------------------------------------------------------------------------


def validate_post(body: Any) -> tuple[str, list[str]] | None:
    """The error Slack would answer for a ``chat.postMessage`` body (its code and reasons), or None."""
    if not isinstance(body, dict):
        return "invalid_arguments", ["the body must be a JSON object"]
    channel = body.get("channel")
    if not isinstance(channel, str) or not channel.startswith(CHANNEL_PREFIXES):
        return "channel_not_found", [f"unknown channel {channel!r}"]
    text, blocks = body.get("text"), body.get("blocks")
    if not (isinstance(text, str) and text) and not blocks and not body.get("attachments"):
        return "no_text", ["text, blocks or attachments is required"]
    if isinstance(text, str) and len(text) > TEXT_MAX:
        return "msg_too_long", [f"text is {len(text)} characters, over {TEXT_MAX}"]
    if "thread_ts" in body and not isinstance(body["thread_ts"], str):
        return "invalid_arguments", ["thread_ts must be a string"]
    if blocks is not None:
        try:
            _blocks(blocks)
        except InvalidBlocks as exc:
            return "invalid_blocks", [str(exc)]
    return None


def _blocks(blocks: Any) -> None:
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= BLOCKS_MAX:
        count = len(blocks) if isinstance(blocks, list) else 0
        raise InvalidBlocks(
            f"must provide between 1 and {BLOCKS_MAX} blocks (got {count}) [json-pointer:/blocks]"
        )
    block_ids: set[str] = set()
    action_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            raise InvalidBlocks(f"unknown block type [json-pointer:{where}/type]")
        block_id = block.get("block_id")
        if block_id is not None:
            _string(block_id, ID_MAX, f"{where}/block_id")
            if block_id in block_ids:
                raise InvalidBlocks(f"duplicate block_id {block_id!r} [json-pointer:{where}/block_id]")
            block_ids.add(block_id)
        kind = block["type"]
        if kind == "section":
            _section(block, where, action_ids)
        elif kind == "image":
            _image(block, where)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= ACTIONS_MAX:
                raise InvalidBlocks(
                    f"must provide between 1 and {ACTIONS_MAX} elements [json-pointer:{where}/elements]"
                )
            for j, element in enumerate(elements):
                _element(element, f"{where}/elements/{j}", action_ids)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= CONTEXT_MAX:
                raise InvalidBlocks(
                    f"must provide between 1 and {CONTEXT_MAX} elements [json-pointer:{where}/elements]"
                )
            for j, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") == "image":
                    _image(element, f"{where}/elements/{j}")
                else:
                    _text_object(element, SECTION_TEXT_MAX, f"{where}/elements/{j}")
        elif kind == "header":
            _text_object(block.get("text"), HEADER_TEXT_MAX, f"{where}/text", plain=True)


def _string(value: Any, limit: int, where: str, low: int = 1) -> None:
    if not isinstance(value, str) or not low <= len(value) <= limit:
        got = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
        raise InvalidBlocks(
            f"must be a string of {low} to {limit} characters, got {got} [json-pointer:{where}]"
        )


def _text_object(value: Any, limit: int, where: str, *, plain: bool = False) -> None:
    kinds = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if not isinstance(value, dict) or value.get("type") not in kinds:
        raise InvalidBlocks(f"must be a text object of type {' or '.join(kinds)} [json-pointer:{where}]")
    _string(value.get("text"), limit, f"{where}/text")


def _section(block: dict[str, Any], where: str, action_ids: set[str]) -> None:
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        raise InvalidBlocks(f"a section needs text or fields [json-pointer:{where}]")
    if text is not None:
        _text_object(text, SECTION_TEXT_MAX, f"{where}/text")
    if fields is not None:
        if not isinstance(fields, list) or not 1 <= len(fields) <= SECTION_FIELDS_MAX:
            raise InvalidBlocks(
                f"must provide between 1 and {SECTION_FIELDS_MAX} fields [json-pointer:{where}/fields]"
            )
        for j, item in enumerate(fields):
            _text_object(item, 2000, f"{where}/fields/{j}")
    accessory = block.get("accessory")
    if accessory is not None:
        if isinstance(accessory, dict) and accessory.get("type") == "image":
            _image(accessory, f"{where}/accessory")
        else:
            _element(accessory, f"{where}/accessory", action_ids)


def _image(block: dict[str, Any], where: str) -> None:
    url = block.get("image_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > URL_MAX:
        raise InvalidBlocks(
            f"image_url must be an http(s) URL of at most {URL_MAX} characters "
            f"[json-pointer:{where}/image_url]"
        )
    _string(block.get("alt_text"), ALT_TEXT_MAX, f"{where}/alt_text")
    if "title" in block:
        _text_object(block["title"], ALT_TEXT_MAX, f"{where}/title", plain=True)


def _element(element: Any, where: str, action_ids: set[str]) -> None:
    if not isinstance(element, dict):
        raise InvalidBlocks(f"must be an object [json-pointer:{where}]")
    action_id = element.get("action_id")
    if action_id is not None:
        _string(action_id, ID_MAX, f"{where}/action_id")
        if action_id in action_ids:
            raise InvalidBlocks(f"duplicate action_id {action_id!r} [json-pointer:{where}/action_id]")
        action_ids.add(action_id)
    if element.get("type") != "button":
        return  # menus, date pickers...: accepted as they are
    _text_object(element.get("text"), BUTTON_TEXT_MAX, f"{where}/text", plain=True)
    if "value" in element:
        _string(element["value"], BUTTON_VALUE_MAX, f"{where}/value")
    if "url" in element:
        url = element["url"]
        _string(url, URL_MAX, f"{where}/url")
        if not url.startswith(("https://", "http://")):
            raise InvalidBlocks(f"url must be an http(s) URL [json-pointer:{where}/url]")


# --- the simulator ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One post the simulator accepted."""

    channel: str
    body: dict[str, Any]
    ts: str
    at: float


@dataclass(slots=True)
class _Failure:
    error: str
    status: int
    retry_after: float | None
    after_posting: bool


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass(eq=False)
class SlackSimulator:
    """The simulated workspace's state; ``.app`` is the Starlette app serving its Web API at ``/api``."""

    signing_secret: str = "simulated-signing-secret"  # noqa: S105 - a simulator's well-known value
    bot_token: str = "xoxb-0000000000-simulated-bot-token"  # noqa: S105
    team_id: str = "T0SIMTEAM"
    team: str = "Simulated Workspace"
    bot_user_id: str = "U0SIMBOT"
    bot_id: str = "B0SIMBOT"
    app_id: str = "A0SIMAPP"
    #: Slack's per-channel pacing of chat.postMessage (None: off), and the burst it tolerates (one more
    #: than the channel's own pacing allows itself: requests arrive with network jitter)
    channel_rate: float | None = 1.0
    channel_burst: float = 4.0
    #: seconds every accepted post waits before answering (for benchmarks)
    send_delay: float = 0.0
    sent: list[SentMessage] = field(repr=False, default_factory=list)
    #: posts refused: ``{"body", "error", "errors"}``
    rejected: list[dict[str, Any]] = field(repr=False, default_factory=list)
    #: posts answered 429 by the per-channel pacing
    throttled: int = 0
    #: files users shared, by id: ``(content, mime_type, name)``
    files: dict[str, tuple[bytes, str, str]] = field(repr=False, default_factory=dict)
    #: the last request posted to the gateway (body, content type), for ``redeliver``
    last_delivery: tuple[bytes, str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._failures: deque[_Failure] = deque()
        self._buckets: dict[str, _Bucket] = {}
        self._arrivals = Arrivals()
        self._ts = itertools.count(1)
        self._events = itertools.count(1)
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/api/chat.postMessage", self._post_message, methods=["POST"]),
                Route("/api/auth.test", self._auth_test, methods=["POST", "GET"]),
                Route("/api/files.info", self._files_info, methods=["POST", "GET"]),
                Route("/files-pri/{team}-{file}/download/{name}", self._download, methods=["GET"]),
                Route("/_sim/sent", self._sim_sent, methods=["GET"]),
                Route("/_sim/say", self._sim_say, methods=["POST"]),
            ]
        )

    def api_base_url(self, server_url: str) -> str:
        """The ``api_base_url`` to configure, given the URL the simulator is served on."""
        self.base_url = server_url.rstrip("/")
        return f"{self.base_url}/api"

    # --- test controls ---

    def fail_next(
        self,
        n: int = 1,
        *,
        error: str = "internal_error",
        status: int | None = None,
        retry_after: float | None = None,
        after_posting: bool = False,
    ) -> None:
        """Fail the next ``n`` posts with Slack error ``error`` (HTTP ``status``: 200 for most errors, 429
        for ``ratelimited``, 5xx for Slack failing). ``after_posting``: the message is posted, then the
        answer fails (what makes a retried send a duplicate, since Slack has no idempotency key)."""
        if status is None:
            status = 429 if error == "ratelimited" else 200
        for _ in range(n):
            self._failures.append(_Failure(error, status, retry_after, after_posting))

    async def wait_for_sends(self, n: int, timeout: float = 5.0) -> list[SentMessage]:  # noqa: ASYNC109
        """Wait until at least ``n`` posts were accepted; the accepted posts so far, or TimeoutError."""
        await self._arrivals.until(lambda: len(self.sent), n, timeout)
        return list(self.sent)

    # --- the Web API ---

    def _auth(self, request: Request) -> str | None:
        """None when the bot token is right, else Slack's error."""
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return "not_authed"
        return None if secrets.compare_digest(header[7:].strip(), self.bot_token) else "invalid_auth"

    @staticmethod
    def _error(error: str, status: int = 200, **extra: Any) -> JSONResponse:
        headers = (
            {"Retry-After": str(extra.pop("retry_after"))} if extra.get("retry_after") is not None else None
        )
        extra.pop("retry_after", None)
        return JSONResponse({"ok": False, "error": error, **extra}, status_code=status, headers=headers)

    async def _post_message(self, request: Request) -> Response:
        refused = self._auth(request)
        if refused:
            return self._error(refused)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return self._error("invalid_json")
        failure = self._failures.popleft() if self._failures else None
        if failure is not None and not failure.after_posting:
            return self._fail(failure)
        problem = validate_post(body)
        if problem is not None:
            error, errors = problem
            self.rejected.append({"body": body, "error": error, "errors": errors})
            return self._error(
                error, errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]}
            )
        channel = str(body["channel"])
        wait = self._pace(channel)
        if wait is not None:
            self.throttled += 1
            return self._error("ratelimited", 429, retry_after=max(1, int(wait + 0.999)))
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        self.sent.append(SentMessage(channel, body, ts, time.time()))
        self._arrivals.arrived()
        if failure is not None:
            return self._fail(failure)
        message = {k: v for k, v in body.items() if k in ("text", "blocks", "thread_ts")}
        message.update(type="message", user=self.bot_user_id, bot_id=self.bot_id, ts=ts, team=self.team_id)
        return JSONResponse({"ok": True, "channel": channel, "ts": ts, "message": message})

    def _fail(self, failure: _Failure) -> Response:
        if failure.status >= 500:
            return Response("upstream error", status_code=failure.status, media_type="text/plain")
        return self._error(failure.error, failure.status, retry_after=failure.retry_after)

    def _pace(self, channel: str) -> float | None:
        """None when a post to ``channel`` is within Slack's pace, else the seconds until it would be."""
        if self.channel_rate is None:
            return None
        now = time.monotonic()
        bucket = self._buckets.setdefault(channel, _Bucket(self.channel_burst, now))
        bucket.tokens = min(self.channel_burst, bucket.tokens + (now - bucket.updated) * self.channel_rate)
        bucket.updated = now
        if bucket.tokens < 1:
            return (1 - bucket.tokens) / self.channel_rate
        bucket.tokens -= 1
        return None

    async def _auth_test(self, request: Request) -> Response:
        refused = self._auth(request)
        if refused:
            return self._error(refused)
        return JSONResponse(
            {
                "ok": True,
                "url": f"https://{self.team.lower().replace(' ', '-')}.slack.com/",
                "team": self.team,
                "user": "channelgate-bot",
                "team_id": self.team_id,
                "user_id": self.bot_user_id,
                "bot_id": self.bot_id,
                "is_enterprise_install": False,
            }
        )

    async def _files_info(self, request: Request) -> Response:
        refused = self._auth(request)
        if refused:
            return self._error(refused)
        file_id = request.query_params.get("file", "")
        if file_id not in self.files:
            return self._error("file_not_found")
        _, mime, name = self.files[file_id]
        url = f"{self.base_url}/files-pri/{self.team_id}-{file_id}/download/{name}"
        return JSONResponse(
            {"ok": True, "file": {"id": file_id, "name": name, "mimetype": mime, "url_private_download": url}}
        )

    async def _download(self, request: Request) -> Response:
        if self._auth(
            request
        ):  # Slack answers its sign-in page, with HTTP 200, to a request without the token
            return Response("<html>Sign in to Slack</html>", media_type="text/html")
        file_id = request.path_params["file"]
        if file_id not in self.files:
            return Response("not found", status_code=404)
        content, mime, _ = self.files[file_id]
        return Response(content, media_type=mime)

    async def _sim_sent(self, request: Request) -> Response:
        return JSONResponse([{"channel": s.channel, "ts": s.ts, "body": s.body} for s in self.sent])

    async def _sim_say(self, request: Request) -> Response:
        """``{"webhook": "<callback URL>", "text": "hi", "channel"?: "D0USER"}``: a user writes to the bot."""
        data = orjson.loads(await request.body())
        answer = await self.deliver(
            data["webhook"], self.message(data.get("channel", "D0SIMUSER"), data["text"])
        )
        return JSONResponse({"status": answer.status_code, "body": answer.text})

    # --- requests, as Slack posts them ---

    def headers(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        """The signature headers for ``body`` sent now (or at ``timestamp``)."""
        stamp = timestamp or str(int(time.time()))
        return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(self.signing_secret, stamp, body)}

    async def deliver(
        self,
        url: str,
        payload: dict[str, Any] | bytes,
        *,
        form: bool = False,
        signed: bool = True,
        signature: str | None = None,
        timestamp: str | None = None,
        retry: tuple[int, str] | None = None,
    ) -> httpx.Response:
        """POST a request to ``url`` as Slack does: a dict is sent as JSON (an Events API envelope), bytes
        as they are (``form``: a form body). ``signature``/``timestamp`` override the computed ones (to
        test forgeries and stale requests); ``signed=False`` omits both headers."""
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        content_type = "application/x-www-form-urlencoded" if form else "application/json"
        self.last_delivery = (raw, content_type)
        headers = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        if signed:
            headers.update(self.headers(raw, timestamp))
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        if retry is not None:
            headers["X-Slack-Retry-Num"], headers["X-Slack-Retry-Reason"] = str(retry[0]), retry[1]
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, content=raw, headers=headers)

    async def redeliver(self, url: str, num: int = 1, reason: str = "http_timeout") -> httpx.Response:
        """Slack's retry of the last request: the same body, signed anew, with ``X-Slack-Retry-Num``."""
        if self.last_delivery is None:
            raise RuntimeError("nothing delivered yet")
        raw, content_type = self.last_delivery
        return await self.deliver(url, raw, form=content_type != "application/json", retry=(num, reason))

    async def click(self, url: str, payload: dict[str, Any]) -> httpx.Response:
        """An interactivity request: the form ``payload=<JSON>``."""
        return await self.deliver(url, form_body({"payload": orjson.dumps(payload).decode()}), form=True)

    # --- payloads ---

    def envelope(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        """An Events API ``event_callback`` around ``event``."""
        return {
            "token": "simulated-verification-token",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._events):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    def new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0SIMUSER",
        thread_ts: str | None = None,
        event_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A ``message`` event (``message.im`` for a ``D…`` channel) in its envelope."""
        ts = self.new_ts()
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "im" if channel.startswith("D") else "channel",
            **fields,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.envelope(event, event_id)

    def mention(
        self, channel: str, text: str, *, user: str = "U0SIMUSER", thread_ts: str | None = None
    ) -> dict[str, Any]:
        """An ``app_mention`` event: ``text`` addressed to the bot (``<@bot> text``)."""
        ts = self.new_ts()
        event: dict[str, Any] = {
            "type": "app_mention",
            "channel": channel,
            "user": user,
            "text": f"<@{self.bot_user_id}> {text}",
            "ts": ts,
            "event_ts": ts,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.envelope(event)

    def url_verification(self, challenge: str) -> dict[str, Any]:
        return {"token": "simulated-verification-token", "challenge": challenge, "type": "url_verification"}

    def block_actions(
        self, channel: str, action: dict[str, Any], *, message_ts: str = "1.000001", user: str = "U0SIMUSER"
    ) -> dict[str, Any]:
        """A ``block_actions`` payload for a click on ``action`` (a button: ``value``, ``text``...)."""
        stamp = f"{time.time():.6f}"
        return {
            "type": "block_actions",
            "user": {"id": user, "username": "sim.user", "name": "sim.user", "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": "simulated-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{next(self._ts)}.{self.team_id}.{secrets.token_hex(8)}",
            "team": {"id": self.team_id, "domain": "simulated"},
            "channel": {"id": channel, "name": "directmessage" if channel.startswith("D") else "general"},
            "response_url": f"https://hooks.slack.com/actions/{self.team_id}/1/sim",
            "actions": [{"block_id": "b", "type": "button", "action_ts": stamp, **action}],
        }

    def button(self, channel: str, sent: SentMessage, value: str, **kw: Any) -> dict[str, Any]:
        """A click on the button with ``value`` in a message the bot sent."""
        for button in buttons(sent.body):
            if button.get("value") == value:
                return self.block_actions(channel, button, message_ts=sent.ts, **kw)
        raise LookupError(f"no button with value {value!r} in {sent.body}")

    def command(self, channel: str, command: str, text: str, *, user: str = "U0SIMUSER") -> bytes:
        """A slash command's form body."""
        return form_body(
            {
                "token": "simulated-verification-token",
                "team_id": self.team_id,
                "team_domain": "simulated",
                "channel_id": channel,
                "channel_name": "directmessage" if channel.startswith("D") else "general",
                "user_id": user,
                "user_name": "sim.user",
                "command": command,
                "text": text,
                "api_app_id": self.app_id,
                "response_url": f"https://hooks.slack.com/commands/{self.team_id}/1/sim",
                "trigger_id": f"{next(self._ts)}.{self.team_id}.{secrets.token_hex(8)}",
            }
        )


def form_body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def buttons(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button in a message's blocks (in ``actions`` blocks and section accessories)."""
    found: list[dict[str, Any]] = []
    for block in body.get("blocks") or []:
        for element in [*(block.get("elements") or []), block.get("accessory")]:
            if isinstance(element, dict) and element.get("type") == "button":
                found.append(element)
    return found


def main(host: str = "127.0.0.1", port: int = 9090) -> None:
    """Serve the simulator until interrupted, after printing the integration config that points at it."""
    import uvicorn

    sim = SlackSimulator()
    base = sim.api_base_url(f"http://{host}:{port}")
    lines = [
        f"Slack simulator on http://{host}:{port}",
        "Integration config for channelgate:",
        f"  signing_secret: {sim.signing_secret}",
        f"  bot_token: {sim.bot_token}",
        f"  api_base_url: {base}",
        "Talk to your bot as a user:",
        f"  curl -s -X POST http://{host}:{port}/_sim/say "
        + '-d \'{"webhook": "<callback URL>", "text": "hi"}\'',
        f"  curl -s http://{host}:{port}/_sim/sent",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    uvicorn.run(sim.app, host=host, port=port, log_level="info")
