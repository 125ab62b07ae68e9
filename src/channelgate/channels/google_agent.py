"""What Google Business Messages (GBM) and RCS for Business (RBM) share: Google's agent-message model.

Both products describe a message the same way: ``text``, a ``richCard`` (a ``standaloneCard`` or a
``carouselCard`` of 2 to 10 cards), media, and ``suggestions`` (suggested replies and actions: open a URL,
dial a number). Both sign their webhooks with ``X-Goog-Signature`` (base64 HMAC-SHA512 keyed with the
webhook's client token), both verify a webhook with a ``clientToken``/``secret`` POST, and both take
OAuth2 access tokens minted from a service-account key. This module holds those parts once:

* :func:`verification_answer`: the ``clientToken``/``secret`` handshake (JSON or form-encoded).
* :func:`sign` / :func:`check_signature`: ``X-Goog-Signature``, compared in constant time, failing closed.
* :class:`AgentRenderer`: universal messages → agent-message content, with the platform limits applied
  (truncate or degrade, and every change noted in the render context, never silently).
* :func:`fallback_text`: the plain text a device shows when it cannot render the rich form.
* :class:`TokenSource`: service-account JWT assertion (signed by google-auth) exchanged at the key's
  ``token_uri`` with the gateway's async httpx client; cached in memory and in the shared key-value store,
  refreshed before expiry under a store lock so that replicas do not stampede the token endpoint.
* :class:`GoogleAPI` and :func:`classify`: calls with the bearer token, Google's error shape
  (``{"error": {"code", "message", "status"}}``) turned into the typed send errors.

The two products differ in a few places, captured by a :class:`Dialect` (which media a message may carry,
how many suggestions, whether a standalone card needs an orientation, how a location is offered).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote_plus, urlsplit

import httpx
import orjson
from google.auth import jwt as google_jwt
from google.oauth2 import service_account
from pydantic import SecretStr

from channelgate.channels.base import (
    ChannelContext,
    Forbidden,
    InvalidCredentials,
    Rejected,
    RenderContext,
    SendError,
    Throttled,
    Unauthorized,
    Unavailable,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.rendering import split_text, truncate
from channelgate.messages import (
    Action,
    CallAction,
    Card,
    Carousel,
    ChannelSpecific,
    ListMessage,
    Location,
    Media,
    ReplyAction,
    Template,
    Text,
    UniversalMessage,
    UrlAction,
)

log = logging.getLogger("channelgate.channels.google")

SIGNATURE_HEADER = "X-Goog-Signature"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# --- the agent-message limits (GBM REST reference and RBM protos; see docs/channels/gbm.md) -----------------

TEXT_MAX = 3072
#: our own bound on fallback text: Google documents none, so it gets the text limit
FALLBACK_MAX = 3072
SUGGESTION_TEXT_MAX = 25
POSTBACK_MAX = 2048
CARD_TITLE_MAX = 200
CARD_DESCRIPTION_MAX = 2000
CARD_SUGGESTIONS_MAX = 4
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10

_HEIGHTS = {"short": "SHORT", "medium": "MEDIUM", "tall": "TALL"}
_MAPS_URL = "https://www.google.com/maps/search/?api=1&query={lat},{lng}"


@dataclass(frozen=True, slots=True)
class Dialect:
    """Where GBM and RBM differ in the shared model.

    ``media_key`` is how a message carries a file: GBM wraps it as ``image.contentInfo`` (images only),
    RBM puts ``contentInfo`` at the top of the content message (images, video, audio, PDF).
    """

    product: str
    suggestions_max: int
    media_kinds: frozenset[str]
    media_key: Literal["image", "contentInfo"]
    card_orientation: bool
    alt_text: bool
    view_location: bool
    #: dial actions take E.164 only (RBM); GBM also takes RFC 3966 forms such as +1-201-555-0123
    dial_e164: bool = False


# --- webhook verification and signatures --------------------------------------------------------------------


def _verification_fields(request: WebhookRequest) -> dict[str, str] | None:
    """``clientToken`` and ``secret`` from a verification POST: a JSON object (as Google documents it), or a
    form-encoded body or URL-encoded JSON document (an earlier gateway, OpenCUI, received it URL-encoded)."""
    body = request.body.strip()
    if not body:
        return None
    candidates: list[bytes] = [body]
    if b"%" in body:
        candidates.append(unquote_plus(body.decode("utf-8", "replace")).encode())
    for candidate in candidates:
        try:
            data = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if isinstance(v, str)}
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[0] for k, v in form.items() if v}


def verification_answer(request: WebhookRequest, client_token: SecretStr) -> WebhookResponse | None:
    """Google's webhook verification: a POST carrying ``clientToken`` and ``secret``. Answer ``200`` with
    the secret as a plain-text body when the client token matches, ``403`` otherwise; ``None`` when the
    request is not a verification at all (an ordinary event)."""
    if request.method.upper() != "POST":
        return None
    fields = _verification_fields(request)
    if fields is None or "secret" not in fields or "clientToken" not in fields:
        return None
    expected = client_token.get_secret_value()
    given = fields["clientToken"]
    if expected and hmac.compare_digest(given.encode(), expected.encode()):
        return WebhookResponse(200, fields["secret"], media_type="text/plain")
    return WebhookResponse(403, "verification failed: clientToken does not match", media_type="text/plain")


def sign(signed: bytes, client_token: str) -> str:
    """The ``X-Goog-Signature`` Google sends: base64 of HMAC-SHA512 over ``signed`` keyed with the token."""
    digest = hmac.new(client_token.encode(), signed, hashlib.sha512).digest()
    return base64.b64encode(digest).decode()


def check_signature(signed: bytes, header: str | None, client_token: SecretStr) -> None:
    """Raise Unauthorized (no header) or Forbidden (wrong one). Compares the raw digests in constant time;
    a header that is not base64 is simply wrong."""
    if not header or not header.strip():
        raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
    secret = client_token.get_secret_value()
    if not secret:
        raise Forbidden("no client_token is configured, so webhook signatures cannot be checked")
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        given = b""
    expected = hmac.new(secret.encode(), signed, hashlib.sha512).digest()
    if not hmac.compare_digest(given, expected):
        raise Forbidden(f"{SIGNATURE_HEADER} does not match the body")


# --- small parsing helpers shared by both channels' inbound code --------------------------------------------

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp (Google sends up to nine fractional digits), else None."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def last_segment(name: Any) -> str | None:
    """``M`` from ``conversations/C/messages/M`` (and any other resource name)."""
    if not isinstance(name, str) or not name:
        return None
    return name.rstrip("/").rsplit("/", 1)[-1] or None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (webhook bodies are untrusted)."""
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def new_id() -> str:
    """A UUID for a message or event id. Generated when rendering, so that it is stored in the durable
    outbox and every retry of the same payload reuses it: Google then refuses or ignores the duplicate."""
    return str(uuid.uuid4())


# --- rendering ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Rendered:
    """One agent message's content in the shared model (``text``/``richCard``/media plus ``suggestions``)."""

    content: dict[str, Any]
    summary: str


@dataclass(slots=True)
class AgentRenderer:
    """Universal messages → agent-message content for one dialect. Pure: every degradation is a note."""

    dialect: Dialect
    ctx: RenderContext
    out: list[Rendered] = field(default_factory=list)

    def render(self, messages: Iterable[UniversalMessage]) -> list[Rendered]:
        for message in messages:
            self._one(message)
        return self.out

    def _one(self, message: UniversalMessage) -> None:
        if isinstance(message, Text):
            self._text(message.text, message.quick_replies)
        elif isinstance(message, Media):
            self._media(message)
        elif isinstance(message, Card):
            self._card(message)
        elif isinstance(message, Carousel):
            self._carousel(message)
        elif isinstance(message, ListMessage):
            self._list(message)
        elif isinstance(message, Location):
            self._location(message)
        elif isinstance(message, Template):
            self.ctx.note(
                f"template {message.name!r} skipped: {self.dialect.product} has no message templates"
            )
        elif isinstance(message, ChannelSpecific):
            self._channel_specific(message)

    # --- per type ---

    def _text(self, text: str, quick_replies: Sequence[Action] | None) -> None:
        parts = split_text(text, TEXT_MAX)
        if len(parts) > 1:
            self.ctx.note(
                f"text of {len(text)} characters split into {len(parts)} messages of at most {TEXT_MAX}"
            )
        for i, part in enumerate(parts):
            content: dict[str, Any] = {"text": part}
            if i == len(parts) - 1:
                self._attach(content, quick_replies, "quick replies")
            self._emit(content, _short(part))

    def _media(self, message: Media) -> None:
        if message.kind not in self.dialect.media_kinds:
            self.ctx.note(
                f"{message.kind} cannot be sent on {self.dialect.product} (images only): sent as a link"
            )
            label = message.caption or message.filename or ""
            self._text(f"{label}\n{message.url}" if label else message.url, message.quick_replies)
            return
        info: dict[str, Any] = {"fileUrl": message.url, "forceRefresh": False}
        if self.dialect.media_key == "image":
            content: dict[str, Any] = {"image": {"contentInfo": info}}
        else:
            content = {"contentInfo": info}
        if message.caption:
            self._emit(content, f"{message.kind}: {message.url}")
            self.ctx.note(f"{message.kind} caption sent as a separate text message")
            self._text(message.caption, message.quick_replies)
            return
        self._attach(content, message.quick_replies, "quick replies")
        self._emit(content, f"{message.kind}: {message.url}")

    def _card(self, card: Card) -> None:
        overflow: list[Action] = []
        content = self._card_content(card, overflow, where=f"card {card.title!r}")
        standalone: dict[str, Any] = {"cardContent": content}
        if self.dialect.card_orientation:
            standalone = {"cardOrientation": "VERTICAL", **standalone}
        message: dict[str, Any] = {"richCard": {"standaloneCard": standalone}}
        if overflow:
            self.ctx.note(
                f"card {card.title!r}: {len(overflow)} buttons beyond {CARD_SUGGESTIONS_MAX} moved to "
                "suggestion chips under the card"
            )
        self._attach(message, [*overflow, *(card.quick_replies or [])], "card chips")
        self._emit(message, f"card: {card.title}")

    def _carousel(self, carousel: Carousel) -> None:
        cards = list(carousel.cards)
        if len(cards) < CAROUSEL_MIN:
            self.ctx.note("a carousel needs 2 to 10 cards: its one card was sent as a standalone card")
            only = cards[0]
            merged = [*(only.quick_replies or []), *(carousel.quick_replies or [])]
            self._card(only.model_copy(update={"quick_replies": merged or None}))
            return
        ignored = sum(len(card.quick_replies or []) for card in cards)
        if ignored:
            self.ctx.note(f"{ignored} quick replies set on carousel cards ignored: set them on the carousel")
        chunks = _carousel_chunks(cards)
        if len(chunks) > 1:
            self.ctx.note(
                f"carousel of {len(cards)} cards split into {len(chunks)} carousels of at most {CAROUSEL_MAX}"
            )
        for i, chunk in enumerate(chunks):
            contents = [self._card_content(c, None, where=f"carousel card {c.title!r}") for c in chunk]
            message: dict[str, Any] = {
                "richCard": {"carouselCard": {"cardWidth": "MEDIUM", "cardContents": contents}}
            }
            if i == len(chunks) - 1:
                self._attach(message, carousel.quick_replies, "carousel chips")
            self._emit(message, f"carousel: {len(chunk)} cards")

    def _list(self, message: ListMessage) -> None:
        """No list picker on Google: the items become suggestion chips (title, payload); descriptions
        and items beyond the chip limit stay readable as numbered lines in the text."""
        items = [ReplyAction(title=item.title, payload=item.payload) for item in message.items]
        quick = list(message.quick_replies or [])
        room = max(self.dialect.suggestions_max - len(quick), 0)
        lines = [line for line in (message.header, message.text) if line]
        if len(items) > room or any(item.description for item in message.items):
            for i, item in enumerate(message.items, 1):
                lines.append(f"{i}. {item.title}" + (f": {item.description}" if item.description else ""))
        if len(items) > room:
            self.ctx.note(
                f"list of {len(items)} items: {room} fit as suggestion chips, all are listed in the text"
            )
        if message.footer:
            lines.append(message.footer)
        content: dict[str, Any] = {"text": truncate("\n".join(lines), TEXT_MAX, self.ctx, "list text")}
        self._attach(content, [*items[:room], *quick], "list chips")
        self._emit(content, _short(message.text))

    def _location(self, message: Location) -> None:
        coordinates = f"{message.latitude:.6f}, {message.longitude:.6f}"
        lines = [line for line in (message.name, message.address) if line] or [coordinates]
        content: dict[str, Any] = {"text": truncate("\n".join(lines), TEXT_MAX, self.ctx, "location text")}
        suggestions = [self._location_suggestion(message)]
        suggestions += self._suggestions(
            message.quick_replies, self.dialect.suggestions_max - 1, "location chips"
        )
        content["suggestions"] = suggestions
        self.ctx.note(
            f"location sent as text with a map suggestion ({self.dialect.product} has no location message)"
        )
        self._emit(content, f"location: {message.name or coordinates}")

    def _channel_specific(self, message: ChannelSpecific) -> None:
        payload = message.payloads.get(self.dialect.product)
        if payload is None:  # the pipeline resolves fallbacks first; be safe anyway
            self.ctx.note(f"channel-specific message without a {self.dialect.product!r} entry skipped")
            return
        self._emit(dict(payload), f"{self.dialect.product} payload")

    # --- parts ---

    def _card_content(self, card: Card, overflow: list[Action] | None, *, where: str) -> dict[str, Any]:
        content: dict[str, Any] = {"title": truncate(card.title, CARD_TITLE_MAX, self.ctx, f"{where} title")}
        if card.description:
            content["description"] = truncate(
                card.description, CARD_DESCRIPTION_MAX, self.ctx, f"{where} description"
            )
        if card.media is not None:
            info: dict[str, Any] = {"fileUrl": card.media.url, "forceRefresh": False}
            if card.media.alt_text and self.dialect.alt_text:
                info["altText"] = card.media.alt_text
            height = _HEIGHTS.get(card.media.height or "medium", "MEDIUM")
            content["media"] = {"height": height, "contentInfo": info}
        buttons = list(card.buttons or [])
        if len(buttons) > CARD_SUGGESTIONS_MAX:
            extra = buttons[CARD_SUGGESTIONS_MAX:]
            if overflow is not None:
                overflow.extend(extra)
            else:
                self.ctx.note(f"{where}: {len(extra)} buttons beyond {CARD_SUGGESTIONS_MAX} dropped")
        if buttons:
            content["suggestions"] = self._suggestions(
                buttons[:CARD_SUGGESTIONS_MAX], CARD_SUGGESTIONS_MAX, where
            )
        return content

    def _attach(self, content: dict[str, Any], actions: Sequence[Action] | None, where: str) -> None:
        suggestions = self._suggestions(actions, self.dialect.suggestions_max, where)
        if suggestions:
            content["suggestions"] = suggestions

    def _suggestions(self, actions: Sequence[Action] | None, limit: int, where: str) -> list[dict[str, Any]]:
        actions = list(actions or [])
        if len(actions) > limit:
            self.ctx.note(f"{where}: {len(actions)} suggestions, only {limit} fit; the rest were dropped")
            actions = actions[:limit]
        return [self._suggestion(action) for action in actions]

    def _suggestion(self, action: Action) -> dict[str, Any]:
        text = truncate(action.title, SUGGESTION_TEXT_MAX, self.ctx, f"suggestion {action.title!r} text")
        if isinstance(action, ReplyAction):
            return {"reply": {"text": text, "postbackData": self._postback(action.payload)}}
        if isinstance(action, UrlAction):
            postback = self._postback(f"url:{action.url}")
            return {"action": {"text": text, "postbackData": postback, "openUrlAction": {"url": action.url}}}
        assert isinstance(action, CallAction)
        phone = _dial_number(action.phone, e164=self.dialect.dial_e164)
        postback = self._postback(f"call:{phone}")
        return {"action": {"text": text, "postbackData": postback, "dialAction": {"phoneNumber": phone}}}

    def _location_suggestion(self, message: Location) -> dict[str, Any]:
        title = truncate(
            self.ctx.gettext("View on map"), SUGGESTION_TEXT_MAX, self.ctx, "map suggestion text"
        )
        postback = self._postback(f"location:{message.latitude},{message.longitude}")
        if self.dialect.view_location:
            view: dict[str, Any] = {"latLong": {"latitude": message.latitude, "longitude": message.longitude}}
            if message.name:
                view["label"] = message.name
            return {"action": {"text": title, "postbackData": postback, "viewLocationAction": view}}
        url = _MAPS_URL.format(lat=message.latitude, lng=message.longitude)
        return {"action": {"text": title, "postbackData": postback, "openUrlAction": {"url": url}}}

    def _postback(self, payload: str) -> str:
        if len(payload) <= POSTBACK_MAX:
            return payload
        self.ctx.note(f"postback data of {len(payload)} characters truncated to {POSTBACK_MAX}")
        return payload[:POSTBACK_MAX]

    def _emit(self, content: dict[str, Any], summary: str) -> None:
        self.out.append(Rendered(content=content, summary=summary))


def _carousel_chunks(cards: list[Card]) -> list[list[Card]]:
    """Cards in carousels of at most 10, never leaving a last carousel of one card (Google needs 2)."""
    chunks = [cards[i : i + CAROUSEL_MAX] for i in range(0, len(cards), CAROUSEL_MAX)]
    if len(chunks) > 1 and len(chunks[-1]) < CAROUSEL_MIN:
        chunks[-1].insert(0, chunks[-2].pop())
    return chunks


def _dial_number(phone: str, *, e164: bool) -> str:
    """A dialable number: the ``tel:`` prefix removed (Google takes numbers, not URIs); for E.164, the
    visual separators of RFC 3966 (``-``, ``.``, spaces, parentheses) removed too."""
    phone = phone.strip()
    if phone.lower().startswith("tel:"):
        phone = phone[4:]
    if e164:
        phone = re.sub(r"[\s().-]", "", phone)
    return phone


def _short(text: str, limit: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def is_rich(content: Mapping[str, Any]) -> bool:
    """Whether a device might not render this content (anything beyond plain text)."""
    return any(key in content for key in ("richCard", "image", "contentInfo", "suggestions", "fileName"))


# --- fallback text ------------------------------------------------------------------------------------------


def fallback_text(content: Mapping[str, Any], gettext: Callable[[str], str] = str) -> str:
    """Plain text for a device that cannot show ``content``: text, card titles, descriptions and media
    links, then each suggestion as a line (an action shows where it leads). Built from the rendered
    content, so it works for channel-specific payloads too."""
    blocks: list[str] = []
    if isinstance(content.get("text"), str):
        blocks.append(content["text"])
    media = content.get("image", {}).get("contentInfo") if isinstance(content.get("image"), dict) else None
    media = media or content.get("contentInfo")
    if isinstance(media, dict) and media.get("fileUrl"):
        blocks.append(str(media["fileUrl"]))
    card = content.get("richCard")
    if isinstance(card, dict):
        blocks.extend(_card_fallbacks(card, gettext))
    lines = _suggestion_lines(content.get("suggestions"), gettext)
    if lines:
        blocks.append("\n".join(lines))
    text = "\n\n".join(block for block in blocks if block)
    return text if len(text) <= FALLBACK_MAX else text[: FALLBACK_MAX - 1] + "…"


def _card_fallbacks(card: Mapping[str, Any], gettext: Callable[[str], str]) -> list[str]:
    contents: list[Any] = []
    if isinstance(card.get("standaloneCard"), dict):
        contents = [card["standaloneCard"].get("cardContent") or {}]
    elif isinstance(card.get("carouselCard"), dict):
        contents = list(card["carouselCard"].get("cardContents") or [])
    blocks = []
    for item in contents:
        if not isinstance(item, dict):
            continue
        lines = [str(item[key]) for key in ("title", "description") if item.get(key)]
        info = (item.get("media") or {}).get("contentInfo") or {}
        if isinstance(info, dict) and info.get("fileUrl"):
            lines.append(str(info["fileUrl"]))
        lines += _suggestion_lines(item.get("suggestions"), gettext)
        blocks.append("\n".join(lines))
    return blocks


def _suggestion_lines(suggestions: Any, gettext: Callable[[str], str]) -> list[str]:
    lines = []
    for suggestion in suggestions or []:
        if not isinstance(suggestion, dict):
            continue
        if isinstance(suggestion.get("reply"), dict):
            lines.append(f"- {suggestion['reply'].get('text', '')}")
        elif isinstance(suggestion.get("action"), dict):
            lines.append(f"- {_action_line(suggestion['action'], gettext)}")
    return lines


def _action_line(action: Mapping[str, Any], gettext: Callable[[str], str]) -> str:
    title = str(action.get("text", ""))
    if isinstance(action.get("openUrlAction"), dict):
        return gettext("{title}: {url}").format(title=title, url=action["openUrlAction"].get("url", ""))
    if isinstance(action.get("dialAction"), dict):
        phone = action["dialAction"].get("phoneNumber", "")
        return gettext("{title}: call {phone}").format(title=title, phone=phone)
    view = action.get("viewLocationAction")
    if isinstance(view, dict) and isinstance(view.get("latLong"), dict):
        url = _MAPS_URL.format(lat=view["latLong"].get("latitude"), lng=view["latLong"].get("longitude"))
        return gettext("{title}: {url}").format(title=title, url=url)
    return title


# --- service account and OAuth2 access tokens ---------------------------------------------------------------


def load_service_account(value: SecretStr) -> dict[str, Any]:
    """The key's JSON (``service_account`` is a path to the key file or the key itself, inline).

    Errors name the path or the missing field, never the key's content."""
    raw = value.get_secret_value().strip()
    if not raw:
        raise ValueError("service_account is empty: give the path to the key file or its JSON")
    if raw.startswith("{"):
        text, where = raw, "service_account (inline JSON)"
    else:
        path = Path(raw).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"service_account: cannot read {path}: {exc.strerror or exc}") from None
        where = f"service_account key file {path}"
    try:
        info = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError(f"{where} is not valid JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ValueError(f'{where} is not a service-account key ("type": "service_account")')
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    return info


def load_credentials(value: SecretStr) -> service_account.Credentials:
    """The key, loaded and checked by google-auth (which parses the private key)."""
    return credentials_from(load_service_account(value))


#: Where Google's keys send their signed assertions (``token_uri``), old and new.
GOOGLE_TOKEN_HOSTS = ("oauth2.googleapis.com", "accounts.google.com", "www.googleapis.com")


def check_key(value: SecretStr, api_base_url: str) -> None:
    """Load the key (refusing a broken one at start) and refuse a ``token_uri`` that is neither Google's
    nor on the host of the integration's own ``api_base_url`` (a simulator serving both): the gateway
    sends a signed assertion there, which is as good as the key for an hour."""
    info = load_service_account(value)
    credentials_from(info)
    token_uri = str(info["token_uri"])
    parts, api = urlsplit(token_uri), urlsplit(api_base_url)
    host = (parts.hostname or "").rstrip(".")
    official = parts.scheme == "https" and host in GOOGLE_TOKEN_HOSTS
    same_origin = bool(host) and (parts.scheme, parts.netloc) == (api.scheme, api.netloc)
    if not (official or same_origin):
        raise ValueError(
            f"service_account: the key's token_uri ({parts.scheme}://{parts.netloc or '?'}) is not Google's "
            f"({', '.join(GOOGLE_TOKEN_HOSTS)}) nor api_base_url's host; the gateway will not send a signed "
            "assertion there (use the key as Google issued it)"
        )


def credentials_from(info: dict[str, Any]) -> service_account.Credentials:
    factory = service_account.Credentials.from_service_account_info
    try:
        credentials: service_account.Credentials = factory(info)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"service_account: the private key cannot be loaded ({type(exc).__name__})"
        ) from None
    return credentials


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_at: float
    refresh_at: float

    def fresh(self, now: float) -> bool:
        return bool(self.token) and now < self.refresh_at

    def dump(self) -> str:
        return orjson.dumps({"t": self.token, "e": self.expires_at, "r": self.refresh_at}).decode()

    @classmethod
    def load(cls, value: str | None) -> AccessToken | None:
        if not value:
            return None
        try:
            data = orjson.loads(value)
            return cls(str(data["t"]), float(data["e"]), float(data["r"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


#: refresh this long before expiry (or at half the lifetime of short-lived tokens)
REFRESH_MARGIN = 300.0
ASSERTION_LIFETIME = 3600


class TokenSource:
    """OAuth2 access tokens for one service account and scope.

    google-auth loads the key and signs the JWT assertion; the exchange at the key's ``token_uri`` runs on
    the gateway's pooled async client (google-auth's own transports are synchronous). A token is kept in
    memory and in the shared key-value store, and refreshed before it expires under a store lock, so one
    replica refreshes while the others wait and then reuse its token.
    """

    def __init__(
        self,
        ctx: ChannelContext,
        service_account_value: SecretStr,
        scope: str,
        *,
        product: str,
        config_field: str = "service_account",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ctx = ctx
        self.scope = scope
        self.product = product
        self.config_field = config_field
        self.clock = clock
        self._value = service_account_value
        self._credentials: service_account.Credentials | None = None
        self._token_uri = ""
        self._cached: AccessToken | None = None

    @property
    def key(self) -> str:
        """Where the token is shared in the store: one per service account and scope."""
        email = self._load().service_account_email
        return f"google-oauth-token:{email}:{self.scope}"

    def _load(self) -> service_account.Credentials:
        if self._credentials is None:
            try:
                info = load_service_account(self._value)
                self._credentials = credentials_from(info)
            except ValueError as exc:
                self._fail(str(exc))
                raise InvalidCredentials(str(exc)) from None
            self._token_uri = str(info["token_uri"])
        return self._credentials

    async def token(self) -> str:
        """A valid access token, fetching a new one when the cached one is near its expiry."""
        now = self.clock()
        if self._cached is not None and self._cached.fresh(now):
            return self._cached.token
        key = self.key
        stored = AccessToken.load(await self.ctx.kv.get(key))
        if stored is not None and stored.fresh(now):
            self._cached = stored
            return stored.token
        async with self.ctx.kv.lock(f"{key}:refresh"):
            stored = AccessToken.load(await self.ctx.kv.get(key))
            if stored is not None and stored.fresh(self.clock()):
                self._cached = stored
                return stored.token
            fresh = await self._fetch()
            await self.ctx.kv.set(key, fresh.dump(), ttl=max(fresh.expires_at - self.clock(), 1.0))
            self._cached = fresh
        return fresh.token

    async def invalidate(self, token: str) -> None:
        """Forget a token the API rejected, here and in the shared store (unless a newer one is there)."""
        if self._cached is not None and self._cached.token == token:
            self._cached = None
        key = self.key
        stored = AccessToken.load(await self.ctx.kv.get(key))
        if stored is not None and stored.token == token:
            await self.ctx.kv.set(key, "", ttl=1.0)

    def assertion(self) -> str:
        """The signed JWT (RS256, ``kid`` = the key's ``private_key_id``) for the jwt-bearer grant."""
        credentials = self._load()
        now = int(time.time())  # wall time for the server; ``clock`` only drives cache freshness
        payload = {
            "iss": credentials.service_account_email,
            "scope": self.scope,
            "aud": self._token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        signed: bytes = google_jwt.encode(credentials.signer, payload)  # type: ignore[no-untyped-call]
        return signed.decode()

    async def _fetch(self) -> AccessToken:
        assertion = self.assertion()
        started = self.clock()
        try:
            response = await self.ctx.http.post(
                self._token_uri,
                data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"{self.product}: token endpoint unreachable: {type(exc).__name__}") from None
        if response.status_code == 429:
            raise Throttled(
                f"{self.product}: token endpoint rate limited", code=429, retry_after=retry_after(response)
            )
        if response.status_code >= 500:
            raise Unavailable(
                f"{self.product}: token endpoint answered HTTP {response.status_code}",
                code=response.status_code,
                retry_after=retry_after(response),
            )
        body = _json_or_none(response)
        if not response.is_success:
            reason = _oauth_error(body, response.status_code)
            self._fail(f"the token endpoint refused the service-account key ({reason})")
            raise InvalidCredentials(
                f"{self.product}: token request refused: {reason}", code=response.status_code
            )
        return self._parse_token(body, started)

    def _parse_token(self, body: Any, started: float) -> AccessToken:
        token = body.get("access_token") if isinstance(body, dict) else None
        lifetime = body.get("expires_in", 3600) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise Unavailable(f"{self.product}: token endpoint answered without access_token/expires_in")
        margin = min(REFRESH_MARGIN, lifetime / 2)
        return AccessToken(token, started + lifetime, started + lifetime - margin)

    def _fail(self, message: str) -> None:
        self.ctx.health.fail(f"{self.product}: {message}. Check the integration's {self.config_field}.")


def _oauth_error(body: Any, status: int) -> str:
    """The OAuth error (RFC 6749 ``error`` and ``error_description``), bounded for logs and health."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        description = body.get("error_description")
        text = f"{body['error']}: {description}" if description else str(body["error"])
        return text[:200]
    return f"HTTP {status}"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# --- Google API errors --------------------------------------------------------------------------------------


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """The wait Google asks for: ``Retry-After`` (seconds or an HTTP date), else a ``google.rpc.RetryInfo``
    detail's ``retryDelay`` (``"30s"``)."""
    value = response.headers.get("retry-after")
    if value:
        try:
            seconds = float(value.strip())
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value.strip()).timestamp() - (
                    time.time() if now is None else now
                )
            except (TypeError, ValueError):
                seconds = math.nan
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    error = _google_error(_json_or_none(response))
    for detail in error.get("details") or []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(float(delay[:-1]), 0.0)
            except ValueError:
                continue
    return None


def _google_error(body: Any) -> dict[str, Any]:
    return as_dict(as_dict(body).get("error"))


def error_status(response: httpx.Response) -> str:
    """Google's canonical status name (``INVALID_ARGUMENT``, ``ALREADY_EXISTS``...), or ``""``."""
    status = _google_error(_json_or_none(response)).get("status")
    return status if isinstance(status, str) else ""


def classify(response: httpx.Response, product: str) -> SendError:
    """The typed send error for a failed API answer: 429 → Throttled (with the hint), 401/403 →
    InvalidCredentials, 5xx → Unavailable, any other 4xx → Rejected."""
    error = _google_error(_json_or_none(response))
    status_name = error.get("status") if isinstance(error.get("status"), str) else ""
    message = str(error.get("message") or "").strip()[:300]
    reason = f"{product} API answered HTTP {response.status_code}"
    if status_name:
        reason += f" {status_name}"
    if message:
        reason += f": {message}"
    code: str | int = status_name or response.status_code
    status = response.status_code
    if status == 429:
        return Throttled(reason, code=code, retry_after=retry_after(response))
    if status in (401, 403):
        return InvalidCredentials(reason, code=code)
    if status >= 500:
        return Unavailable(reason, code=code, retry_after=retry_after(response))
    if 400 <= status < 500:
        return Rejected(reason, code=code)
    return Unavailable(reason, code=code)


@dataclass(slots=True)
class GoogleAPI:
    """POSTs to a Google agent API with a fresh bearer token, through the gateway's pooled client."""

    ctx: ChannelContext
    tokens: TokenSource
    product: str

    async def post(self, url: str, *, json: Any, params: Mapping[str, str] | None = None) -> httpx.Response:
        """One call. Success marks the integration healthy. ``409 ALREADY_EXISTS`` is success too: it is
        a retry of a message that was accepted before (the id came from the durable outbox)."""
        token = await self.tokens.token()
        try:
            response = await self.ctx.http.post(
                url, json=json, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"{self.product} API unreachable: {type(exc).__name__}") from None
        if response.is_success or (
            response.status_code == 409 and error_status(response) == "ALREADY_EXISTS"
        ):
            if self.ctx.health.status != "ok":
                self.ctx.health.ok()
            return response
        error = classify(response, self.product)
        if isinstance(error, InvalidCredentials):
            await self.tokens.invalidate(token)
            self.ctx.health.fail(
                f"{self.product} rejected the access token ({error.reason}). Check that the service account "
                "in the integration's service_account has access to the agent."
            )
        raise error


def path_segment(value: str, safe: str = "") -> str:
    """``value`` quoted for one URL path segment."""
    return quote(value, safe=safe)
