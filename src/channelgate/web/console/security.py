"""What keeps the console safe in a browser: security headers on every answer, the session cookie, CSRF
tokens and roles.

* Every answer carries a strict Content-Security-Policy (scripts and styles from the console's own static
  files only, no inline code, no framing, forms post only to us), ``nosniff``, no referrer, and
  ``no-store`` for pages (they show conversations).
* The session cookie is HttpOnly and SameSite=Strict, and Secure when the gateway's public URL is https.
* Every POST carries the session's CSRF token (the sign-in form, which has no session yet, a token that
  must match a short-lived cookie: the double-submit pattern), compared in constant time.
* A read-only operator gets 403 for every POST but signing out.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channelgate.store.operators import Session

#: Where web/app.py mounts the console; the cookies are limited to it.
PREFIX = "/console"
SESSION_COOKIE = "channelgate_console"
LOGIN_COOKIE = "channelgate_console_login"
CSRF_FIELD = "csrf"
#: Forms are small; anything bigger is not one of ours.
MAX_FORM_BYTES = 256 * 1024

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware: the headers above on every console answer; pages are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = "/static/" in scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"cache-control" or static]
                headers.extend(HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class FormError(Exception):
    """A POST that is not a form of ours: the status says why (413, 415, 403 for a bad CSRF token)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form (first value of each field; ``ids`` style repeats are read with
    :func:`read_form_lists`). Refuses other bodies and big ones."""
    return {k: v[0] for k, v in (await read_form_lists(request)).items()}


async def read_form_lists(request: Request) -> dict[str, list[str]]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormError(415, "the console takes application/x-www-form-urlencoded forms")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise FormError(413, f"form over {MAX_FORM_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError(413, f"form over {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise FormError(400, "the form is not UTF-8") from None
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def check_csrf(session: Session, form: dict[str, list[str]]) -> None:
    if not same(session.csrf, (form.get(CSRF_FIELD) or [""])[0]):
        raise FormError(403, "the form's CSRF token is missing or stale: reload the page and try again")


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def cookie_args(secure: bool, max_age: int | None) -> dict[str, object]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": secure,
        "path": PREFIX,
        "max_age": max_age,
    }
