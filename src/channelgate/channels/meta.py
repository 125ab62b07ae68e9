"""What Messenger and WhatsApp share, because Meta built both on the same webhook and Graph API machinery.

* The ``hub.*`` verification handshake: Meta sends
  ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`` when the webhook is configured, and expects
  the bare challenge back (``200 text/plain``) or a ``403``.
* ``X-Hub-Signature-256``: ``sha256=`` + hex HMAC-SHA256 of the **raw** body with the app secret. It is
  checked before anything is parsed, in constant time; a missing header is ``401``, a wrong one ``403``. An
  integration without an app secret only starts when its config says ``insecure_no_signature: true`` (for
  local trials), and that is warned about at every start.
* Graph API errors, classified into the typed :class:`SendError` subclasses the delivery worker acts on:
  throttling (codes 4, 17, 32, 613, 80007, 130429, 131056 and HTTP 429) is retried after the platform's hint,
  a closed 24-hour window (Messenger 10/2018278, WhatsApp 131047) fails visibly (or falls back to a template),
  an invalid token (190) turns the integration's health red, other 4xx fail for good, 5xx and network
  errors are retried.

Tokens are sent in the ``Authorization: Bearer`` header, never in the URL, so that they cannot leak through
access logs or httpx's request logging; error reasons are scrubbed of them as a second line of defence.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol, TypeVar, cast

import httpx
import orjson
from pydantic import SecretStr

from channelgate.channels.base import (
    BadRequest,
    Channel,
    ChannelConfig,
    ChannelContext,
    Forbidden,
    InvalidCredentials,
    Rejected,
    SendError,
    Throttled,
    Unauthorized,
    Unavailable,
    Verified,
    WebhookRequest,
    WebhookResponse,
    WindowClosed,
)
from channelgate.channels.rendering import split_text

DEFAULT_API_BASE_URL = "https://graph.facebook.com/v25.0"

SIGNATURE_HEADER = "X-Hub-Signature-256"

#: Graph error codes that mean "too many calls, slow down" (Graph, Messenger and WhatsApp throughput limits).
THROTTLING_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131056})
#: Graph codes documented as a temporary outage ("wait and retry"), whatever the HTTP status says.
TRANSIENT_CODES = frozenset({2, 131016})
INVALID_TOKEN_CODE = 190
MESSENGER_WINDOW_CODE, MESSENGER_WINDOW_SUBCODE = 10, 2018278
WHATSAPP_WINDOW_CODE = 131047

#: Seconds in a customer-service window (both platforms) and Messenger's HUMAN_AGENT tag window.
DAY = 24 * 3600.0

_GRAPH_PREFIX = re.compile(r"^\(#\d+\)\s*")


class MetaSettings(Protocol):
    """The config fields every Meta channel has (see each channel's ``Config``)."""

    @property
    def verify_token(self) -> SecretStr: ...

    @property
    def app_secret(self) -> SecretStr | None: ...

    @property
    def insecure_no_signature(self) -> bool: ...

    @property
    def api_base_url(self) -> str: ...


# --- configuration -----------------------------------------------------------------------------------------


def check_meta_config(config: MetaSettings, title: str) -> list[str]:
    """Refuse an integration that cannot authenticate its webhooks, unless explicitly told to run insecure.

    Fails closed: without ``app_secret`` anybody who knows the callback URL could post fake user messages.
    """
    if config.app_secret is None or not config.app_secret.get_secret_value():
        if not config.insecure_no_signature:
            raise ValueError(
                f"{title}: app_secret is required to verify X-Hub-Signature-256 on every webhook "
                "(App Dashboard → App settings → Basic → App secret); set insecure_no_signature: true "
                "only for local trials"
            )
        return [
            f"{title}: webhook signatures are NOT checked (insecure_no_signature: true and no app_secret); "
            "anyone who knows the callback URL can post messages as any user"
        ]
    return []


#: Where Graph API calls may go when the admin API sets ``api_base_url`` (see ChannelConfig.endpoint_hosts).
GRAPH_HOSTS = ("graph.facebook.com",)


def meta_insecure_settings(config: MetaSettings) -> dict[str, str]:
    """``insecure_no_signature`` when on, for the admin API's refusal and the health shown in /readyz."""
    if not config.insecure_no_signature:
        return {}
    return {
        "insecure_no_signature": "webhook signatures are not required: without app_secret anyone who knows "
        "the callback URL can post messages as any user"
    }


def normalise_base_url(value: str) -> str:
    """``api_base_url`` without a trailing slash, and only over HTTP(S)."""
    value = value.strip().rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise ValueError("api_base_url must start with https:// (or http:// for a local simulator)")
    return value


# --- inbound: handshake and signature -----------------------------------------------------------------------


def handshake(request: WebhookRequest, verify_token: SecretStr) -> WebhookResponse | None:
    """Meta's webhook verification: every GET is one, answered with the challenge or 403."""
    if request.method.upper() != "GET":
        return None
    mode = request.query.get("hub.mode", "")
    token = request.query.get("hub.verify_token", "")
    challenge = request.query.get("hub.challenge")
    expected = verify_token.get_secret_value()
    token_ok = hmac.compare_digest(token.encode(), expected.encode())
    if mode == "subscribe" and token_ok and challenge is not None and expected:
        return WebhookResponse(200, challenge, media_type="text/plain")
    return WebhookResponse(403, "verification failed: hub.mode or hub.verify_token do not match")


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(request: WebhookRequest, config: MetaSettings) -> None:
    """Raise Unauthorized (no signature) or Forbidden (wrong one), computed over the raw body.

    With an app secret the check always runs, even when ``insecure_no_signature`` is also set: the flag only
    allows running *without* a secret.
    """
    secret = config.app_secret.get_secret_value() if config.app_secret is not None else ""
    if not secret:
        if config.insecure_no_signature:
            return
        raise Forbidden("no app_secret is configured, so webhook signatures cannot be checked")
    header = request.header(SIGNATURE_HEADER)
    if not header:
        raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
    expected = sign(request.body, secret)
    if not hmac.compare_digest(header.strip().lower().encode(), expected.encode()):
        raise Forbidden(f"{SIGNATURE_HEADER} does not match the body")


# --- outbound: Graph API errors -----------------------------------------------------------------------------


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced, so a reason can be logged and stored."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    return text


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The platform's hint, in seconds: ``Retry-After`` (seconds or HTTP date), else the
    ``estimated_time_to_regain_access`` (minutes) of ``X-Business-Use-Case-Usage``."""
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = parsedate_to_datetime(value).timestamp()
            except (TypeError, ValueError):
                seconds = math.nan
            else:
                seconds = when - (time.time() if now is None else now)
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    return _business_use_case_wait(headers.get("x-business-use-case-usage"))


def _business_use_case_wait(value: str | None) -> float | None:
    if not value:
        return None
    try:
        usage = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    minutes = 0.0
    if isinstance(usage, dict):
        for entries in usage.values():
            for entry in entries if isinstance(entries, list) else []:
                wait = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
                if isinstance(wait, int | float) and wait > minutes:
                    minutes = float(wait)
    return minutes * 60 if minutes > 0 else None


@dataclass(frozen=True, slots=True)
class GraphError:
    """The parts of a Graph ``{"error": {...}}`` body the classification needs."""

    status: int
    code: int | None
    subcode: int | None
    message: str
    details: str | None

    @classmethod
    def from_response(cls, response: httpx.Response) -> GraphError:
        error: dict[str, Any] = {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, dict) else None
        return cls(
            status=response.status_code,
            code=_int(error.get("code")),
            subcode=_int(error.get("error_subcode")),
            message=_GRAPH_PREFIX.sub("", str(error.get("message") or "")).strip(),
            details=str(details) if details else None,
        )

    def reason(self) -> str:
        if self.code is None:
            text = f"Graph API answered HTTP {self.status}"
            return f"{text}: {self.message}" if self.message else text
        text = f"Graph API error {self.code}"
        if self.subcode:
            text += f"/{self.subcode}"
        text += f": {self.message or 'no message'}"
        if self.details and self.details != self.message:
            text += f" ({self.details})"
        return text


def obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: webhook payloads are read defensively."""
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def classify(response: httpx.Response, secrets: Iterable[str] = ()) -> SendError:
    """The typed SendError for a failed Graph API answer."""
    error = GraphError.from_response(response)
    reason = scrub(error.reason(), secrets)
    code: int | str | None = error.code if error.code is not None else response.status_code
    hint = retry_after(response.headers)
    if response.status_code == 429 or error.code in THROTTLING_CODES:
        return Throttled(reason, code=code, retry_after=hint)
    if (error.code, error.subcode) == (MESSENGER_WINDOW_CODE, MESSENGER_WINDOW_SUBCODE) or (
        error.code == WHATSAPP_WINDOW_CODE
    ):
        return WindowClosed(reason, code=code)
    if error.code == INVALID_TOKEN_CODE or (response.status_code == 401 and error.code is None):
        return InvalidCredentials(reason, code=code)
    if error.code in TRANSIENT_CODES or response.status_code >= 500:
        return Unavailable(reason, code=code, retry_after=hint)
    if 400 <= response.status_code < 500:
        return Rejected(reason, code=code)
    return Unavailable(reason, code=code, retry_after=hint)


# --- the Graph API client a channel uses --------------------------------------------------------------------


@dataclass(slots=True)
class GraphAPI:
    """Calls to the Graph API with one access token, through the gateway's pooled httpx client.

    ``token_field`` names the config field holding the token, so that the health message tells the operator
    exactly what to replace.
    """

    ctx: ChannelContext
    base_url: str
    token: SecretStr
    product: str
    token_field: str

    @property
    def _secrets(self) -> list[str]:
        return [self.token.get_secret_value()]

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}

    async def request(
        self, method: str, url: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """One call; a successful answer marks the integration healthy, a failure raises a SendError."""
        try:
            response = await self.ctx.http.request(
                method, url, json=json, params=params, headers=self._headers()
            )
        except httpx.HTTPError as exc:
            detail = scrub(str(exc) or type(exc).__name__, self._secrets)
            raise Unavailable(f"{self.product} API unreachable: {type(exc).__name__}: {detail}") from None
        if response.is_success:
            if self.ctx.health.status != "ok":
                self.ctx.health.ok()
            return response
        error = classify(response, self._secrets)
        if isinstance(error, InvalidCredentials):
            self.ctx.health.fail(
                f"{self.product} rejected the access token ({error.reason}). Generate a new token and "
                f"update the integration's {self.token_field}."
            )
        raise error

    async def call(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Any:
        """``request`` on ``{api_base_url}{path}``, answering the JSON body (or None when it is not JSON)."""
        response = await self.request(method, f"{self.base_url}{path}", json=json, params=params)
        try:
            return response.json()
        except ValueError:
            return None


# --- rendering helpers both channels use --------------------------------------------------------------------


def split_tail(text: str, tail_limit: int, part_limit: int) -> tuple[list[str], str]:
    """Split ``text`` so that its last part fits ``tail_limit`` (a template or interactive body) and the parts
    before it fit ``part_limit`` (plain text messages), cutting at paragraph, sentence or word boundaries."""
    parts = split_text(text, tail_limit)
    tail = parts[-1]
    if len(parts) == 1:
        return [], tail
    head = text[: text.rfind(tail)].rstrip()
    return split_text(head, part_limit) if head else [], tail


def maps_link(latitude: float, longitude: float) -> str:
    """A map link any phone opens (Google's documented cross-platform Maps URL)."""
    return f"https://www.google.com/maps/search/?api=1&query={latitude},{longitude}"


MetaConfigT = TypeVar("MetaConfigT", bound=ChannelConfig)


class MetaChannel(Channel[MetaConfigT]):
    """What Messenger and WhatsApp share inbound: the hub handshake, the signature over the raw body and the
    webhook envelope. Their Config models provide the MetaSettings fields."""

    #: the payload's ``object`` for this product (``page``, ``whatsapp_business_account``)
    webhook_object: ClassVar[str]

    @classmethod
    def check_config(cls, config: MetaConfigT) -> list[str]:
        return check_meta_config(cast(MetaSettings, config), cls.title)

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        return handshake(request, cast(MetaSettings, self.config).verify_token)

    def authenticate(self, request: WebhookRequest) -> Verified:
        check_signature(request, cast(MetaSettings, self.config))
        return Verified(request.body)

    def webhook_entries(self, request: WebhookRequest) -> list[Any]:
        """The payload's entries. Another product's webhook on the same app (e.g. Instagram) gives none:
        it is acknowledged and ignored, so Meta does not retry it for days."""
        data = request.json()
        if not isinstance(data, dict):
            raise BadRequest("expected a JSON object")
        if data.get("object") != self.webhook_object:
            self.ctx.log.info(
                "%s %s: ignored a webhook for object %r", self.name, self.ctx.label, data.get("object")
            )
            return []
        entries = data.get("entry")
        if not isinstance(entries, list):
            raise BadRequest("'entry' must be a list")
        return entries
