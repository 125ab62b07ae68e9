"""The Channel interface every channel implements, official or external.

A channel turns one platform's webhook into :class:`InboundEvent` objects and universal messages into
:class:`Outbound` payloads, then sends those through the platform's API. Everything between (dedup,
durable queues, ordering, retries, bots, locale) is the gateway's job, so a channel stays small:

* ``handshake``, ``authenticate`` and ``parse`` are synchronous and do no I/O: they run on the webhook's hot
  path, before the platform gets its answer.
* ``render`` is pure: the same messages and context always give the same payloads. Most channel tests live
  there, table-driven over the universal types.
* ``send`` does the I/O, through the shared, pooled ``PlatformHTTP`` (``channels.http``) in the
  :class:`ChannelContext`, and reports failures as typed :class:`SendError` subclasses so the delivery
  worker knows what to do.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from channelgate.channels.http import PlatformHTTP
from channelgate.messages import MessageOptions, UniversalMessage
from channelgate.shares import WHOLE, Shares
from channelgate.turns import Input, User

# --- webhook requests and answers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A platform's HTTP request, independent of the web framework.

    ``headers`` have lower-case names; ``query`` holds the first value of each parameter; ``body`` is the
    raw bytes, which is what signatures are computed over. ``notes`` is scratch space for the request's
    journey through the gateway (the events its parse skipped, see ``channels.inbound``); not compared.
    """

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes = b""
    notes: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON within the gateway's depth and number rules (``channels.inbound.load_json``),
        or :class:`BadRequest` with the reason."""
        from channelgate.channels.inbound import load_json  # inbound builds on this module

        return load_json(self.body)


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    status: int = 200
    body: bytes | str = b""
    media_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)
    #: called by the web layer once the answer was written to the client (True) or could not be (False):
    #: a passive reply counts as sent only then (gateway.answer_webhook)
    written: Callable[[bool], Awaitable[None]] | None = None


@dataclass(frozen=True, slots=True)
class Verified:
    """What ``authenticate`` proved about a request, handed to ``parse`` so it does not redo the work.

    ``content`` is what authenticating had to decode or decrypt anyway (WeChat's decrypted XML, RBM's
    decoded push message), or None when the signature covers the raw body as it is (Meta, LINE, Slack).
    """

    body: bytes
    content: object = None


class WebhookError(Exception):
    """A webhook the gateway refuses; the web layer answers ``status`` with ``{"error": reason}``."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(WebhookError):
    status = 400


class Unauthorized(WebhookError):
    """Credentials (a signature) are missing."""

    status = 401


class Forbidden(WebhookError):
    """Credentials are present but wrong."""

    status = 403


# --- inbound events --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One thing a user said or did, which becomes one bot turn.

    ``dedup_key`` is unique per integration for this event (the platform's message id, or what the platform
    documents as the dedup key); a redelivery with the same key is answered once. ``platform_message_id``
    is what a reply may quote or mark as read. ``locale_hint`` is the user's language when the platform
    tells it (BCP 47 or the platform's form, e.g. ``en_US``).
    """

    dedup_key: str
    user: User
    input: Input
    raw: Any = None
    platform_message_id: str | None = None
    locale_hint: str | None = None
    timestamp: float | None = None


StatusName = Literal["sent", "delivered", "read", "failed"]


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery status for messages the gateway sent.

    Either ``platform_message_id`` names one message, or ``watermark`` (epoch seconds) covers every message
    sent to ``user_id`` up to that time (Messenger receipts).
    """

    dedup_key: str
    user_id: str
    status: StatusName
    platform_message_id: str | None = None
    watermark: float | None = None
    reason: str | None = None
    raw: Any = None


InboundEvent = InboundMessage | StatusUpdate


# --- outbound ----------------------------------------------------------------------------------------------


#: what the user sees, or an action (typing indicator, read mark)
OutboundKind = Literal["message", "action"]


@dataclass(frozen=True, slots=True)
class Outbound:
    """One call to the platform's send API.

    ``body`` is the JSON the channel's ``send`` posts (it is stored in the durable outbox, so it must be
    JSON-serialisable). ``kind`` is ``"message"`` for what the user sees and ``"action"`` for typing
    indicators and read marks; ``best_effort`` payloads are tried once and never hold up the conversation.
    ``fallback`` is sent instead when the platform says its messaging window has closed (a WhatsApp
    template). ``summary`` is a short text for transcripts and logs (never a secret).
    """

    body: dict[str, Any]
    kind: OutboundKind = "message"
    best_effort: bool = False
    fallback: dict[str, Any] | None = None
    summary: str = ""


@dataclass(slots=True)
class RenderContext:
    """What ``render`` may know about the conversation. No I/O hangs off it.

    ``reply_to``: the platform id of the inbound message being answered (None for proactive sends).
    ``last_inbound_at``: epoch seconds of the user's last message, for 24-hour/48-hour window rules.
    ``options``: send-call options (tag, template fallback) that apply to every message without their own.
    ``gettext``: translates the gateway's own texts into the conversation's locale.
    ``notes``: what rendering had to degrade or truncate; the pipeline logs them with the conversation.
    """

    user_id: str
    locale: str
    now: float
    reply_to: str | None = None
    last_inbound_at: float | None = None
    options: MessageOptions | None = None
    gettext: Callable[[str], str] = str
    notes: list[str] = field(default_factory=list)

    @property
    def proactive(self) -> bool:
        return self.reply_to is None

    def note(self, text: str) -> None:
        self.notes.append(text)

    def option(self, message: UniversalMessage, name: str) -> Any:
        """A message's own option, else the send call's, else None."""
        for source in (message.options, self.options):
            value = getattr(source, name, None) if source is not None else None
            if value not in (None, False):
                return value
        return None

    def within(self, window_seconds: float) -> bool:
        return self.last_inbound_at is not None and self.now - self.last_inbound_at <= window_seconds


@dataclass(frozen=True, slots=True)
class SendResult:
    platform_message_id: str | None = None


class SendRefused(Exception):
    """Raised by ``render`` for a send the gateway knows the platform would refuse (a closed window
    without a tag or template). The message is marked failed with ``reason`` and never sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SendError(Exception):
    """A failed send. ``retryable`` tells the delivery worker whether to try again, ``retry_after`` (seconds)
    is the platform's hint. ``code`` is the platform's error code, kept for the transcript."""

    retryable: ClassVar[bool] = False

    def __init__(
        self, reason: str, *, code: str | int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.retry_after = retry_after


class Throttled(SendError):
    """Rate limited (HTTP 429, Graph codes 4/17/32/613/80007/130429/131056, WeChat 45009)."""

    retryable = True


class Unavailable(SendError):
    """The platform is failing (5xx) or unreachable: try again later."""

    retryable = True


class Offline(Unavailable):
    """The user is not connected (web chat): wait for them without using up tries."""


class InvalidCredentials(SendError):
    """The platform rejected our token. The integration turns red; the message waits for a fix."""

    retryable = True


class WindowClosed(SendError):
    """The platform's customer-service window has closed (Messenger 10/2018278, WhatsApp 131047,
    WeChat 45015). The outbound's ``fallback`` is sent instead when there is one."""


class Rejected(SendError):
    """The platform refused the message itself (other 4xx): retrying cannot help."""


# --- what the gateway gives a channel --------------------------------------------------------------------


class KeyValue(Protocol):
    """Shared state in the store, e.g. a platform access token that every replica must use."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    def lock(self, key: str, ttl: float = 30.0) -> AbstractAsyncContextManager[None]:
        """Held by one process at a time across replicas (waits for it)."""
        ...


class ReplayCache(Protocol):
    """The (timestamp, nonce) pairs of an integration's recent webhooks, shared by every replica (a store
    table). For platforms whose signature covers a timestamp and a nonce but not the body (WeChat): it binds
    each signed pair to the first message that came with it."""

    async def first_seen(
        self, timestamp: int, nonce: str, fingerprint: str, *, now: float, until: float
    ) -> str | None:
        """Record the pair with ``fingerprint`` (a digest of what the request said) until ``until``,
        atomically across replicas. None when this call recorded it, else the fingerprint recorded first."""
        ...


HealthStatus = Literal["ok", "failing"]


@dataclass(slots=True)
class Health:
    """An integration's health, shown by ``/readyz``, ``channels list`` and the admin API."""

    status: HealthStatus = "ok"
    message: str = ""

    def ok(self) -> None:
        self.status, self.message = "ok", ""

    def fail(self, message: str) -> None:
        self.status, self.message = "failing", message


@dataclass(slots=True)
class ChannelContext:
    channel: str
    label: str
    locale: str
    public_url: str
    http: PlatformHTTP
    kv: KeyValue
    health: Health = field(default_factory=Health)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("channelgate.channels"))
    #: the store's replay cache for this integration (the gateway always gives one)
    replay: ReplayCache | None = None
    #: this replica's share of the fleet's limits (shares.py): the whole for a process alone
    share: Shares = WHOLE

    @property
    def callback_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/webhooks/{self.channel}/{self.label}"


class GatewayAPI(Protocol):
    """What the gateway offers channels that own extra routes (the web chat's page and WebSocket)."""

    public_url: str
    #: False while starting and shutting down: refuse new input
    accepting: bool

    def channel(self, channel: str, label: str) -> Channel[Any] | None:
        """The running instance of an integration, or None."""
        ...

    async def accept(self, channel: Channel[Any], events: list[InboundEvent]) -> object:
        """Dedup and durably accept events, exactly as the webhook route does; returns once persisted.
        Raises an exception with ``retry_after`` when the gateway is overloaded."""
        ...

    async def nudge(self, channel: Channel[Any], user_id: str) -> None:
        """Make this user's waiting outbound messages due now (e.g. a web chat user reconnected)."""
        ...


@dataclass(frozen=True, slots=True)
class Connection:
    """What ``channelgate channels connect`` did for setup step 3 (the platform's webhook set to the
    callback URL). ``connected``: the platform's API was told and answered that it worked; otherwise
    ``detail`` holds the exact steps for the platform's console, with the values to paste."""

    connected: bool
    detail: str


@dataclass(frozen=True, slots=True)
class UserProfile:
    name: str | None = None
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class MediaContent:
    content: bytes
    mime_type: str


# --- config and limits -----------------------------------------------------------------------------------


class ChannelConfig(BaseModel):
    """Base of each channel's ``Config``. Secrets are ``SecretStr`` fields: masked in logs, reprs, the CLI
    and the admin API. Unknown keys are an error, so a typo in the config file names itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Send calls per second for this integration; None: the channel's default (``ChannelLimits.send_rate``).
    rate_limit: float | None = Field(
        default=None, gt=0, description="Send calls per second (default: the channel's)."
    )

    #: The platform's own hosts for each setting naming where the gateway sends credentials
    #: (``api_base_url``). Through the admin API such a setting may only name these hosts and those of the
    #: server's ``admin_api.allowed_hosts``: an API key must not be able to send a token elsewhere.
    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: URL settings the gateway never calls with credentials (a public avatar): not endpoints.
    link_fields: ClassVar[frozenset[str]] = frozenset()
    #: Settings the admin API accepts only inline (a key's JSON), never as a path on the server.
    inline_only: ClassVar[frozenset[str]] = frozenset()

    def endpoints(self) -> dict[str, str]:
        """Where this integration sends its credentials, setting → URL. Every ``http(s)://`` setting that
        is not a declared link counts, so a channel that forgets to declare a new endpoint fails closed."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name not in self.link_fields and isinstance(value, str) and _is_url(value):
                out[name] = value
        return out

    def insecure_settings(self) -> dict[str, str]:
        """Settings that are on and turn a security check off, each with what that means. The admin API
        refuses them; ``/readyz`` and the integration's health show them."""
        return {}

    @classmethod
    def settings(cls) -> list[str]:
        """The settings in the order to show them: the channel's own first, then the common ones every
        channel takes (declared here, so pydantic lists them first)."""
        common = list(ChannelConfig.model_fields)
        return [name for name in cls.model_fields if name not in common] + common

    @classmethod
    def secret_fields(cls) -> list[str]:
        return [name for name, f in cls.model_fields.items() if f.annotation in (SecretStr, SecretStr | None)]

    @classmethod
    def required_fields(cls) -> list[str]:
        return [name for name, f in cls.model_fields.items() if f.is_required()]

    @classmethod
    def asked_fields(cls, values: Mapping[str, Any]) -> list[str]:
        """The settings ``channels add`` asks for, given those passed already: the required ones, and any
        that other choices make necessary (WeChat's key, unless it runs in plaintext mode)."""
        return cls.required_fields()


#: Secret settings the gateway makes up when ``channels add`` or the admin API is not given them: the
#: operator then hands them to the platform (Meta's ``verify_token``, Telegram's ``secret_token``).
GENERATED_SECRETS = frozenset({"verify_token", "secret_token"})


def normalise_base_url(value: str) -> str:
    """An API base URL without its trailing slash; https (or http, for a local simulator) only."""
    value = value.strip().rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise ValueError("api_base_url must start with https:// (or http:// for a local simulator)")
    return value


#: The type of an ``api_base_url`` setting: where the channel calls its platform (see ``endpoints``).
BaseUrl = Annotated[str, AfterValidator(normalise_base_url)]


#: hosts where plain HTTP does not leave the machine (a local simulator or Bot API server)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _is_url(value: str) -> bool:
    return value.strip().lower().startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    """What the platform accepts; renderers truncate or degrade to fit and note what they changed.

    ``send_rate`` is the default ceiling of send calls per second per integration (configurable per
    integration as ``rate_limit``); ``send_concurrency`` bounds calls in flight per integration.
    """

    text_max: int = 4096  # in the unit the platform counts (WeChat: UTF-8 bytes)
    quick_replies_max: int = 13
    buttons_max: int = 3
    send_rate: float = 80.0
    send_concurrency: int = 32


ConfigT = TypeVar("ConfigT", bound=ChannelConfig)


class Channel(abc.ABC, Generic[ConfigT]):
    """A messaging platform. Subclasses set the class attributes and implement the abstract methods."""

    name: ClassVar[str]
    title: ClassVar[str]
    Config: ClassVar[type[ChannelConfig]]
    limits: ClassVar[ChannelLimits] = ChannelLimits()
    #: config fields the user pastes into the platform's webhook settings, shown next to the callback URL
    setup_fields: ClassVar[tuple[str, ...]] = ()
    #: seconds the HTTP answer may wait for the bot's reply (WeChat passive replies); None: never waits
    passive_reply_budget: float | None = None

    def __init__(self, config: ConfigT, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx

    @property
    def send_rate(self) -> float:
        """Send calls per second for this integration: its ``rate_limit``, else the platform's default."""
        return self.config.rate_limit or self.limits.send_rate

    @classmethod
    def check_config(cls, config: ConfigT) -> list[str]:
        """Warnings to log at every start (e.g. signature checks disabled). Raise ValueError to refuse.
        The default warns about endpoints on plain HTTP off this machine: the credentials sent there
        would cross the network unencrypted (an override should keep these: ``super().check_config``)."""
        secrets = ", ".join(config.secret_fields()) or "its credentials"
        return [
            f"{cls.name}: {name} {url} is plain HTTP: what authenticates each call ({secrets}) crosses the "
            "network unencrypted"
            for name, url in config.endpoints().items()
            if url.lower().startswith("http://") and (urlsplit(url).hostname or "") not in LOOPBACK_HOSTS
        ]

    @classmethod
    def routes(cls, gateway: GatewayAPI) -> list[Any]:
        """Extra Starlette routes this channel serves beside its webhook (the web chat's page and socket).
        Called once per channel class; the routes find integrations through ``gateway.channel``."""
        return []

    async def start(self) -> None:
        """Called once when the gateway starts serving this integration."""

    async def stop(self) -> None:
        """Called once at shutdown."""

    # --- inbound: runs on the webhook's hot path, no I/O ---

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        """Answer the platform's verification request, or return None if this is not one."""
        return None

    @abc.abstractmethod
    def authenticate(self, request: WebhookRequest) -> Verified:
        """What the request proved, or raise Unauthorized (missing credentials) or Forbidden (wrong ones).
        Runs before parsing, over the raw bytes."""

    async def check_replay(self, request: WebhookRequest, verified: Verified) -> None:
        """Raise Forbidden for a replayed request. Runs after ``authenticate`` and before ``parse``; unlike
        them it may use the store (``ctx.replay``), which is why it is a separate, async step."""

    @abc.abstractmethod
    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        """The events in an authenticated request, in order. Raise BadRequest when it is malformed.
        An authentic event is never dropped silently: it becomes an input (an ``event`` input with all its
        fields when there is no better one) or is skipped with a logged reason (``channels.inbound``)."""

    def ack(self, request: WebhookRequest, events: list[InboundEvent]) -> WebhookResponse:
        """The answer once the events are durably accepted."""
        return WebhookResponse(200, b"ok")

    def passive_reply(
        self, request: WebhookRequest, outbounds: list[Outbound]
    ) -> tuple[WebhookResponse, int]:
        """Answer the webhook with the first of the reply's payloads (WeChat). Returns the HTTP answer and
        how many payloads it carried; the rest are sent through ``send``."""
        return self.ack(request, []), 0

    def holds_connection(self, user_id: str) -> bool:
        """Whether ``user_id`` has a live connection to this process (the web chat's sockets), so that a
        peer replica's send that found them away is handed here (connection_routes.py). Platforms that
        take sends through their API hold none."""
        return False

    # --- outbound ---

    @abc.abstractmethod
    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        """Platform payloads for a bot's messages, in order. Pure. May raise SendRefused."""

    @abc.abstractmethod
    async def send(self, outbound: Outbound) -> SendResult:
        """Send one payload. Raise a SendError subclass on failure."""

    async def connect(self) -> Connection:
        """Setup step 3 done for you: point the platform's webhook at ``ctx.callback_url`` through its API
        and check that it took. Platforms without such an API keep this default, the console steps."""
        return Connection(False, self.setup_steps())

    def setup_steps(self) -> str:
        """The clicks that set the webhook by hand, with the values to paste (override with the
        platform's own menu names)."""
        lines = [f"In {self.title}'s webhook settings, set the callback URL to {self.ctx.callback_url}"]
        for name in self.setup_fields:
            value = getattr(self.config, name, None)
            if value is not None:
                shown = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
                lines.append(f"and {name} to {shown}")
        return "\n".join(lines)

    async def user_profile(self, user_id: str) -> UserProfile | None:
        """The user's name and locale, when the platform offers them. Cached by the gateway."""
        return None

    async def download_media(self, media_id: str) -> MediaContent:
        """Fetch media the user sent, with the channel's credentials (which never reach the bot)."""
        raise NotImplementedError(f"{self.name} does not serve media by id")
