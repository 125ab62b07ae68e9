"""The console's routes: sign-in, integrations, conversations, dead letters and sends.

Every operation is the admin API's own route function, called in-process with the same arguments the API
would give it (``api.integrations.create_integration`` and so on), so the console and the API can never
disagree about what an operation does; the console only turns forms into those arguments and the answers
(or the :class:`ApiError` with its reason) into pages.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from channelgate.api import conversations as api_conversations
from channelgate.api import integrations as api_integrations
from channelgate.api import messages as api_messages
from channelgate.api import operations as api_operations
from channelgate.api.errors import ApiError, describe_validation
from channelgate.api.models import (
    CHANNEL_PATTERN,
    LABEL_PATTERN,
    IntegrationCreate,
    IntegrationUpdate,
    SendRequest,
)
from channelgate.api.sending import render as render_send
from channelgate.api.sending import target_for
from channelgate.config import bot_locales
from channelgate.gateway import Gateway
from channelgate.messages import Text
from channelgate.store import admin, operators
from channelgate.store.operators import Session
from channelgate.web.console import forms, testsend
from channelgate.web.console.overview import Sampler
from channelgate.web.console.security import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    FormError,
    SecurityHeaders,
    check_csrf,
    cookie_args,
    new_login_token,
    read_form,
    read_form_lists,
    same,
)
from channelgate.web.console.sending import SendPages
from channelgate.web.console.texts import T, environment, gettext_for, preferred, translations
from channelgate.web.console.throttle import SignInThrottle

log = logging.getLogger("channelgate.console")

PREFIX = "/console"
STATIC = Path(__file__).parent / "static"
#: How often the transcript page asks for news (milliseconds); the page's script reads it.
POLL_MS = 2000

#: The platform's "step 3" (where the callback URL and verify token go), in words, per channel.
STEP3 = {
    "messenger": T(
        "In the Meta App Dashboard, open Messenger → Settings → Webhooks, choose “Add Callback URL”, paste "
        "the callback URL and the verify token below, then subscribe your Page to the messages, "
        "messaging_postbacks, message_deliveries and message_reads fields."
    ),
    "whatsapp": T(
        "In the Meta App Dashboard, open WhatsApp → Configuration → Webhook, choose “Edit”, paste the "
        "callback URL and the verify token below, then subscribe to the messages field."
    ),
    "wechat": T(
        "In the WeChat Official Account Platform, open Settings and Development → Basic Configuration → "
        "Server Configuration, paste the callback URL as the server URL and the token below, choose the "
        "message encryption mode you configured, then enable it."
    ),
    "gbm": T(
        "In the Business Communications Developer Console, open your partner's Partner settings, paste the "
        "callback URL as the webhook URL with the client token below, and verify it."
    ),
    "rbm": T(
        "In the Business Communications Developer Console, open your RBM agent's Integrations page, "
        "configure the webhook with the callback URL and the client token below."
    ),
    "webchat": T("Nothing to configure elsewhere: the web chat page is served by the gateway itself."),
}
GENERIC_STEP3 = T(
    "In the platform's developer settings, set the webhook (callback) URL to the URL below, with the values "
    "listed next to it."
)

#: Delivery states as the transcript shows them (the API's names), marked for translation.
STATUS_TEXTS = (T("queued"), T("sent"), T("delivered"), T("read"), T("failed"), T("pending"), T("cancelled"))
BROADCAST_TEXTS = (T("running"), T("completed"))

Handler = Callable[[Request], Awaitable[Response]]


class Console:
    """The console's state: the gateway, the admin API it calls, and the in-process webhook app."""

    def __init__(self, gateway: Gateway, api: FastAPI) -> None:
        self.gateway = gateway
        self.api = api
        self.hooks = testsend.webhook_app(gateway)
        self.secure = gateway.public_url.lower().startswith("https://")
        self.throttle = SignInThrottle()
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

    # --- sign-in ---

    async def login_page(self, request: Request) -> Response:
        if not await operators.has_operators(self.gateway.store):
            return self.off(request)
        if await self.session(request) is not None:
            return RedirectResponse(PREFIX, status_code=303)
        return self._login_form(request)

    def _login_form(
        self, request: Request, error: str | None = None, status: int = 200, name: str = ""
    ) -> Response:
        token = new_login_token()
        response = self.page(
            request, "login.html", None, status=status, login_token=token, error=error, username=name
        )
        response.set_cookie(LOGIN_COOKIE, token, **cookie_args(self.secure, 600))  # type: ignore[arg-type]
        return response

    async def login(self, request: Request) -> Response:
        if not await operators.has_operators(self.gateway.store):
            return self.off(request)
        try:
            form = await read_form(request)
        except FormError as exc:
            return self.error(request, None, exc.status, exc.reason)
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
        operator = await operators.authenticate(self.gateway.store, name, form.get("password", ""))
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
        key = await admin.find_key(self.gateway.store, secret)
        if key is None or key.revoked:
            self.throttle.failed("(api key)", address)
            log.info("console sign-in with an unknown or revoked API key from %s", address)
            return self._login_form(request, T("Unknown or revoked API key."), 401)
        return await self._signed_in(operators.key_operator(key), key)

    async def _signed_in(self, operator: operators.Operator, key: admin.ApiKey | None = None) -> Response:
        token, session = await operators.open_session(self.gateway.store, operator, key=key)
        log.info("console: %s signed in (%s)", operator.name, operator.role)
        response = RedirectResponse(PREFIX, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            **cookie_args(self.secure, int(session.expires_at - time.time())),  # type: ignore[arg-type]
        )
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await operators.close_session(self.gateway.store, token)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    # --- integrations ---

    async def integrations(self, request: Request, session: Session) -> Response:
        listed = await api_integrations.list_integrations(self.gateway)
        midnight = datetime.datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        activity = await operators.inbound_activity(self.gateway.store, midnight)
        sent = await operators.outbound_counts(self.gateway.store, midnight)
        rows = []
        for item in listed["items"]:
            key = (item["channel"], item["label"])
            found = activity.get(key)
            counts = sent.get(key, {})
            rows.append(
                {
                    **item,
                    "last_webhook": found.last_at if found else None,
                    "inbound_today": found.count if found else 0,
                    "sent_today": sum(n for s, n in counts.items() if s in ("sent", "delivered", "read")),
                    "failed_today": sum(n for s, n in counts.items() if s in ("failed", "dead")),
                }
            )
        return self.page(request, "integrations.html", session, items=rows, channels=self._channels())

    def _channels(self) -> list[tuple[str, str]]:
        reg = self.gateway.registry
        return [(name, reg.channels[name].title) for name in reg.names()]

    def _locales(self, current: str | None = None) -> list[str]:
        declared = bot_locales(self.gateway.settings) or []
        locales = list(declared) or ["en-US"]
        if current and current not in locales:
            locales.insert(0, current)
        return locales

    async def new_integration(self, request: Request, session: Session) -> Response:
        channel = request.query_params.get("channel", "")
        cls = self.gateway.registry.get(channel) if channel else None
        if channel and cls is None:
            return self.error(request, session, 404, f"unknown channel {channel!r}")
        return self.page(
            request,
            "integration_new.html",
            session,
            channel=channel,
            title=cls.title if cls else "",
            channels=self._channels(),
            fields=forms.fields(cls.Config) if cls else [],
            locales=self._locales(),
            values={},
            errors={},
            problem=None,
        )

    async def create_integration(self, request: Request, session: Session) -> Response:
        form = self.form(request)
        channel = form.get("channel", "")
        cls = self.gateway.registry.get(channel)
        if cls is None:
            return self.error(request, session, 400, f"unknown channel {channel!r}")
        config = forms.values_from_form(cls.Config, form)
        errors = forms.field_errors(cls.Config, config)
        problem = None
        if not errors:
            try:
                body = IntegrationCreate(
                    channel=channel,
                    label=form.get("label", "").strip(),
                    locale=form.get("locale", "") or "en-US",
                    auto_detect=form.get("auto_detect") == "on",
                    config=config,
                )
                created = await api_integrations.create_integration(body, self.api_request(), self.gateway)
            except ValidationError as exc:
                for err in exc.errors():
                    errors.setdefault(str(err["loc"][0]) if err["loc"] else "", err["msg"])
            except ApiError as exc:
                problem = exc.reason
            else:
                log.info("console: %s created %s/%s", session.operator.name, channel, created["label"])
                return RedirectResponse(
                    f"{PREFIX}/integrations/{channel}/{created['label']}?created=1", status_code=303
                )
        shown = {
            k: v
            for k, v in form.items()
            if not k.startswith("config.") or k[7:] not in cls.Config.secret_fields()
        }
        return self.page(
            request,
            "integration_new.html",
            session,
            status=400,
            channel=channel,
            title=cls.title,
            channels=self._channels(),
            fields=forms.fields(cls.Config),
            locales=self._locales(),
            values=shown,
            errors=errors,
            problem=problem,
        )

    async def integration(self, request: Request, session: Session, **extra: Any) -> Response:
        channel, label = request.path_params["channel"], request.path_params["label"]
        item = await api_integrations.get_integration(channel, label, self.gateway)
        integration = self.gateway.integrations[(channel, label)]
        cls = self.gateway.registry.get(channel)
        setup = api_integrations.setup_values(self.gateway, integration) if session.operator.can_write else {}
        return self.page(
            request,
            "integration.html",
            session,
            status=extra.pop("status", 200),
            item=item,
            setup=setup,
            step3=STEP3.get(channel, GENERIC_STEP3),
            can_test=testsend.supported(integration),
            fields=forms.fields(cls.Config) if cls else [],
            locales=self._locales(item["locale"]),
            created=request.query_params.get("created") == "1",
            test=extra.pop("test", None),
            preview=testsend.preview,
            errors=extra.pop("errors", {}),
            problem=extra.pop("problem", None),
            **extra,
        )

    async def test_integration(self, request: Request, session: Session) -> Response:
        channel, label = request.path_params["channel"], request.path_params["label"]
        integration = self.gateway.integrations.get((channel, label))
        if integration is None:
            raise ApiError(404, f"no integration {channel}/{label}")
        if not testsend.supported(integration):
            raise ApiError(409, f"a test event cannot be made for {channel} yet")
        text = self.form(request).get("text", "").strip() or "Hello from the channelgate console"
        result = await testsend.send_test(self.gateway, self.hooks, integration, text[:1000])
        log.info(
            "console: %s sent a test to %s/%s (%d)", session.operator.name, channel, label, result.status
        )
        return await self.integration(request, session, test=result, test_text=text)

    async def update_integration(self, request: Request, session: Session) -> Response:
        channel, label = request.path_params["channel"], request.path_params["label"]
        integration = self.gateway.integrations.get((channel, label))
        cls = self.gateway.registry.get(channel)
        if integration is None or cls is None:
            raise ApiError(404, f"no integration {channel}/{label}")
        form = self.form(request)
        config = forms.values_from_form(cls.Config, form, keep_secrets=True)
        errors = forms.field_errors(cls.Config, config)
        if errors:
            return await self.integration(request, session, status=400, errors=errors)
        try:
            body = IntegrationUpdate(locale=form.get("locale") or None, config=config)
            await api_integrations.update_integration(channel, label, body, self.api_request(), self.gateway)
        except ValidationError as exc:
            return await self.integration(
                request, session, status=400, problem=describe_validation(list(exc.errors()))
            )
        except ApiError as exc:
            return await self.integration(request, session, status=exc.status, problem=exc.reason)
        log.info("console: %s updated %s/%s", session.operator.name, channel, label)
        return RedirectResponse(f"{PREFIX}/integrations/{channel}/{label}", status_code=303)

    async def delete_integration(self, request: Request, session: Session) -> Response:
        channel, label = request.path_params["channel"], request.path_params["label"]
        await api_integrations.delete_integration(channel, label, self.api_request(), self.gateway)
        log.info("console: %s removed %s/%s", session.operator.name, channel, label)
        return RedirectResponse(PREFIX, status_code=303)

    # --- conversations ---

    async def conversations(self, request: Request, session: Session) -> Response:
        query = request.query_params
        channel = query.get("channel") or None
        label = query.get("label") or None
        if (
            label and not channel and "/" in label
        ):  # the filter's "channel/label", or "channel/" for all of one
            channel, label = label.split("/", 1)
            label = label or None
        text = (query.get("q") or "").strip() or None
        # the API's route functions are called directly, past FastAPI's query validation: check here
        for value, pattern, name in ((channel, CHANNEL_PATTERN, "channel"), (label, LABEL_PATTERN, "label")):
            if value is not None and not re.match(pattern, value):
                return self.error(request, session, 400, f"{name}: not a valid {name} name")
        if text is not None and len(text) > 255:
            return self.error(request, session, 400, "q: at most 255 characters")
        try:
            listed = await api_conversations.list_conversations(
                self.gateway,
                channel=channel,
                label=label,
                q=text,
                limit=50,
                cursor=query.get("cursor") or None,
            )
        except ApiError as exc:
            return self.error(request, session, exc.status, exc.reason)
        return self.page(
            request,
            "conversations.html",
            session,
            items=listed["items"],
            next_cursor=listed["next_cursor"],
            integrations=sorted(self.gateway.integrations),
            channel_names=sorted({name for name, _ in self.gateway.integrations}),
            filters={"channel": channel or "", "label": label or "", "q": text or ""},
        )

    async def _transcript(self, conversation_id: str) -> dict[str, Any]:
        """The whole transcript (newest 1000 entries at most) through the API's own pages."""
        detail = await api_conversations.get_conversation(
            conversation_id, self.gateway, limit=200, cursor=None
        )
        entries = list(detail["transcript"])
        cursor = detail["next_cursor"]
        while cursor and len(entries) < 1000:
            more = await api_conversations.get_conversation(
                conversation_id, self.gateway, limit=200, cursor=cursor
            )
            entries.extend(more["transcript"])
            cursor = more["next_cursor"]
        detail["transcript"] = entries
        return detail

    async def _window(self, detail: dict[str, Any]) -> str | None:
        """None when a free-form message may be sent now, else the channel's reason it may not."""
        try:
            target = await target_for(
                self.gateway, channel=None, label=None, user_id=None, conversation_id=detail["id"]
            )
            render_send(self.gateway, target, [Text(text="window probe")], {})
        except ApiError as exc:
            return exc.reason
        return None

    async def conversation(self, request: Request, session: Session, **extra: Any) -> Response:
        detail = await self._transcript(request.path_params["conversation_id"])
        return self.page(
            request,
            "conversation.html",
            session,
            status=extra.pop("status", 200),
            c=detail,
            window=await self._window(detail),
            poll_ms=POLL_MS,
            preview=testsend.preview,
            **extra,
        )

    async def transcript_fragment(self, request: Request, session: Session) -> Response:
        detail = await self._transcript(request.path_params["conversation_id"])
        return self.page(request, "_transcript.html", session, c=detail, preview=testsend.preview)

    async def send(self, request: Request, session: Session) -> Response:
        conversation_id = request.path_params["conversation_id"]
        form = self.form(request)
        text = form.get("text", "").strip()
        tag = form.get("tag", "").strip() or None
        problem = None
        try:
            body = SendRequest.model_validate(
                {
                    "conversation_id": conversation_id,
                    "messages": [{"type": "text", "text": text}],
                    "options": {"tag": tag},
                }
            )
            await api_messages.send_messages(body, self.gateway, idempotency_key=None)
        except ValidationError as exc:
            problem = describe_validation(list(exc.errors()))
        except ApiError as exc:
            problem = exc.reason
        if problem is not None:
            return await self.conversation(request, session, status=422, problem=problem, draft=text)
        log.info("console: %s sent a message to conversation %s", session.operator.name, conversation_id)
        return RedirectResponse(f"{PREFIX}/conversations/{conversation_id}", status_code=303)

    # --- overview ---

    async def overview(self, request: Request, session: Session) -> Response:
        if len(self.sampler.samples) < 2:  # the first look right after a start: a point to draw from
            await self.sampler.sample()
        return self.page(request, "overview.html", session, o=self.sampler.charts(), poll_ms=15000)

    async def overview_charts(self, request: Request, session: Session) -> Response:
        return self.page(request, "_overview.html", session, o=self.sampler.charts())

    # --- dead letters ---

    async def dead_letters(self, request: Request, session: Session, **extra: Any) -> Response:
        listed = await api_operations.list_dead_letters(
            self.gateway, channel=None, label=None, limit=200, cursor=None
        )
        return self.page(
            request,
            "dead_letters.html",
            session,
            status=extra.pop("status", 200),
            items=listed["items"],
            more=listed["next_cursor"] is not None,
            preview=testsend.preview,
            **extra,
        )

    async def dead_letters_action(self, request: Request, session: Session) -> Response:
        form: dict[str, list[str]] = request.state.form
        action = (form.get("action") or [""])[0]
        try:
            ids = sorted({int(v) for v in form.get("ids", [])})
        except ValueError:
            ids = [0]
        if any(not 1 <= i <= 2**62 for i in ids) or len(ids) > 1000:
            return self.error(request, session, 400, "ids must be message numbers (at most 1000)")
        if not ids:
            return await self.dead_letters(
                request, session, status=400, problem=T("Select at least one message.")
            )
        if action == "replay":
            done, problems = [], []
            for message_id in ids:  # oldest first, so each conversation's order is kept
                try:
                    await api_operations.replay_dead_letter(message_id, self.gateway)
                    done.append(message_id)
                except ApiError as exc:
                    problems.append(exc.reason)
            log.info("console: %s replayed dead letters %s", session.operator.name, done)
            return await self.dead_letters(
                request, session, replayed=done, problem="; ".join(problems) or None
            )
        if action == "discard":
            done = await operators.discard_dead(self.gateway.store, ids, session.operator.name)
            log.info("console: %s discarded dead letters %s", session.operator.name, done)
            return await self.dead_letters(request, session, discarded=done)
        return self.error(request, session, 400, "action is replay or discard")


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
    sending = SendPages(console)
    g = console.guard
    routes: list[BaseRoute] = [
        Route("/", g(console.integrations), methods=["GET"]),
        Route("/login", console.login_page, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", g(console.logout), methods=["POST"]),
        Route("/integrations/new", g(console.new_integration), methods=["GET"]),
        Route("/integrations/new", g(console.create_integration, write=True), methods=["POST"]),
        Route("/integrations/{channel}/{label}", g(console.integration), methods=["GET"]),
        Route(
            "/integrations/{channel}/{label}/test", g(console.test_integration, write=True), methods=["POST"]
        ),
        Route(
            "/integrations/{channel}/{label}/edit",
            g(console.update_integration, write=True),
            methods=["POST"],
        ),
        Route(
            "/integrations/{channel}/{label}/delete",
            g(console.delete_integration, write=True),
            methods=["POST"],
        ),
        Route("/conversations", g(console.conversations), methods=["GET"]),
        Route("/conversations/{conversation_id}", g(console.conversation), methods=["GET"]),
        Route("/conversations/{conversation_id}/transcript", g(console.transcript_fragment), methods=["GET"]),
        Route("/conversations/{conversation_id}/send", g(console.send, write=True), methods=["POST"]),
        Route("/overview", g(console.overview), methods=["GET"]),
        Route("/overview/charts", g(console.overview_charts), methods=["GET"]),
        Route("/send", g(sending.page), methods=["GET"]),
        Route("/send", g(sending.send_one, write=True), methods=["POST"]),
        Route("/broadcasts", g(sending.broadcast, write=True), methods=["POST"]),
        Route("/broadcasts/{broadcast_id}", g(sending.broadcast_page), methods=["GET"]),
        Route("/broadcasts/{broadcast_id}/progress", g(sending.broadcast_fragment), methods=["GET"]),
        Route("/broadcasts/{broadcast_id}/cancel", g(sending.cancel, write=True), methods=["POST"]),
        Route("/dead-letters", g(console.dead_letters), methods=["GET"]),
        Route("/dead-letters", g(console.dead_letters_action, write=True), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="console-static"),
    ]
    app = Starlette(routes=routes)
    app.state.gateway = gateway
    app.add_middleware(SecurityHeaders)
    mount = ConsoleMount(PREFIX, app=app)
    mount.running = console.sampler.running
    return mount
