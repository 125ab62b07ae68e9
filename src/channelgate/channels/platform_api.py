"""The toolkit's platform HTTP client: one request helper, one ``Retry-After`` parser, error codes as data.

Every platform API a channel calls fails in the same few ways, and the delivery worker only needs to know
which (see the :class:`SendError` kinds in ``channels.base``): slow down (:class:`Throttled`), try later
(:class:`Unavailable`), fix the credentials (:class:`InvalidCredentials`), the window closed
(:class:`WindowClosed`), or never (:class:`Rejected`). What differs per platform is only *which* codes mean
which, so a channel declares that as data, an :class:`ErrorTable` (the shape of pywa's error classes, which
carry their codes), and lets :class:`PlatformAPI` do the rest: network errors become ``Unavailable``, the
answer is classified, the integration's health follows (red on refused credentials, green on the next
success), and secrets are scrubbed from every reason before it can reach a log or the transcript.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from channelgate.channels.base import (
    Health,
    InvalidCredentials,
    Rejected,
    SendError,
    Throttled,
    Unavailable,
)
from channelgate.channels.http import NetworkError, PlatformHTTP, Response
from channelgate.retry import parse_retry_after

__all__ = [
    "Check",
    "Code",
    "ErrorTable",
    "PlatformAPI",
    "http_check",
    "json_or_none",
    "parse_retry_after",
    "scrub",
]

#: a platform's error code: a number, a name (``"ratelimited"``), or Meta's (code, subcode) pair
Code = int | str | tuple[int, int]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced, so a reason can be logged and stored."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    return text


@dataclass(frozen=True, slots=True)
class ErrorTable:
    """A platform's error codes as data: which :class:`SendError` kind each code means.

    ``kinds`` maps each kind to its codes, as the platform documents them. A code the table does not know
    falls back on the HTTP status: 429 throttled, ``credential_statuses`` (401 by default) invalid
    credentials, other 4xx rejected, anything else unavailable (a platform that is failing, not refusing).
    """

    kinds: Mapping[type[SendError], Iterable[Code]] = field(default_factory=dict)
    credential_statuses: frozenset[int] = frozenset({401})
    _by_code: dict[Code, type[SendError]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code = {code: kind for kind, codes in self.kinds.items() for code in codes}
        object.__setattr__(self, "_by_code", by_code)

    def kind(self, *codes: Code | None) -> type[SendError] | None:
        """The kind of the first of ``codes`` the table knows (pass the most specific first)."""
        for code in codes:
            if code is not None and code in self._by_code:
                return self._by_code[code]
        return None

    def status_kind(self, status: int) -> type[SendError]:
        if status == 429:
            return Throttled
        if status in self.credential_statuses:
            return InvalidCredentials
        if 400 <= status < 500:
            return Rejected
        return Unavailable

    def error(
        self,
        reason: str,
        *,
        codes: Iterable[Code | None] = (),
        status: int | None = None,
        code: str | int | None = None,
        retry_after: float | None = None,
    ) -> SendError:
        """The typed error for a failed call. ``code`` is what the transcript shows (default: the first
        known of ``codes``, else the status); the hint is kept only for kinds that are retried."""
        codes = list(codes)
        kind = self.kind(*codes) or (self.status_kind(status) if status is not None else Rejected)
        if code is None:
            first = next((c for c in codes if c is not None), status)
            code = "/".join(map(str, first)) if isinstance(first, tuple) else first
        return kind(reason, code=code, retry_after=retry_after if kind.retryable else None)


#: classify one answer: None when it is a success, else the error to raise
Check = Callable[[Response], SendError | None]


def http_check(product: str, table: ErrorTable = ErrorTable()) -> Check:
    """A check for platforms that answer errors with HTTP statuses only."""

    def check(response: Response) -> SendError | None:
        if response.is_success:
            return None
        return table.error(
            f"{product} API answered HTTP {response.status_code}",
            status=response.status_code,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    return check


class PlatformAPI:
    """Calls to one platform's API through the gateway's pooled HTTP client, for one integration.

    ``secrets`` gives the values to scrub from every reason (tokens, keys); ``credentials_hint`` tells the
    operator what to fix when the platform refuses them (it becomes the integration's health message).
    """

    def __init__(
        self,
        http: PlatformHTTP,
        health: Health,
        *,
        product: str,
        secrets: Callable[[], Iterable[str]] = tuple,
        credentials_hint: str = "Check the integration's credentials.",
    ) -> None:
        self.http = http
        self.health = health
        self.product = product
        self.secrets = secrets
        self.credentials_hint = credentials_hint

    async def request(self, method: str, url: str, *, check: Check, **kwargs: Any) -> Response:
        """One call, answered or raised as a :class:`SendError` (``kwargs`` go to
        :meth:`PlatformHTTP.request`)."""
        try:
            response = await self.http.request(method, url, **kwargs)
        except NetworkError as exc:
            raise Unavailable(f"{self.product} API unreachable: {scrub(str(exc), self.secrets())}") from None
        error = check(response)
        if error is None:
            self.succeeded()
            return response
        error.reason = scrub(error.reason, self.secrets())
        error.args = (error.reason,)
        if isinstance(error, InvalidCredentials):
            self.refused(error)
        raise error

    def succeeded(self) -> None:
        if self.health.status != "ok":
            self.health.ok()

    def refused(self, error: SendError) -> None:
        """The platform refused our credentials: the integration turns red with what to do."""
        self.health.fail(f"{self.product} refused the credentials ({error.reason}). {self.credentials_hint}")


def json_or_none(response: Response) -> Any:
    """The JSON body of an answer, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None
