"""The console's integration pages: the list with health and today's counts, the add form generated from the
channel's Config model, the setup values with the platform's step 3, Send a test, edit and remove."""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from channelgate.api import integrations as api_integrations
from channelgate.api.errors import ApiError, describe_validation
from channelgate.api.models import (
    IntegrationCreate,
    IntegrationUpdate,
)
from channelgate.config import bot_locales
from channelgate.store import operators
from channelgate.store.operators import Session
from channelgate.web.console import forms, testsend
from channelgate.web.console.security import PREFIX
from channelgate.web.console.texts import T

if TYPE_CHECKING:
    from channelgate.web.console.app import Console

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

log = logging.getLogger("channelgate.console")


class IntegrationPages:
    """Integration pages over the admin API's integration operations."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def integrations(self, request: Request, session: Session) -> Response:
        listed = await api_integrations.list_integrations(self.console.gateway)
        midnight = datetime.datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        activity = await operators.inbound_activity(self.console.gateway.store, midnight)
        sent = await operators.outbound_counts(self.console.gateway.store, midnight)
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
        return self.console.page(request, "integrations.html", session, items=rows, channels=self._channels())

    def _channels(self) -> list[tuple[str, str]]:
        reg = self.console.gateway.registry
        return [(name, reg.channels[name].title) for name in reg.names()]

    def _locales(self, current: str | None = None) -> list[str]:
        declared = bot_locales(self.console.gateway.settings) or []
        locales = list(declared) or ["en-US"]
        if current and current not in locales:
            locales.insert(0, current)
        return locales

    async def new_integration(self, request: Request, session: Session) -> Response:
        channel = request.query_params.get("channel", "")
        cls = self.console.gateway.registry.get(channel) if channel else None
        if channel and cls is None:
            return self.console.error(request, session, 404, f"unknown channel {channel!r}")
        return self.console.page(
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
        form = self.console.form(request)
        channel = form.get("channel", "")
        cls = self.console.gateway.registry.get(channel)
        if cls is None:
            return self.console.error(request, session, 400, f"unknown channel {channel!r}")
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
                created = await api_integrations.create_integration(
                    body, self.console.api_request(), self.console.gateway
                )
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
        return self.console.page(
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
        item = await api_integrations.get_integration(channel, label, self.console.gateway)
        integration = self.console.gateway.integrations[(channel, label)]
        cls = self.console.gateway.registry.get(channel)
        setup = (
            api_integrations.setup_values(self.console.gateway, integration)
            if session.operator.can_write
            else {}
        )
        return self.console.page(
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

    async def test(self, request: Request, session: Session) -> Response:
        channel, label = request.path_params["channel"], request.path_params["label"]
        integration = self.console.gateway.integrations.get((channel, label))
        if integration is None:
            raise ApiError(404, f"no integration {channel}/{label}")
        if not testsend.supported(integration):
            raise ApiError(409, f"a test event cannot be made for {channel} yet")
        text = self.console.form(request).get("text", "").strip() or "Hello from the channelgate console"
        result = await testsend.send_test(self.console.gateway, self.console.hooks, integration, text[:1000])
        log.info(
            "console: %s sent a test to %s/%s (%d)", session.operator.name, channel, label, result.status
        )
        return await self.integration(request, session, test=result, test_text=text)

    async def update(self, request: Request, session: Session) -> Response:
        channel, label = request.path_params["channel"], request.path_params["label"]
        integration = self.console.gateway.integrations.get((channel, label))
        cls = self.console.gateway.registry.get(channel)
        if integration is None or cls is None:
            raise ApiError(404, f"no integration {channel}/{label}")
        form = self.console.form(request)
        config = forms.values_from_form(cls.Config, form, keep_secrets=True)
        errors = forms.field_errors(cls.Config, config)
        if errors:
            return await self.integration(request, session, status=400, errors=errors)
        try:
            body = IntegrationUpdate(locale=form.get("locale") or None, config=config)
            await api_integrations.update_integration(
                channel, label, body, self.console.api_request(), self.console.gateway
            )
        except ValidationError as exc:
            return await self.integration(
                request, session, status=400, problem=describe_validation(list(exc.errors()))
            )
        except ApiError as exc:
            return await self.integration(request, session, status=exc.status, problem=exc.reason)
        log.info("console: %s updated %s/%s", session.operator.name, channel, label)
        return RedirectResponse(f"{PREFIX}/integrations/{channel}/{label}", status_code=303)

    async def delete(self, request: Request, session: Session) -> Response:
        channel, label = request.path_params["channel"], request.path_params["label"]
        await api_integrations.delete_integration(
            channel, label, self.console.api_request(), self.console.gateway
        )
        log.info("console: %s removed %s/%s", session.operator.name, channel, label)
        return RedirectResponse(PREFIX, status_code=303)
