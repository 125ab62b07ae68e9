"""Google's API errors as data, and the one reader of Google's wait hints.

Google answers errors in one shape, ``{"error": {"code", "message", "status", "details"}}``, where
``status`` is a canonical code name. :data:`GOOGLE_ERRORS` says as data which name means which
:class:`SendError` kind (names Google does not document here fall back on the HTTP status, as Google maps
them: 429 throttled, 401/403 refused credentials, other 4xx rejected, 5xx unavailable). :func:`retry_after`
is the one place a Google wait hint is read: the ``Retry-After`` header (through the toolkit's parser), else
a ``google.rpc.RetryInfo`` detail's ``retryDelay``.
"""

from __future__ import annotations

from typing import Any

from channelgate.channels.base import (
    InvalidCredentials,
    Rejected,
    SendError,
    Throttled,
    Unavailable,
)
from channelgate.channels.google.fields import as_dict
from channelgate.channels.http import Response
from channelgate.channels.platform_api import Check, ErrorTable, json_or_none, parse_retry_after

#: Google's canonical error names (google.rpc.Code), each with the kind its documented HTTP status means.
GOOGLE_ERRORS = ErrorTable(
    {
        Throttled: {"RESOURCE_EXHAUSTED"},
        InvalidCredentials: {"UNAUTHENTICATED", "PERMISSION_DENIED"},
        Unavailable: {"UNAVAILABLE", "INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED"},
        Rejected: {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "ABORTED", "OUT_OF_RANGE"},
    },
    credential_statuses=frozenset({401, 403}),
)


def google_error(body: Any) -> dict[str, Any]:
    """The ``error`` object of a Google error answer, or an empty one."""
    return as_dict(as_dict(body).get("error"))


def retry_after(response: Response, now: float | None = None) -> float | None:
    """The wait Google asks for: ``Retry-After`` (seconds or an HTTP date), else a ``google.rpc.RetryInfo``
    detail's ``retryDelay`` (``"30s"``)."""
    header = parse_retry_after(response.headers.get("retry-after"), now)
    if header is not None:
        return header
    for detail in google_error(json_or_none(response)).get("details") or []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(float(delay[:-1]), 0.0)
            except ValueError:
                continue
    return None


def error_status(response: Response) -> str:
    """Google's canonical status name (``INVALID_ARGUMENT``, ``ALREADY_EXISTS``...), or ``""``."""
    status = google_error(json_or_none(response)).get("status")
    return status if isinstance(status, str) else ""


def classify(response: Response, product: str) -> SendError:
    """The typed send error for a failed API answer (see :data:`GOOGLE_ERRORS`)."""
    error = google_error(json_or_none(response))
    name = error.get("status") if isinstance(error.get("status"), str) else ""
    message = str(error.get("message") or "").strip()[:300]
    reason = f"{product} API answered HTTP {response.status_code}"
    if name:
        reason += f" {name}"
    if message:
        reason += f": {message}"
    return GOOGLE_ERRORS.error(
        reason,
        codes=[name or None],
        status=response.status_code,
        code=name or response.status_code,
        retry_after=retry_after(response),
    )


def google_check(product: str) -> Check:
    """Success, or the typed error. ``409 ALREADY_EXISTS`` is success: the message id came from the durable
    outbox, so it is a retry of a message Google accepted before."""

    def check(response: Response) -> SendError | None:
        if response.is_success:
            return None
        if response.status_code == 409 and error_status(response) == "ALREADY_EXISTS":
            return None
        return classify(response, product)

    return check
