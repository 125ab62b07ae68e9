"""The console's sign-in and sign-out: a name and password (or an admin API key), a fresh session, and a
throttle on wrong guesses."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from channelgate.store import admin, operators
from channelgate.store.operators import Session
from channelgate.web.console.security import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    FormError,
    cookie_args,
    new_login_token,
    read_form,
    same,
)
from channelgate.web.console.texts import T
from channelgate.web.console.throttle import SignInThrottle

if TYPE_CHECKING:
    from channelgate.web.console.app import Console


log = logging.getLogger("channelgate.console")


class SignInPages:
    """The sign-in form, signing in (throttled) and signing out."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.throttle = SignInThrottle()

    async def login_page(self, request: Request) -> Response:
        if not await operators.has_operators(self.console.gateway.store):
            return self.console.off(request)
        if await self.console.session(request) is not None:
            return RedirectResponse(PREFIX, status_code=303)
        return self._login_form(request)

    def _login_form(
        self, request: Request, error: str | None = None, status: int = 200, name: str = ""
    ) -> Response:
        token = new_login_token()
        response = self.console.page(
            request, "login.html", None, status=status, login_token=token, error=error, username=name
        )
        response.set_cookie(LOGIN_COOKIE, token, **cookie_args(self.console.secure, 600))  # type: ignore[arg-type]
        return response

    async def login(self, request: Request) -> Response:
        if not await operators.has_operators(self.console.gateway.store):
            return self.console.off(request)
        try:
            form = await read_form(request)
        except FormError as exc:
            return self.console.error(request, None, exc.status, exc.reason)
        if not same(request.cookies.get(LOGIN_COOKIE), form.get(CSRF_FIELD)):
            return self._login_form(request, T("The sign-in form expired: try again."), 403)
        address = request.client.host if request.client else "?"
        if form.get("api_key"):
            return await self._login_with_key(request, form["api_key"].strip(), address)
        name = form.get("username", "").strip()[:64]
        wait = self.throttle.wait(name, address)
        if wait > 0:
            log.warning("console sign-in throttled for %r from %s", name, address)
            response = self._login_form(
                request, T("Too many wrong passwords: wait a few minutes."), 429, name
            )
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        operator = await operators.authenticate(self.console.gateway.store, name, form.get("password", ""))
        if operator is None:
            self.throttle.failed(name, address)
            log.info("console sign-in refused for %r from %s", name, address)
            return self._login_form(request, T("Wrong name or password."), 401, name)
        self.throttle.succeeded(name, address)
        return await self._signed_in(operator)

    async def _login_with_key(self, request: Request, secret: str, address: str) -> Response:
        """Sign-in with an admin API key: its scope is the role, and revoking it ends the session."""
        wait = self.throttle.wait("(api key)", address)
        if wait > 0:
            response = self._login_form(request, T("Too many wrong passwords: wait a few minutes."), 429)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        key = await admin.find_key(self.console.gateway.store, secret)
        if key is None or key.revoked:
            self.throttle.failed("(api key)", address)
            log.info("console sign-in with an unknown or revoked API key from %s", address)
            return self._login_form(request, T("Unknown or revoked API key."), 401)
        return await self._signed_in(operators.key_operator(key), key)

    async def _signed_in(self, operator: operators.Operator, key: admin.ApiKey | None = None) -> Response:
        token, session = await operators.open_session(self.console.gateway.store, operator, key=key)
        log.info("console: %s signed in (%s)", operator.name, operator.role)
        response = RedirectResponse(PREFIX, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            **cookie_args(self.console.secure, int(session.expires_at - time.time())),  # type: ignore[arg-type]
        )
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await operators.close_session(self.console.gateway.store, token)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response
