"""The Graph API as both Meta channels call it: the toolkit's :class:`PlatformAPI` with Graph's error codes.

Graph answers a failure with ``{"error": {"code": …, "error_subcode": …, "message": …}}``; which
:class:`SendError` kind a code means is data (:data:`GRAPH_ERRORS`): throttling (codes 4, 17, 32, 613,
80007, 130429, 131056) is retried after the platform's hint, a closed 24-hour window (Messenger
10/2018278, WhatsApp 131047) fails visibly (or falls back to a template), an invalid token (190) turns the
integration's health red, Graph's "temporarily unavailable" codes (2, 131016) are retried. A code the table
does not know is classified by HTTP status (the toolkit's rule: 429 throttled, 401 invalid credentials,
other 4xx rejected, 5xx retried); HTTP 429 is throttling whatever code the body carries.

The hint is ``Retry-After`` (the toolkit's one parser), else the ``estimated_time_to_regain_access``
(minutes) Graph puts in ``X-Business-Use-Case-Usage``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import SecretStr

from channelgate.channels.base import (
    Health,
    InvalidCredentials,
    SendError,
    Throttled,
    Unavailable,
    WindowClosed,
)
from channelgate.channels.http import PlatformHTTP, Response
from channelgate.channels.platform_api import (
    Code,
    ErrorTable,
    PlatformAPI,
    json_or_none,
    parse_retry_after,
    scrub,
)

#: Graph error codes that mean "too many calls, slow down" (Graph, Messenger and WhatsApp throughput limits).
THROTTLING_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131056})
#: Graph codes documented as a temporary outage ("wait and retry"), whatever the HTTP status says.
TRANSIENT_CODES = frozenset({2, 131016})
INVALID_TOKEN_CODE = 190
MESSENGER_WINDOW = (10, 2018278)
WHATSAPP_WINDOW_CODE = 131047

#: Graph's error codes as the SendError kinds they mean (most specific first: a (code, subcode) pair).
GRAPH_ERRORS = ErrorTable(
    {
        Throttled: THROTTLING_CODES,
        WindowClosed: {MESSENGER_WINDOW, WHATSAPP_WINDOW_CODE},
        InvalidCredentials: {INVALID_TOKEN_CODE},
        Unavailable: TRANSIENT_CODES,
    }
)

_GRAPH_PREFIX = re.compile(r"^\(#\d+\)\s*")


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The platform's hint, in seconds: ``Retry-After`` (seconds or HTTP date), else the
    ``estimated_time_to_regain_access`` (minutes) of ``X-Business-Use-Case-Usage``."""
    seconds = parse_retry_after(headers.get("retry-after"), now)
    if seconds is not None:
        return seconds
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
    def from_response(cls, response: Response) -> GraphError:
        body = json_or_none(response)
        error: dict[str, Any] = {}
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

    @property
    def codes(self) -> list[Code | None]:
        """The codes to look up, most specific first."""
        pair = (self.code, self.subcode) if self.code is not None and self.subcode is not None else None
        return [pair, self.code]

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


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def classify(response: Response, secrets: Iterable[str] = (), table: ErrorTable = GRAPH_ERRORS) -> SendError:
    """The typed SendError for a failed Graph API answer (the transcript's code: Graph's, else the status).
    ``table`` is Graph's codes, or a product's extension of them (Instagram's)."""
    error = GraphError.from_response(response)
    return table.error(
        scrub(error.reason(), secrets),
        codes=[] if response.status_code == 429 else error.codes,  # 429 is throttling, whatever the code
        status=response.status_code,
        code=error.code if error.code is not None else response.status_code,
        retry_after=retry_after(response.headers),
    )


def graph_check(response: Response, table: ErrorTable = GRAPH_ERRORS) -> SendError | None:
    """The :class:`PlatformAPI` check for Graph: None on success, else the classified error."""
    return None if response.is_success else classify(response, table=table)


class GraphAPI:
    """Calls to the Graph API with one access token, through the gateway's pooled httpx client.

    ``config_field`` names the config field holding the token, so that the health message tells the operator
    exactly what to replace; ``errors`` is the product's error table (Graph's, or Instagram's extension).
    """

    def __init__(
        self,
        http: PlatformHTTP,
        health: Health,
        *,
        base_url: str,
        token: SecretStr,
        product: str,
        config_field: str,
        errors: ErrorTable = GRAPH_ERRORS,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.errors = errors
        self.api = PlatformAPI(
            http,
            health,
            product=product,
            secrets=lambda: [token.get_secret_value()],
            credentials_hint=f"Generate a new token and update the integration's {config_field}.",
        )

    async def request(
        self, method: str, url: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Response:
        """One call; a successful answer marks the integration healthy, a failure raises a SendError."""
        headers = {"Authorization": f"Bearer {self.token.get_secret_value()}"}
        return await self.api.request(
            method,
            url,
            check=lambda response: graph_check(response, self.errors),
            json=json,
            params=params,
            headers=headers,
        )

    async def call(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Any:
        """``request`` on ``{api_base_url}{path}``, answering the JSON body (or None when it is not JSON)."""
        return json_or_none(await self.request(method, f"{self.base_url}{path}", json=json, params=params))
