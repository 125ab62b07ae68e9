"""Every error of the API is ``{"error": reason}`` with a 4xx status that says whose move it is.

400: the request is malformed (the reason names the field). 401: no key or an unknown one. 403: a revoked
key, or a read-only key on a write. 404: no such thing. 409: a conflict with the current state (an
idempotency key reused with another body, a config-file integration). 413: the body is too large.
422: a well-formed send the channel's rules refuse (a closed messaging window). 502/503: a platform or the
store is unavailable, try again later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

log = logging.getLogger("channelgate.api")


class ErrorBody(BaseModel):
    """What every error answers."""

    error: str


class ApiError(Exception):
    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})


def error_response(status: int, reason: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=dict(headers or {}))


def describe_validation(errors: list[Any]) -> str:
    """The first few validation errors as one line: ``body.messages.0.text: String should have ...``."""
    parts = []
    for err in errors[:5]:
        if err.get("type") == "json_invalid":
            parts.append("the body is not valid JSON")
            continue
        where = ".".join(str(p) for p in err.get("loc", ())) or "request"
        parts.append(f"{where}: {err.get('msg', 'is not valid')}")
    more = len(errors) - 5
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts) or "the request is not valid"


def check_json(value: Any, where: str = "body") -> None:
    """Refuse what the store cannot keep as JSON (integers beyond 64 bits), before it is half-stored."""
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise ApiError(400, f"{where}: {exc} (numbers must fit in 64 bits)") from None


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.reason, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    reason = str(exc.detail) if exc.detail else "error"
    return error_response(exc.status_code, reason, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, describe_validation(list(exc.errors())))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
