"""A Rasa assistant through its REST channel: ``bot: {rasa: "http://localhost:5005"}``.

Rasa's ``RestInput`` (``rasa/core/channels/rest.py``, enabled by a ``rest:`` entry in ``credentials.yml``)
takes ``POST {base}/webhooks/rest/webhook`` with ``{"sender", "message", "metadata"}`` and answers with the
messages its ``CollectingOutputChannel`` collected: a JSON list of objects carrying ``recipient_id`` and
any of ``text``, ``buttons`` (``[{"title", "payload"}]``), ``image`` (a URL), ``attachment`` and ``custom``
(``rasa/core/channels/channel.py``). Texts holding blank lines arrive already split, one object per
paragraph. A failure inside Rasa is logged by Rasa and answered with whatever was collected, often ``[]``.

What the user did becomes Rasa's ``message`` like this (``metadata.input`` always carries the full input):

* text: the text.
* postback (a button or quick reply): its payload, which with Rasa's convention is ``/intent`` or
  ``/intent{"entity": "value"}`` and so skips NLU.
* media: its URL (or its caption, or ``/media`` when the platform gave neither).
* location: ``/location{"latitude": 48.85, "longitude": 2.29}`` (an intent with entities).
* event: ``/<event name>``, for example ``/subscribed``: define that intent to greet new users.

Rasa's answer becomes universal messages: ``text`` → text; ``buttons`` (and ``quick_replies``) → quick
replies on that text; ``image`` → an image; ``attachment`` → media of the kind its extension says;
``elements`` → a carousel; ``custom`` → used as it is when it is a valid universal message, wrapped as a
channel-specific message when its keys name channels, else dropped with a warning.

Rasa is not told twice about the same message by this adapter: a message Rasa received is part of its
tracker, so failures are reported to the pipeline (retryable when Rasa was unreachable, timed out or
answered 5xx) rather than repeated here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from functools import cache
from importlib.metadata import entry_points
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from pydantic import ValidationError

from channelgate import __version__
from channelgate.bots.base import Bot, BotError
from channelgate.bots.http import safe_url
from channelgate.channels.http import NetworkError, PlatformHTTP, Response
from channelgate.messages import parse_message
from channelgate.turns import (
    EventInput,
    Input,
    LocationInput,
    MediaInput,
    PostbackInput,
    Reply,
    TextInput,
    Turn,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/rest/webhook"

_IMAGE = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".svg"})
_VIDEO = frozenset({".mp4", ".m4v", ".mov", ".webm", ".3gp", ".avi", ".mkv"})
_AUDIO = frozenset({".mp3", ".ogg", ".oga", ".opus", ".wav", ".m4a", ".aac", ".amr", ".flac"})


def webhook_url(base: str) -> str:
    """``http://host:5005`` → ``http://host:5005/webhooks/rest/webhook`` (a full webhook URL is kept)."""
    base = base.rstrip("/")
    return base if base.endswith(WEBHOOK_PATH) else base + WEBHOOK_PATH


# --- turn → Rasa ----------------------------------------------------------------------------------------


def rasa_message(data: Input) -> str:
    """The ``message`` Rasa gets for an input (see the module docstring for the conventions)."""
    if isinstance(data, TextInput):
        return data.text
    if isinstance(data, PostbackInput):
        return data.payload
    if isinstance(data, MediaInput):
        return data.url or data.caption or "/media"
    if isinstance(data, LocationInput):
        entities = json.dumps({"latitude": data.latitude, "longitude": data.longitude})
        return f"/location{entities}"
    if isinstance(data, EventInput):
        # Rasa reads "/name{entities}@confidence": keep those characters out of the intent name
        return "/" + data.name.replace("{", "_").replace("@", "_")
    raise TypeError(f"unknown input {type(data).__name__}")  # pragma: no cover


def rasa_request(turn: Turn) -> dict[str, Any]:
    """The REST channel's request body for a turn."""
    return {
        "sender": turn.conversation_id,
        "message": rasa_message(turn.input),
        "metadata": {
            "locale": turn.locale,
            "channel": turn.channel,
            "label": turn.label,
            "user": turn.user.model_dump(mode="json", exclude_none=True),
            "input": turn.input.model_dump(mode="json", exclude_none=True),
        },
    }


# --- Rasa → universal messages -------------------------------------------------------------------------


@cache
def channel_names() -> frozenset[str]:
    """Names of the channels this installation knows (official and installed by entry point)."""
    from channelgate.channels.registry import BUILTIN, GROUP

    return frozenset(BUILTIN) | {ep.name for ep in entry_points(group=GROUP)}


def media_kind(url: str) -> str:
    """image, video, audio or file, from the URL's extension."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if suffix in _IMAGE:
        return "image"
    if suffix in _VIDEO:
        return "video"
    if suffix in _AUDIO:
        return "audio"
    return "file"


def _action(button: Any) -> dict[str, Any] | None:
    """A Rasa button as an action: ``{"title", "payload"}`` → reply; Messenger-style ``web_url`` → url;
    ``phone_number`` → call."""
    if not isinstance(button, dict) or not isinstance(button.get("title"), str) or not button["title"]:
        log.warning("rasa button without a title dropped: %r", button)
        return None
    title = button["title"]
    kind = button.get("type")
    if kind == "web_url" or (kind is None and "url" in button and "payload" not in button):
        return {"type": "url", "title": title, "url": str(button.get("url", ""))}
    if kind == "phone_number":
        return {"type": "call", "title": title, "phone": str(button.get("payload", ""))}
    payload = button.get("payload")
    return {"type": "reply", "title": title, "payload": str(payload) if payload not in (None, "") else title}


def _actions(buttons: Any) -> list[dict[str, Any]]:
    if not isinstance(buttons, list):
        return []
    return [a for a in (_action(b) for b in buttons) if a is not None]


def _attachment(value: Any) -> dict[str, Any] | None:
    """An ``attachment``: a URL string, or the ``{"type", "payload": {"src"|"url"}}`` object that web chat
    widgets use."""
    url: Any = None
    kind: Any = None
    if isinstance(value, str):
        url = value
    elif isinstance(value, dict):
        raw = value.get("payload")
        payload: dict[str, Any] = raw if isinstance(raw, dict) else {}
        url = value.get("url") or payload.get("src") or payload.get("url")
        kind = value.get("type")
    if not isinstance(url, str) or not url:
        log.warning("rasa attachment without a URL dropped: %r", value)
        return None
    media: dict[str, Any] = {
        "type": "media",
        "kind": kind if kind in ("image", "video", "audio", "file") else media_kind(url),
        "url": url,
    }
    if media["kind"] == "file":
        name = unquote(PurePosixPath(urlsplit(url).path).name)
        if name:
            media["filename"] = name
    return media


def _custom(custom: Any) -> dict[str, Any] | None:
    """A ``custom`` payload: a universal message, or raw platform messages keyed by channel name."""
    if not isinstance(custom, dict):
        log.warning("rasa custom payload that is not an object dropped: %r", custom)
        return None
    try:
        parse_message(custom)
        return custom
    except (ValidationError, ValueError) as exc:
        reason = str(exc).splitlines()[0]
    payloads = {k: v for k, v in custom.items() if k != "fallback"}
    known = channel_names()
    if payloads and all(k in known and isinstance(v, dict) for k, v in payloads.items()):
        message: dict[str, Any] = {"type": "channel", "payloads": payloads}
        if "fallback" in custom:
            message["fallback"] = custom["fallback"]
        return message
    log.warning(
        "rasa custom payload dropped: not a universal message (%s), and its keys (%s) are not "
        "channel names (%s)",
        reason,
        ", ".join(sorted(map(str, custom))[:6]),
        ", ".join(sorted(known)),
    )
    return None


def _card(element: Any) -> dict[str, Any] | None:
    if not isinstance(element, dict) or not element.get("title"):
        return None
    card: dict[str, Any] = {"type": "card", "title": str(element["title"])}
    if element.get("subtitle"):
        card["description"] = str(element["subtitle"])
    if element.get("image_url"):
        card["media"] = {"url": str(element["image_url"])}
    buttons = _actions(element.get("buttons"))
    if buttons:
        card["buttons"] = buttons
    return card


def messages_from_rasa(items: Any) -> list[dict[str, Any]]:
    """Universal messages (as JSON) for the REST channel's answer; ``recipient_id`` is ignored."""
    if not isinstance(items, list):
        raise BotError(f"Rasa answered {type(items).__name__}, expected a list of messages", retryable=False)
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            log.warning("rasa message that is not an object dropped: %r", item)
            continue
        out.extend(_from_item(item))
    return out


def _from_item(item: dict[str, Any]) -> list[dict[str, Any]]:
    """One collected message; Rasa's own order: text (with buttons), custom, image, attachment, elements."""
    made: list[dict[str, Any]] = []
    text = item.get("text")
    if isinstance(text, str) and text.strip():
        made.append({"type": "text", "text": text})
    if "custom" in item:
        custom = _custom(item["custom"])
        if custom is not None:
            made.append(custom)
    if isinstance(item.get("image"), str) and item["image"]:
        made.append({"type": "media", "kind": "image", "url": item["image"]})
    if item.get("attachment"):
        media = _attachment(item["attachment"])
        if media is not None:
            made.append(media)
    if isinstance(item.get("elements"), list):
        cards = [c for c in (_card(e) for e in item["elements"]) if c is not None]
        if cards:
            made.append({"type": "carousel", "cards": cards})
    actions = _actions(item.get("buttons")) + _actions(item.get("quick_replies"))
    if actions:
        if made:
            made[0] = {**made[0], "quick_replies": [*(made[0].get("quick_replies") or []), *actions]}
        else:
            log.warning("rasa buttons with nothing to attach them to dropped: %r", item.get("buttons"))
    return made


# --- the adapter -----------------------------------------------------------------------------------------


class RasaBot(Bot):
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        locales: list[str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.url = webhook_url(base_url)
        self.timeout = timeout
        self.locales = locales
        self._client: PlatformHTTP | None = None

    def describe(self) -> str:
        return f"rasa bot {safe_url(self.url)}"

    async def start(self) -> None:
        if self._client is None:
            # a pool of its own, as HttpBot's (bots/http.py says why)
            self._client = PlatformHTTP(
                connections=64,
                timeout=self.timeout,
                connect_timeout=self.timeout,
                user_agent=f"channelgate/{__version__}",
            )

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def respond(self, turn: Turn) -> Reply:
        if self._client is None:
            await self.start()
        assert self._client is not None
        response = await self._post(self._client, rasa_request(turn))
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise BotError(
                f"{self.describe()}: answered HTTP {response.status_code} with a body that is not JSON",
                retryable=False,
            ) from None
        try:
            return Reply(messages=messages_from_rasa(data))
        except BotError as exc:
            raise BotError(f"{self.describe()}: {exc.reason}", retryable=False) from None

    async def _post(self, client: PlatformHTTP, body: dict[str, Any]) -> Response:
        try:
            async with asyncio.timeout(self.timeout):
                response = await client.request(
                    "POST", self.url, json=body, headers={"accept": "application/json"}
                )
        except TimeoutError:
            raise BotError(f"{self.describe()}: no answer within {self.timeout:g} s") from None
        except NetworkError as exc:
            if exc.timeout:
                raise BotError(f"{self.describe()}: no answer within {self.timeout:g} s") from None
            raise BotError(f"{self.describe()}: cannot reach Rasa: {exc}") from None
        status = response.status_code
        if status == 404:
            raise BotError(
                f"{self.describe()}: HTTP 404: is the rest channel enabled "
                "(a 'rest:' entry in credentials.yml)?",
                retryable=False,
            )
        if status >= 500 or status in (408, 429):
            raise BotError(f"{self.describe()}: HTTP {status}")
        if not 200 <= status < 300:
            text = response.text.strip()[:200]
            raise BotError(f"{self.describe()}: HTTP {status}: {text}", retryable=False)
        return response
