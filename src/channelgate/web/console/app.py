"""The console's plumbing and routes: :class:`Console` renders pages and guards them (sign-in, CSRF, roles);
the pages live in signin.py, integrations.py, conversations.py, agents.py, sending.py, overview.py and
deadletters.py.

Every operation is the admin API's own route function, called in-process with the same arguments the API
would give it (``api.integrations.create_integration`` and so on), so the console and the API can never
disagree about what an operation does; the console only turns forms into those arguments and the answers
(or the :class:`ApiError` with its reason) into pages.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from channelgate.api.errors import ApiError
from channelgate.gateway import Gateway
from channelgate.store import operators
from channelgate.store.operators import Session
from channelgate.web.console import testsend
from channelgate.web.console.agents import AgentPages
from channelgate.web.console.conversations import ConversationPages
from channelgate.web.console.deadletters import DeadLetterPages
from channelgate.web.console.integrations import IntegrationPages
from channelgate.web.console.overview import OverviewPages, Sampler
from channelgate.web.console.security import (
    CSRF_FIELD,
    PREFIX,
    SESSION_COOKIE,
    FormError,
    SecurityHeaders,
    check_csrf,
    read_form_lists,
)
from channelgate.web.console.sending import SendPages
from channelgate.web.console.signin import SignInPages
from channelgate.web.console.texts import T, environment, gettext_for, preferred, translations

log = logging.getLogger("channelgate.console")

STATIC = Path(__file__).parent / "static"

Handler = Callable[[Request], Awaitable[Response]]


class Console:
    """The console's state: the gateway, the admin API it calls, and the in-process webhook app."""

    def __init__(self, gateway: Gateway, api: FastAPI) -> None:
        self.gateway = gateway
        self.api = api
        self.hooks = testsend.webhook_app(gateway)
        self.secure = gateway.public_url.lower().startswith("https://")
        self.sampler = Sampler(gateway)

    # --- plumbing ---

    def api_request(self) -> Request:
        """A request as the API's route functions see one (they take the API app's state from it)."""
        return Request({"type": "http", "app": self.api, "method": "POST", "headers": [], "path": "/"})

    def page(
        self,
        request: Request,
        template: str,
        session: Session | None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        locale = preferred(request.headers.get("accept-language"))
        gettext = gettext_for(locale)
        _, lang = translations(locale)
        html = (
            environment()
            .get_template(template)
            .render(
                _=gettext,
                tr=gettext,
                lang=lang,
                session=session,
                csrf_field=CSRF_FIELD,
                prefix=PREFIX,
                when=_when,
                path=request.url.path,
                **context,
            )
        )
        return HTMLResponse(html, status_code=status)

    async def session(self, request: Request) -> Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        return await operators.find_session(self.gateway.store, token) if token else None

    def off(self, request: Request) -> HTMLResponse:
        return self.page(request, "off.html", None, status=404)

    def guard(
        self, handler: Callable[[Request, Session], Awaitable[Response]], *, write: bool = False
    ) -> Handler:
        """Wraps a page: the console must be on, the operator signed in (else to the sign-in page), and for
        a write a full operator (else 403) posting the session's CSRF token (else 403)."""

        async def run(request: Request) -> Response:
            if not await operators.has_operators(self.gateway.store):
                return self.off(request)
            session = await self.session(request)
            if session is None:
                if request.method == "POST":
                    return self.error(request, None, 403, T("Your session has ended: sign in again."))
                return RedirectResponse(f"{PREFIX}/login", status_code=303)
            if request.method == "POST":
                try:
                    form = await read_form_lists(request)
                    check_csrf(session, form)
                except FormError as exc:
                    return self.error(request, session, exc.status, exc.reason)
                if write and not session.operator.can_write:
                    return self.error(
                        request, session, 403, T("Your account is read-only: it cannot change anything.")
                    )
                request.state.form = form
            try:
                return await handler(request, session)
            except ApiError as exc:
                return self.error(request, session, exc.status if exc.status < 500 else 502, exc.reason)

        return run

    def error(self, request: Request, session: Session | None, status: int, reason: str) -> HTMLResponse:
        return self.page(request, "error.html", session, status=status, reason=reason)

    @staticmethod
    def form(request: Request) -> dict[str, str]:
        lists: dict[str, list[str]] = request.state.form
        return {k: v[0] for k, v in lists.items()}


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


class ConsoleMount(Mount):
    """Mounts the console so that ``/console`` itself is its home page (a plain Mount would redirect it to
    ``/console/`` first, and the contract is one 303 to the sign-in page). ``running()`` is the console's
    background work (the overview's sampler), for the app's lifespan to enter."""

    running: Callable[[], contextlib.AbstractAsyncContextManager[None]]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            root: str = scope.get("root_path", "")
            if path.startswith(root) and path[len(root) :] == self.path:
                match, child = super().matches({**scope, "path": path + "/"})
                return match, {**child, "path": path + "/"}
        return super().matches(scope)


def create_console(gateway: Gateway, api: FastAPI) -> ConsoleMount:
    """The console, mounted at ``/console`` by ``web/app.py``."""
    console = Console(gateway, api)
    signin = SignInPages(console)
    integrations = IntegrationPages(console)
    conversations = ConversationPages(console)
    dead = DeadLetterPages(console)
    agents = AgentPages(console, conversations)
    overview = OverviewPages(console)
    sending = SendPages(console)
    g = console.guard
    routes: list[BaseRoute] = [
        Route("/", g(integrations.integrations), methods=["GET"]),
        Route("/login", signin.login_page, methods=["GET"]),
        Route("/login", signin.login, methods=["POST"]),
        Route("/logout", g(signin.logout), methods=["POST"]),
        Route("/integrations/new", g(integrations.new_integration), methods=["GET"]),
        Route("/integrations/new", g(integrations.create_integration, write=True), methods=["POST"]),
        Route("/integrations/{channel}/{label}", g(integrations.integration), methods=["GET"]),
        Route("/integrations/{channel}/{label}/test", g(integrations.test, write=True), methods=["POST"]),
        Route("/integrations/{channel}/{label}/edit", g(integrations.update, write=True), methods=["POST"]),
        Route("/integrations/{channel}/{label}/delete", g(integrations.delete, write=True), methods=["POST"]),
        Route("/conversations", g(conversations.conversations), methods=["GET"]),
        Route("/conversations/{conversation_id}", g(conversations.conversation), methods=["GET"]),
        Route("/conversations/{conversation_id}/transcript", g(conversations.fragment), methods=["GET"]),
        Route("/conversations/{conversation_id}/send", g(conversations.send, write=True), methods=["POST"]),
        Route("/agent", g(agents.queue), methods=["GET"]),
        Route("/agent/{conversation_id}", g(agents.conversation), methods=["GET"]),
        Route("/agent/{conversation_id}/take", g(agents.take, write=True), methods=["POST"]),
        Route("/agent/{conversation_id}/reply", g(agents.reply, write=True), methods=["POST"]),
        Route("/agent/{conversation_id}/handback", g(agents.hand_back, write=True), methods=["POST"]),
        Route("/overview", g(overview.overview), methods=["GET"]),
        Route("/overview/charts", g(overview.charts), methods=["GET"]),
        Route("/send", g(sending.page), methods=["GET"]),
        Route("/send", g(sending.send_one, write=True), methods=["POST"]),
        Route("/broadcasts", g(sending.broadcast, write=True), methods=["POST"]),
        Route("/broadcasts/{broadcast_id}", g(sending.broadcast_page), methods=["GET"]),
        Route("/broadcasts/{broadcast_id}/progress", g(sending.broadcast_fragment), methods=["GET"]),
        Route("/broadcasts/{broadcast_id}/cancel", g(sending.cancel, write=True), methods=["POST"]),
        Route("/dead-letters", g(dead.dead_letters), methods=["GET"]),
        Route("/dead-letters", g(dead.act, write=True), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="console-static"),
    ]
    app = Starlette(routes=routes)
    app.state.gateway = gateway
    app.add_middleware(SecurityHeaders)
    mount = ConsoleMount(PREFIX, app=app)
    mount.running = console.sampler.running
    return mount
