"""WeChat Official Account (公众号): signed and encrypted XML callbacks, passive replies, the customer-service
API, template messages, and one access token shared by every replica.

Inbound, in the order the webhook route calls us:

* ``handshake``: the URL verification ``GET ?signature&timestamp&nonce&echostr`` is answered with ``echostr``
  only when ``signature = sha1(sorted([token, timestamp, nonce]))`` matches; anything else is 403.
* ``authenticate``: every POST carries the same ``signature`` (missing → 401, wrong → 403). That signature
  does not cover the body, so in compatible and safe mode the body's ``Encrypt`` must also match
  ``msg_signature`` and decrypt to a message for our AppID. A timestamp more than ``max_clock_skew`` from
  our clock is refused, which bounds replays of a captured callback.
* ``parse``: the authentic XML (decrypted in compatible and safe mode; the plaintext copy compatible mode also
  sends is ignored) becomes inputs. Dedup keys: ``MsgId`` for messages, ``FromUserName:CreateTime:Event``
  for events, as WeChat documents; it retries an unanswered callback three times in all.

Choices worth knowing (also in docs/channels/wechat.md):

* A voice message with ``Recognition`` (WeChat's speech-to-text) becomes a ``TextInput`` of the recognised
  text; ``raw`` keeps the ``MediaId``. Without recognition it is a ``MediaInput`` (audio, by media id).
* A link the user shares becomes a ``TextInput`` of its title and URL (description in ``raw``): the user
  said something, and every bot understands text.
* A tap on a ``msgmenu`` item arrives as a text message with ``bizmsgmenuid``; it becomes a
  ``PostbackInput`` with that id, which is the payload the bot chose. A menu ``CLICK`` is a postback too.
* ``TEMPLATESENDJOBFINISH`` is a :class:`StatusUpdate` for the template message's ``msgid``;
  ``MASSSENDJOBFINISH`` (account-wide broadcast report) is ignored.

Outbound: ``render`` produces customer-service API bodies (``{"touser", "msgtype", ...}``); templates are
marked ``"_api": "template"`` and images carry their URL in ``"_media"`` until ``send`` uploads them (the
media id is cached for less than the three days WeChat keeps it). Keys starting with ``_`` never reach
WeChat. ``passive_reply`` turns a first text or news body into the XML answer of the callback itself.

Access token: ``GET /cgi-bin/token``, cached in the store with its expiry and refreshed five minutes early
under a store lock, re-read after the lock is taken, so replicas never refresh twice (each refresh
invalidates the previous token). ``stable_token`` was not used: the lock already gives one refresher,
and the classic endpoint is the one every account can call. The token travels in the query string, as
WeChat requires; it is redacted from httpx's request log and from every error reason.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import Field, SecretStr, field_validator, model_validator

from channelgate.channels.base import (
    BadRequest,
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Forbidden,
    InboundEvent,
    InboundMessage,
    InvalidCredentials,
    MediaContent,
    Outbound,
    Rejected,
    RenderContext,
    SendError,
    SendRefused,
    SendResult,
    StatusUpdate,
    Throttled,
    Unauthorized,
    Unavailable,
    Verified,
    WebhookError,
    WebhookRequest,
    WebhookResponse,
    WindowClosed,
)
from channelgate.channels.inbound import SkipEvent, number, optional_number
from channelgate.channels.rendering import (
    action_as_text,
    numbered_choices,
    split_text,
    truncate_bytes,
)
from channelgate.channels.wechat.crypto import (
    DecryptError,
    InvalidAppId,
    InvalidSignature,
    MessageCrypto,
    aes_key,
    signature_matches,
)
from channelgate.channels.wechat.xml import MAX_XML_BYTES, XmlError, XmlMessage, XmlValue, build_xml, read_xml
from channelgate.messages import (
    Action,
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
from channelgate.turns import (
    EventInput,
    Input,
    LocationInput,
    MediaInput,
    PostbackInput,
    TextInput,
    User,
)

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
#: WeChat's API host and the alternates it documents (general, Shanghai, Shenzhen, Hong Kong).
WECHAT_HOSTS = (
    "api.weixin.qq.com",
    "api2.weixin.qq.com",
    "sh.api.weixin.qq.com",
    "sz.api.weixin.qq.com",
    "hk.api.weixin.qq.com",
)
TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 - a URL path, not a secret
CUSTOM_SEND_PATH = "/cgi-bin/message/custom/send"
TEMPLATE_SEND_PATH = "/cgi-bin/message/template/send"
MEDIA_UPLOAD_PATH = "/cgi-bin/media/upload"
MEDIA_GET_PATH = "/cgi-bin/media/get"

#: WeChat's nonces are 9-10 digits; longer ones are refused before they reach the replay cache.
MAX_NONCE_LENGTH = 64
#: Text limit of passive replies and customer-service messages, in UTF-8 bytes (a Chinese character is 3).
TEXT_MAX_BYTES = 2048
#: ``msgmenu`` limits (WeChat's customer-service docs; the item limits are WeCom's, assumed here too).
MENU_HEAD_MAX_BYTES = 1024
MENU_TAIL_MAX_BYTES = 1024
MENU_ITEMS_MAX = 10
MENU_ID_MAX_BYTES = 64
MENU_CONTENT_MAX_BYTES = 128
#: Customer-service messages may follow a user's message for 48 hours (and 5 messages).
WINDOW_SECONDS = 48 * 3600
#: Refresh the access token this long before it expires.
TOKEN_REFRESH_MARGIN = 300.0
#: Temporary media lives three days on WeChat's side; forget our media id an hour before that.
MEDIA_TTL = 3 * 86400 - 3600
#: Images for customer-service messages: up to 10 MB (WeChat's temporary-media limit).
IMAGE_MAX_BYTES = 10 * 1024 * 1024
#: Media users send (videos): bounded so one message cannot exhaust memory.
MEDIA_DOWNLOAD_MAX_BYTES = 25 * 1024 * 1024

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
THROTTLE_ERRORS = frozenset({45009, -1})
CREDENTIAL_ERRORS = frozenset({40001, 40002, 40013, 40014, 40125, 40164, 41001, 41002, 41004, 42001, 48001})
WINDOW_ERRORS = {
    45015: "the user has not messaged the account for 48 hours (WeChat 45015)",
    45047: "the customer-service message quota for this user is used up (WeChat 45047)",
}

_SECRET_PARAM = re.compile(r"((?:access_token|secret)=)[^&\s\"'#]+")

Mode = Literal["plaintext", "compatible", "safe"]


def redact(text: str) -> str:
    """``text`` with access tokens and app secrets in URLs replaced."""
    return _SECRET_PARAM.sub(r"\1[redacted]", text)


class _RedactTokens(logging.Filter):
    """httpx logs every request URL at INFO; WeChat puts the access token (and, for /cgi-bin/token, the
    app secret) in the query string. Rewrite such records before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_REDACT_FILTER = _RedactTokens()


def _install_log_redaction() -> None:
    logger = logging.getLogger("httpx")
    if _REDACT_FILTER not in logger.filters:
        logger.addFilter(_REDACT_FILTER)


def _utf8_len(text: str) -> int:
    return len(text.encode())


# --- config ---------------------------------------------------------------------------------------------


class WeChatConfig(ChannelConfig):
    """An Official Account: what its console's Basic Configuration (基本配置) shows."""

    app_id: str = Field(min_length=1, description="AppID (开发者ID), e.g. wx1234567890abcdef")
    app_secret: SecretStr = Field(description="AppSecret (开发者密码)")
    token: SecretStr = Field(
        description="Token (令牌) you enter in the Server configuration: 3-32 letters/digits"
    )
    encoding_aes_key: SecretStr | None = Field(
        default=None,
        description="EncodingAESKey (消息加解密密钥): 43 characters, needed in safe and compatible mode",
    )
    encryption_mode: Mode = Field(
        default="safe",
        description=(
            "Message encryption mode as set in the console. Plaintext mode authenticates no message body, "
            "so it must be chosen explicitly"
        ),
    )
    api_base_url: str = DEFAULT_API_BASE_URL
    max_clock_skew: float = Field(default=300.0, gt=0, description="Refuse callbacks older/newer than this")
    passive_reply_budget: float = Field(
        default=4.0,
        ge=0,
        lt=5,
        description="Seconds to wait for the bot's reply in the HTTP answer (WeChat: 5)",
    )
    original_id: str | None = Field(
        default=None,
        pattern=r"^gh_[0-9A-Za-z_-]{1,64}$",
        description="The account's original id (原始ID, gh_...: Settings → Account info); when set, a "
        "callback addressed to another account (ToUserName) is refused with 403",
    )

    @classmethod
    def asked_fields(cls, values: Mapping[str, Any]) -> list[str]:
        """``channels add wechat`` asks for the EncodingAESKey too: safe mode, the default, needs it."""
        if values.get("encryption_mode") == "plaintext":
            return cls.required_fields()
        return [*cls.required_fields(), "encoding_aes_key"]

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not (3 <= len(token) <= 32 and token.isascii() and token.isalnum()):
            raise ValueError("the WeChat Token is 3-32 English letters or digits")
        return value

    @field_validator("encoding_aes_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            aes_key(value.get_secret_value())  # ValueError says what is wrong, never the key
        return value

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_base_url": WECHAT_HOSTS}

    def insecure_settings(self) -> dict[str, str]:
        if self.encryption_mode != "plaintext":
            return {}
        return {
            "encryption_mode": "plaintext: callbacks are neither encrypted nor signed over their body, so "
            "one captured callback URL lets anyone post any message as any user within max_clock_skew"
        }

    @field_validator("api_base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("api_base_url must start with https:// (or http:// for a local simulator)")
        return value

    @model_validator(mode="after")
    def _mode_needs_key(self) -> WeChatConfig:
        """No key means no authenticated bodies: that must be a choice written in the config, never the
        fallback of a forgotten field (docs/channels/wechat.md, "Encryption modes")."""
        if self.encryption_mode != "plaintext" and self.encoding_aes_key is None:
            raise ValueError(
                f"encoding_aes_key is required when encryption_mode is {self.encryption_mode!r}"
                f"{' (the default)' if self.encryption_mode == 'safe' else ''}: copy the EncodingAESKey "
                "from the console's Server configuration (服务器配置). Only if the account really runs in "
                "plaintext mode, set encryption_mode: plaintext (message bodies are then not authenticated)"
            )
        return self


# --- inbound --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Opened:
    """An authenticated callback: its message fields, and whether replies must be encrypted."""

    fields: dict[str, str]
    encrypted: bool
    nonce: str
    #: the message as a tree, repeated elements as lists (:class:`XmlMessage`)
    tree: dict[str, Any] = field(default_factory=dict)


_COMMON_FIELDS = frozenset(
    {"ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Event", "Encrypt"}
)


def _float(fields: dict[str, str], name: str) -> float:
    """A finite number from the XML (``nan``, ``inf`` and ``1e999`` are not coordinates), or BadRequest:
    a WeChat callback carries one event, so a broken one is a broken webhook."""
    try:
        return number(fields.get(name), name)
    except SkipEvent as exc:
        raise BadRequest(f"{exc.reason} (or is missing)") from None


def _extra(fields: dict[str, str], nested: dict[str, Any]) -> dict[str, Any]:
    """The fields of an event this module has no input for: its leaves, and its nested elements whole (from
    the tree, so repeated elements are lists: :class:`XmlMessage`), not their dotted first copies."""
    leaves = {k: v for k, v in fields.items() if k not in _COMMON_FIELDS and "." not in k and v != ""}
    return {**leaves, **nested}


def _message_input(msg_type: str, f: dict[str, str], nested: dict[str, Any]) -> Input:
    """The input of a user message (not an event)."""
    if msg_type == "text":
        menu_id = f.get("bizmsgmenuid", "")
        if menu_id:
            return PostbackInput(payload=menu_id, title=f.get("Content") or None)
        return TextInput(text=f.get("Content", ""))
    if msg_type == "image":
        return MediaInput(kind="image", url=f.get("PicUrl") or None, media_id=f.get("MediaId") or None)
    if msg_type == "voice":
        if f.get("Recognition"):
            return TextInput(text=f["Recognition"])
        fmt = f.get("Format", "").lower()
        return MediaInput(
            kind="audio", media_id=f.get("MediaId") or None, mime_type=f"audio/{fmt}" if fmt else None
        )
    if msg_type in ("video", "shortvideo"):
        return MediaInput(kind="video", media_id=f.get("MediaId") or None)
    if msg_type == "location":
        return LocationInput(
            latitude=_float(f, "Location_X"),
            longitude=_float(f, "Location_Y"),
            address=f.get("Label") or None,
        )
    if msg_type == "link":
        return TextInput(text="\n".join(p for p in (f.get("Title", ""), f.get("Url", "")) if p))
    return EventInput(name=msg_type, data=_extra(f, nested) or None)


def _event_input(event: str, f: dict[str, str], nested: dict[str, Any]) -> Input:
    key = f.get("EventKey", "")
    if event == "subscribe":
        data: dict[str, Any] = {}
        if key.startswith("qrscene_"):
            data["scene"] = key.removeprefix("qrscene_")
        elif key:  # not a QR code scene (e.g. "last_trade_no_..." after a payment): kept as WeChat sent it
            data["event_key"] = key
        if f.get("Ticket"):
            data["ticket"] = f["Ticket"]
        return EventInput(name="subscribed", data=data or None)
    if event == "unsubscribe":
        return EventInput(name="unsubscribed")
    if event == "scan":
        return EventInput(
            name="scan", data={"scene": key, **({"ticket": f["Ticket"]} if f.get("Ticket") else {})}
        )
    if event == "location":
        where: dict[str, Any] = {"latitude": _float(f, "Latitude"), "longitude": _float(f, "Longitude")}
        if f.get("Precision"):
            where["precision"] = _float(f, "Precision")
        return EventInput(name="location", data=where)
    if event == "click":
        return PostbackInput(payload=key)
    if event == "view":
        return EventInput(name="view", data={"url": key})
    return EventInput(name=event, data=_extra(f, nested) or None)


def _create_time(f: dict[str, str]) -> float | None:
    return optional_number(f.get("CreateTime"))


def parse_fields(f: dict[str, str], tree: dict[str, Any] | None = None) -> list[InboundEvent]:
    """The events in one authentic WeChat message: its flat XML fields, which are what is read, and the tree
    (:class:`XmlMessage`) whose nested and repeated elements join them whole in the inputs' data and in
    ``raw``. Only elements with no flat text join (a repeated top-level leaf is not a WeChat shape: its first
    copy is read), so a field read as text is always text, whatever a body nests."""
    nested = {k: v for k, v in (tree or {}).items() if k not in f and k not in _COMMON_FIELDS}
    raw: dict[str, Any] = {**f, **nested}
    user_id = f.get("FromUserName", "")
    msg_type = f.get("MsgType", "").lower()
    if not user_id or not msg_type:
        raise BadRequest("FromUserName and MsgType are required")
    created = _create_time(f)
    user = User(id=user_id)
    if msg_type != "event":
        msg_id = f.get("MsgId", "")
        key = msg_id or f"{user_id}:{f.get('CreateTime', '')}:{msg_type}"
        return [
            InboundMessage(
                dedup_key=key,
                user=user,
                input=_message_input(msg_type, f, nested),
                raw=raw,
                platform_message_id=msg_id or None,
                timestamp=created,
            )
        ]
    event = f.get("Event", "")
    if not event:
        raise BadRequest("MsgType is event but Event is empty")
    key = f"{user_id}:{f.get('CreateTime', '')}:{event}"
    name = event.lower()
    if name == "masssendjobfinish":
        return []
    if name == "templatesendjobfinish":
        status = f.get("Status", "")
        ok = status == "success"
        return [
            StatusUpdate(
                dedup_key=key,
                user_id=user_id,
                status="delivered" if ok else "failed",
                platform_message_id=f.get("MsgID") or f.get("MsgId") or None,
                reason=None if ok else status or "failed",
                raw=raw,
            )
        ]
    return [
        InboundMessage(
            dedup_key=key, user=user, input=_event_input(name, f, nested), raw=raw, timestamp=created
        )
    ]


# --- outbound: rendering helpers ------------------------------------------------------------------------


def _body(user_id: str, msgtype: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"touser": user_id, "msgtype": msgtype, msgtype: content}


def _is_template(message: UniversalMessage) -> bool:
    if isinstance(message, Template):
        return True
    if isinstance(message, ChannelSpecific):
        payload = message.payloads.get("wechat")
        if payload is not None:
            return "template_id" in payload
        return message.fallback is not None and _is_template(message.fallback)
    return False


def template_body(template: Template, user_id: str) -> dict[str, Any]:
    """A template message for ``/cgi-bin/message/template/send``.

    ``name`` is the template id. Plain parameters fill ``keyword1``, ``keyword2``... in order; a parameter
    ``{"name": "thing2", "value": "...", "color": "#173177"}`` fills a named field; any other mapping is
    merged into the body as is (``url``, ``miniprogram``, ``client_msg_id``, or a whole ``data`` object).
    """
    data: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    position = 0
    for param in template.parameters or []:
        if isinstance(param, dict) and "name" in param and "value" in param:
            field: dict[str, Any] = {"value": str(param["value"])}
            if param.get("color"):
                field["color"] = str(param["color"])
            data[str(param["name"])] = field
        elif isinstance(param, dict):
            extras.update(param)
        else:
            position += 1
            data[f"keyword{position}"] = {"value": str(param)}
    data = {**(extras.pop("data", None) or {}), **data}
    return {"_api": "template", "touser": user_id, "template_id": template.name, **extras, "data": data}


def _menu_fits(items: Sequence[tuple[str, str]]) -> bool:
    return 0 < len(items) <= MENU_ITEMS_MAX and all(0 < _utf8_len(i) <= MENU_ID_MAX_BYTES for i, _ in items)


@dataclass
class _Renderer:
    """Renders one batch of messages for one user; small methods, one per universal type."""

    ctx: RenderContext

    @property
    def user(self) -> str:
        return self.ctx.user_id

    def texts(self, text: str) -> list[Outbound]:
        parts = split_text(text, TEXT_MAX_BYTES, measure=_utf8_len) if text.strip() else []
        if len(parts) > 1:
            self.ctx.note(f"text split into {len(parts)} messages of at most {TEXT_MAX_BYTES} bytes")
        return [self.text(p) for p in parts]

    def text(self, part: str) -> Outbound:
        return Outbound(body=_body(self.user, "text", {"content": part}), summary=part[:120])

    def with_actions(self, text: str, actions: Sequence[Action] | None) -> list[Outbound]:
        """Text followed by buttons: reply buttons as a ``msgmenu``, links and calls as lines of text."""
        replies = [a for a in actions or [] if isinstance(a, ReplyAction)]
        lines = [action_as_text(a, self.ctx.gettext) for a in actions or [] if not isinstance(a, ReplyAction)]
        if not replies:
            return self.texts("\n".join(p for p in (text, *lines) if p))
        return self.menu(text, [(r.payload, r.title) for r in replies], lines)

    def menu(self, head: str, items: list[tuple[str, str]], tail_lines: list[str]) -> list[Outbound]:
        """A ``msgmenu`` whose item ids are the payloads, or numbered text when it cannot be one."""
        if not _menu_fits(items):
            self.ctx.note(
                f"{len(items)} choices sent as numbered text (a WeChat menu holds {MENU_ITEMS_MAX} choices "
                f"with ids of at most {MENU_ID_MAX_BYTES} bytes)"
            )
            choices = numbered_choices(head, [title for _, title in items], self.ctx)
            return self.texts("\n".join([choices, *tail_lines]))
        parts = split_text(head or self.ctx.gettext("Please choose:"), TEXT_MAX_BYTES, measure=_utf8_len)
        last = parts.pop()
        if _utf8_len(last) > MENU_HEAD_MAX_BYTES:
            more = split_text(last, MENU_HEAD_MAX_BYTES, measure=_utf8_len)
            last = more.pop()
            parts += more
        out = [self.text(p) for p in parts]
        tail = "\n".join(tail_lines)
        after: list[Outbound] = []
        if _utf8_len(tail) > MENU_TAIL_MAX_BYTES:
            after, tail = self.texts(tail), ""
        listing = []
        for item_id, title in items:
            content = truncate_bytes(title, MENU_CONTENT_MAX_BYTES)
            if content != title:
                self.ctx.note(f"menu choice truncated to {MENU_CONTENT_MAX_BYTES} bytes")
            listing.append({"id": item_id, "content": content})
        body = _body(self.user, "msgmenu", {"head_content": last, "list": listing, "tail_content": tail})
        summary = f"{last[:80]} [{' | '.join(t for _, t in items)}]"
        return [*out, Outbound(body=body, summary=summary), *after]

    def media(self, message: Media) -> list[Outbound]:
        if message.kind == "image":
            body = {**_body(self.user, "image", {}), "_media": {"type": "image", "url": message.url}}
            out = [Outbound(body=body, summary=f"[image] {message.url}")]
            if message.caption or message.quick_replies:
                out += self.with_actions(message.caption or "", message.quick_replies)
            return out
        self.ctx.note(
            f"{message.kind} sent as a link (customer-service {message.kind} needs WeChat-side media)"
        )
        text = "\n".join(p for p in (message.caption, message.filename, message.url) if p)
        return self.with_actions(text, message.quick_replies)

    def card(self, card: Card) -> list[Outbound]:
        """A news article (image, title, description; a tap opens the first URL button), then the
        card's other buttons."""
        buttons = list(card.buttons or [])
        link = next((b for b in buttons if isinstance(b, UrlAction)), None)
        rest = [b for b in buttons if b is not link] + list(card.quick_replies or [])
        if card.media is None and link is None:
            text = "\n".join(p for p in (card.title, card.description) if p)
            return self.with_actions(text, rest)
        article = {"title": card.title, "description": card.description or ""}
        if link is not None:
            article["url"] = link.url
        if card.media is not None:
            article["picurl"] = card.media.url
        out = [
            Outbound(body=_body(self.user, "news", {"articles": [article]}), summary=f"[card] {card.title}")
        ]
        if rest:
            out += self.with_actions(
                card.title if any(isinstance(b, ReplyAction) for b in rest) else "", rest
            )
        return out

    def carousel(self, message: Carousel) -> list[Outbound]:
        self.ctx.note(f"carousel of {len(message.cards)} cards sent as numbered text")
        entries = []
        for card in message.cards:
            lines = [card.title + (f" - {card.description}" if card.description else "")]
            lines += [
                "   " + action_as_text(b, self.ctx.gettext)
                for b in card.buttons or []
                if not isinstance(b, ReplyAction)
            ]
            entries.append("\n".join(lines))
        prompt = any(isinstance(b, ReplyAction) for c in message.cards for b in c.buttons or [])
        text = numbered_choices("", entries, self.ctx, prompt=prompt)
        return self.with_actions(text, message.quick_replies)

    def listing(self, message: ListMessage) -> list[Outbound]:
        items = [
            (i.payload, i.title + (f" - {i.description}" if i.description else "")) for i in message.items
        ]
        extra = list(message.quick_replies or [])
        items += [(a.payload, a.title) for a in extra if isinstance(a, ReplyAction)]
        tail = [action_as_text(a, self.ctx.gettext) for a in extra if not isinstance(a, ReplyAction)]
        if message.footer:
            tail.insert(0, message.footer)
        head = "\n".join(p for p in (message.header, message.text) if p)
        return self.menu(head, items, tail)

    def location(self, message: Location) -> list[Outbound]:
        coordinates = f"{message.latitude:.6f}, {message.longitude:.6f}"
        text = "\n".join(p for p in (message.name, message.address, coordinates) if p)
        return self.with_actions(text, message.quick_replies)

    def channel_specific(self, message: ChannelSpecific) -> list[Outbound]:
        payload = message.payloads.get("wechat")
        if payload is None:
            if message.fallback is not None:
                return self.one(message.fallback)
            self.ctx.note("channel-specific message without a wechat payload or fallback skipped")
            return []
        body = copy.deepcopy(payload)
        body.setdefault("touser", self.user)
        if "template_id" in body:
            body.setdefault("_api", "template")
        return [Outbound(body=body, summary=f"[wechat] {body.get('msgtype') or 'template'}")]

    def one(self, message: UniversalMessage) -> list[Outbound]:
        if isinstance(message, Text):
            return self.with_actions(message.text, message.quick_replies)
        if isinstance(message, Media):
            return self.media(message)
        if isinstance(message, Card):
            return self.card(message)
        if isinstance(message, Carousel):
            return self.carousel(message)
        if isinstance(message, ListMessage):
            return self.listing(message)
        if isinstance(message, Location):
            return self.location(message)
        if isinstance(message, Template):
            return [Outbound(body=template_body(message, self.user), summary=f"[template] {message.name}")]
        return self.channel_specific(message)


# --- passive replies ------------------------------------------------------------------------------------


def passive_fields(body: dict[str, Any]) -> dict[str, XmlValue] | None:
    """The XML fields of a passive reply carrying ``body``, or None when it must go through the API."""
    if any(key.startswith("_") for key in body) or "customservice" in body:
        return None
    msgtype = body.get("msgtype")
    content = body.get(msgtype) if isinstance(msgtype, str) else None
    if not isinstance(content, dict):
        return None
    if msgtype == "text" and isinstance(content.get("content"), str):
        return {"MsgType": "text", "Content": content["content"]}
    if msgtype == "news":
        articles = content.get("articles") or []
        if len(articles) != 1:
            return None
        article = articles[0]
        item: dict[str, XmlValue] = {"Title": str(article.get("title", ""))}
        for source, target in (("description", "Description"), ("picurl", "PicUrl"), ("url", "Url")):
            if article.get(source):
                item[target] = str(article[source])
        return {"MsgType": "news", "ArticleCount": 1, "Articles": [item]}
    if msgtype in ("image", "voice") and isinstance(content.get("media_id"), str):
        return {"MsgType": msgtype, msgtype.capitalize(): {"MediaId": content["media_id"]}}
    return None


# --- the channel ----------------------------------------------------------------------------------------


class WeChatChannel(Channel[WeChatConfig]):
    name: ClassVar[str] = "wechat"
    title: ClassVar[str] = "WeChat Official Account"
    Config: ClassVar[type[ChannelConfig]] = WeChatConfig
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=TEXT_MAX_BYTES, quick_replies_max=MENU_ITEMS_MAX, buttons_max=MENU_ITEMS_MAX
    )
    setup_fields: ClassVar[tuple[str, ...]] = ("token",)

    def __init__(self, config: WeChatConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        if ctx.replay is None:
            raise ValueError("the WeChat channel needs the store's replay cache (ChannelContext.replay)")
        self.passive_reply_budget = config.passive_reply_budget
        #: the clock used for timestamps and token expiry; tests pin it for fixed vectors
        self.clock: Callable[[], float] = time.time
        self._token = config.token.get_secret_value()
        key = config.encoding_aes_key
        self._crypto = (
            MessageCrypto(self._token, key.get_secret_value(), config.app_id)
            if key is not None and config.encryption_mode != "plaintext"
            else None
        )
        _install_log_redaction()

    @classmethod
    def check_config(cls, config: WeChatConfig) -> list[str]:
        if config.encryption_mode == "plaintext":
            return [
                "plaintext mode: WeChat's signature covers only the timestamp and nonce, not the message, so "
                "message bodies are not authenticated; set an encoding_aes_key and use safe mode"
            ]
        return []

    @property
    def _token_key(self) -> str:
        return f"wechat:{self.config.app_id}:token"

    # --- inbound ---

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        """URL verification: echo ``echostr`` when the signature over (token, timestamp, nonce) matches."""
        if request.method.upper() != "GET":
            return None
        q = request.query
        echostr = q.get("echostr")
        signature, timestamp, nonce = q.get("signature"), q.get("timestamp", ""), q.get("nonce", "")
        if echostr is None or not signature_matches(signature, self._token, timestamp, nonce):
            raise Forbidden("URL verification failed: signature does not match the Token")
        self._check_clock(timestamp)
        return WebhookResponse(200, echostr, media_type="text/plain")

    def authenticate(self, request: WebhookRequest) -> Verified:
        return Verified(request.body, self._open(request))

    async def check_replay(self, request: WebhookRequest, verified: Verified | None = None) -> None:
        """Bind the callback's signed (timestamp, nonce) to the message it carried, in the store's replay
        cache shared by every replica. The same pair with another message is a forgery on a captured URL
        (403). The same pair with the same message is let through: it is what WeChat's own retry of an
        unanswered callback looks like, and the dedup answers it once (``success``, no second turn, no
        passive reply to whoever sent it). The message is compared by its authentic fields (decrypted in
        compatible and safe mode), so a re-encryption of the same message is still the same message."""
        assert self.ctx.replay is not None  # __init__ refuses a context without one
        opened = self._open(request)
        timestamp = int(request.query["timestamp"])  # _open checked it is digits within max_clock_skew
        fingerprint = hashlib.sha256(orjson.dumps(opened.fields, option=orjson.OPT_SORT_KEYS)).hexdigest()
        now = self.clock()
        first = await self.ctx.replay.first_seen(
            timestamp,
            opened.nonce,
            fingerprint,
            now=now,
            until=max(now, timestamp) + self.config.max_clock_skew + 1,
        )
        if first is not None and first != fingerprint:
            raise Forbidden(
                "this timestamp and nonce already came with another message: a replayed callback URL"
            )

    def parse(self, request: WebhookRequest, verified: Verified | None = None) -> list[InboundEvent]:
        opened = self._open(request)
        fields = opened.fields
        expected = self.config.original_id
        if expected is not None and fields.get("ToUserName") != expected:
            # one callback URL per account: a message for another account was not sent here by WeChat
            raise Forbidden(
                f"the message is addressed to {fields.get('ToUserName', '')[:64]!r}, not this account "
                f"({expected})"
            )
        return parse_fields(fields, opened.tree)

    def ack(self, request: WebhookRequest, events: list[InboundEvent]) -> WebhookResponse:
        return WebhookResponse(200, b"success", media_type="text/plain")

    def _check_clock(self, timestamp: str) -> None:
        if not (timestamp.isascii() and timestamp.isdigit()):  # "²".isdigit() holds, but int("²") raises
            raise Forbidden("timestamp is not a number")
        skew = abs(self.clock() - int(timestamp))
        if skew > self.config.max_clock_skew:
            raise Forbidden(
                f"timestamp is {skew:.0f} s away from our clock (limit {self.config.max_clock_skew:.0f} s): "
                "a replayed callback, or a clock that needs NTP"
            )

    def _open(self, request: WebhookRequest) -> _Opened:
        """Verify the callback and return its authentic fields. Raises 401/403/400 as WebhookErrors."""
        q = request.query
        signature, timestamp, nonce = q.get("signature"), q.get("timestamp"), q.get("nonce")
        if not signature or not timestamp or not nonce:
            raise Unauthorized("signature, timestamp and nonce are required")
        if len(nonce) > MAX_NONCE_LENGTH:
            raise BadRequest(f"nonce is over {MAX_NONCE_LENGTH} characters")
        if not signature_matches(signature, self._token, timestamp, nonce):
            raise Forbidden("signature does not match the Token")
        self._check_clock(timestamp)
        if len(request.body) > MAX_XML_BYTES:
            raise BadRequest(f"body over {MAX_XML_BYTES} bytes")
        outer = self._xml(request.body)
        if self._crypto is None:
            if "MsgType" not in outer.fields and "Encrypt" in outer.fields:
                raise BadRequest(
                    "the message is encrypted but this integration has no encoding_aes_key "
                    "(set it, with the console's encryption mode)"
                )
            return _Opened(outer.fields, encrypted=False, nonce=nonce, tree=outer.tree)
        msg_signature = q.get("msg_signature")
        if not msg_signature:
            raise Unauthorized(f"msg_signature is required in {self.config.encryption_mode} mode")
        encrypted = outer.fields.get("Encrypt")
        if not encrypted:
            raise BadRequest("Encrypt is missing from the message")
        try:
            plain = self._crypto.open(encrypted, msg_signature, timestamp, nonce)
        except InvalidSignature:
            raise Forbidden("msg_signature does not match the encrypted message") from None
        except InvalidAppId:
            raise Forbidden("the message was encrypted for another AppID") from None
        except DecryptError as exc:
            raise BadRequest(f"the message does not decrypt ({exc}); check encoding_aes_key") from None
        inner = self._xml(plain)
        return _Opened(inner.fields, encrypted=True, nonce=nonce, tree=inner.tree)

    @staticmethod
    def _xml(body: bytes) -> XmlMessage:
        try:
            return read_xml(body)
        except XmlError as exc:
            raise BadRequest(str(exc)) from None

    # --- passive reply ---

    def passive_reply(
        self, request: WebhookRequest, outbounds: list[Outbound]
    ) -> tuple[WebhookResponse, int]:
        """The first payload as the callback's XML answer when WeChat allows it (text or one-article news),
        encrypted and signed when the callback was; otherwise ``success`` and nothing carried."""
        if not outbounds:
            return self.ack(request, []), 0
        reply = passive_fields(outbounds[0].body)
        if reply is None:
            return self.ack(request, []), 0
        try:
            opened = self._open(request)
        except WebhookError:
            return self.ack(request, []), 0
        user, account = opened.fields.get("FromUserName", ""), opened.fields.get("ToUserName", "")
        if not account or outbounds[0].body.get("touser") != user:
            return self.ack(request, []), 0
        now = int(self.clock())
        xml = build_xml({"ToUserName": user, "FromUserName": account, "CreateTime": now, **reply})
        if opened.encrypted and self._crypto is not None:
            encrypted, signature = self._crypto.seal(xml, str(now), opened.nonce)
            xml = build_xml(
                {"Encrypt": encrypted, "MsgSignature": signature, "TimeStamp": now, "Nonce": opened.nonce}
            )
        return WebhookResponse(200, xml, media_type="application/xml"), 1

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        renderer = _Renderer(ctx)
        closed = ctx.proactive and not ctx.within(WINDOW_SECONDS)
        out: list[Outbound] = []
        for message in messages:
            fallback = ctx.option(message, "template_fallback")
            if closed and not _is_template(message):
                if fallback is None:
                    raise SendRefused(
                        "outside WeChat's 48-hour customer-service window: a proactive message must be a "
                        "template (or set options.template_fallback)"
                    )
                ctx.note("outside the 48-hour window: sent the template fallback instead")
                out.append(
                    Outbound(body=template_body(fallback, ctx.user_id), summary=f"[template] {fallback.name}")
                )
                continue
            rendered = renderer.one(message)
            if fallback is not None and not _is_template(message):
                tpl = template_body(fallback, ctx.user_id)
                rendered = [replace(o, fallback=tpl) for o in rendered]
            out.extend(rendered)
        return out

    async def send(self, outbound: Outbound) -> SendResult:
        body = copy.deepcopy(outbound.body)
        api = body.pop("_api", "custom")
        media = body.pop("_media", None)
        for key in [k for k in body if k.startswith("_")]:
            body.pop(key)
        if api not in ("custom", "template"):
            raise Rejected(f"unknown WeChat API {api!r} in the payload")
        if isinstance(media, dict):
            msgtype = str(body.get("msgtype") or media.get("type") or "image")
            media_id = await self._media_id(str(media["url"]), str(media.get("type") or "image"))
            content = body.setdefault(msgtype, {})
            content["media_id"] = media_id
        path = TEMPLATE_SEND_PATH if api == "template" else CUSTOM_SEND_PATH
        response = await self._call("POST", path, content=orjson.dumps(body))
        result = _json(response)
        msgid = result.get("msgid") if isinstance(result, dict) else None
        return SendResult(platform_message_id=str(msgid) if msgid is not None else None)

    async def download_media(self, media_id: str) -> MediaContent:
        """Media a user sent (voice, video), fetched with our token, which the bot never sees. WeChat answers
        a video's id with JSON holding a ``video_url``, which is then fetched (it needs no token)."""
        response = await self._call("GET", MEDIA_GET_PATH, params={"media_id": media_id})
        mime = response.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
        if "json" in mime or response.content[:1] == b"{":
            video_url = _json(response).get("video_url")
            if not isinstance(video_url, str) or not video_url.startswith(("https://", "http://")):
                raise Rejected("WeChat answered the media request without content or a video_url")
            content, mime = await self._download(
                video_url, limit=MEDIA_DOWNLOAD_MAX_BYTES, default_mime="video/mp4"
            )
            return MediaContent(content=content, mime_type=mime)
        return MediaContent(content=response.content, mime_type=mime)

    # --- media upload ---

    async def _media_id(self, url: str, kind: str) -> str:
        """The WeChat media id for ``url``: cached in the store, else downloaded and uploaded."""
        key = f"wechat:{self.config.app_id}:media:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"
        cached = await self.ctx.kv.get(key)
        if cached:
            return cached
        content, mime = await self._download(url)
        filename = _filename(url, mime)
        response = await self._call(
            "POST", MEDIA_UPLOAD_PATH, params={"type": kind}, files={"media": (filename, content, mime)}
        )
        media_id = _json(response).get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise Unavailable("WeChat's media upload answered without a media_id")
        await self.ctx.kv.set(key, media_id, ttl=MEDIA_TTL)
        return media_id

    async def _download(
        self, url: str, *, limit: int = IMAGE_MAX_BYTES, default_mime: str = "image/jpeg"
    ) -> tuple[bytes, str]:
        """Fetch ``url`` (at most ``limit`` bytes) with the shared client; errors as SendErrors."""
        try:
            async with self.ctx.http.stream("GET", url) as response:
                if response.status_code >= 500:
                    raise Unavailable(f"the media URL answered HTTP {response.status_code}")
                if response.status_code >= 400:
                    raise Rejected(
                        f"the media URL answered HTTP {response.status_code}", code=response.status_code
                    )
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise Rejected(f"the media is over the {limit // (1024 * 1024)} MB limit")
                    chunks.append(chunk)
                mime = response.headers.get("content-type", "").split(";")[0].strip() or default_mime
        except httpx.HTTPError as exc:
            raise Unavailable(f"could not fetch the media ({type(exc).__name__})") from None
        return b"".join(chunks), mime

    # --- the API and its access token ---

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> httpx.Response:
        """Call the API with the shared token; on a token error refresh it and try once more."""
        for attempt in range(2):
            token = await self._access_token()
            response = await self._request(method, path, token, params, content, files)
            code, message = _errcode(response)
            if code == 0:
                if self.ctx.health.status != "ok":
                    self.ctx.health.ok()  # a call went through: whatever was wrong has been fixed
                return response
            if code in TOKEN_ERRORS and attempt == 0:
                self.ctx.log.info(
                    "wechat %s: token refused (%d); refreshing and retrying once", self.ctx.label, code
                )
                await self._refresh_token(stale=token)
                continue
            raise self._error(code, message)
        raise AssertionError("unreachable")

    async def _request(
        self,
        method: str,
        path: str,
        token: str,
        params: dict[str, str] | None,
        content: bytes | None,
        files: dict[str, tuple[str, bytes, str]] | None,
    ) -> httpx.Response:
        headers = {"content-type": "application/json; charset=utf-8"} if content is not None else None
        try:
            response = await self.ctx.http.request(
                method,
                self.config.api_base_url + path,
                params={"access_token": token, **(params or {})},
                content=content,
                files=files,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"WeChat API unreachable ({type(exc).__name__})") from None
        _check_http(response)
        return response

    def _error(self, code: int, message: str) -> SendError:
        reason = f"WeChat error {code}: {redact(message)}"
        if code in THROTTLE_ERRORS:
            return Throttled(reason, code=code)
        if code in WINDOW_ERRORS:
            return WindowClosed(WINDOW_ERRORS[code], code=code)
        if code in CREDENTIAL_ERRORS:
            self.ctx.health.fail(_credential_hint(code, reason))
            return InvalidCredentials(reason, code=code)
        return Rejected(reason, code=code)

    async def _cached_token(self) -> tuple[str, float] | None:
        raw = await self.ctx.kv.get(self._token_key)
        if not raw:
            return None
        try:
            item = orjson.loads(raw)
            return str(item["access_token"]), float(item["expires_at"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    async def _fresh_token(self) -> str | None:
        cached = await self._cached_token()
        if cached is not None and cached[1] - self.clock() > TOKEN_REFRESH_MARGIN:
            return cached[0]
        return None

    async def _access_token(self) -> str:
        token = await self._fresh_token()
        if token is not None:
            return token
        async with self.ctx.kv.lock(self._token_key):
            token = await self._fresh_token()  # another replica may have refreshed while we waited
            if token is not None:
                return token
            return await self._fetch_token()

    async def _refresh_token(self, stale: str) -> None:
        """Replace a token WeChat refused, unless another replica already has."""
        async with self.ctx.kv.lock(self._token_key):
            cached = await self._cached_token()
            if cached is not None and cached[0] != stale and cached[1] > self.clock():
                return
            await self._fetch_token()

    async def _fetch_token(self) -> str:
        """GET /cgi-bin/token and store it. Call with the token lock held."""
        params = {
            "grant_type": "client_credential",
            "appid": self.config.app_id,
            "secret": self.config.app_secret.get_secret_value(),
        }
        try:
            response = await self.ctx.http.get(self.config.api_base_url + TOKEN_PATH, params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(f"WeChat token endpoint unreachable ({type(exc).__name__})") from None
        _check_http(response)
        code, message = _errcode(response)
        if code:
            error = self._error(code, message)
            if isinstance(error, Rejected):  # any refusal of our AppID/AppSecret is a credentials problem
                self.ctx.health.fail(_credential_hint(code, error.reason))
                error = InvalidCredentials(error.reason, code=code)
            raise error
        result = _json(response)
        token, expires_in = result.get("access_token"), result.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise Unavailable("WeChat's token endpoint answered without access_token/expires_in")
        item = {"access_token": token, "expires_at": self.clock() + float(expires_in)}
        await self.ctx.kv.set(self._token_key, orjson.dumps(item).decode(), ttl=float(expires_in))
        self.ctx.log.info("wechat %s: access token refreshed (valid %d s)", self.ctx.label, int(expires_in))
        self.ctx.health.ok()
        return token


# --- small helpers --------------------------------------------------------------------------------------


def _check_http(response: httpx.Response) -> None:
    if response.status_code >= 500:
        raise Unavailable(f"WeChat API answered HTTP {response.status_code}", code=response.status_code)
    if response.status_code == 429:
        raise Throttled("WeChat API answered HTTP 429", code=429)
    if response.status_code >= 400:
        raise Rejected(f"WeChat API answered HTTP {response.status_code}", code=response.status_code)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise Unavailable("WeChat API answered with something that is not JSON") from None
    if not isinstance(value, dict):
        raise Unavailable("WeChat API answered with JSON that is not an object")
    return value


def _errcode(response: httpx.Response) -> tuple[int, str]:
    """WeChat's ``errcode``/``errmsg`` (0 for success). Binary answers (media downloads) are successes."""
    mime = response.headers.get("content-type", "")
    if not ("json" in mime or "text/plain" in mime or response.content[:1] == b"{"):
        return 0, ""
    result = _json(response)
    try:
        code = int(result.get("errcode", 0) or 0)
    except (TypeError, ValueError):
        code = -1
    return code, str(result.get("errmsg", ""))


def _credential_hint(code: int, reason: str) -> str:
    if code == 40164:
        return f"{reason} (add the gateway's egress IP to the account's IP allow-list)"
    if code in (40013, 40125, 40002):
        return f"{reason} (check app_id and app_secret)"
    if code == 48001:
        return f"{reason} (the account is not authorised for this API)"
    return reason


def _filename(url: str, mime: str) -> str:
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    if name and "." in name and len(name) <= 100:
        return name
    extension = {"image/png": "png", "image/gif": "gif", "image/bmp": "bmp"}.get(mime, "jpg")
    return f"image.{extension}"
