"""The console's Send pages: a proactive message to one user, and broadcasts with progress and cancel.

Both go through the admin API's operations (``send_messages``, ``create_broadcast``, ``get_broadcast``,
``cancel_broadcast``), so the channel's window rules are applied before anything is queued and a refused
send comes back with the channel's reason.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from channelgate.api import broadcasts as api_broadcasts
from channelgate.api import messages as api_messages
from channelgate.api.errors import ApiError, describe_validation
from channelgate.api.models import BroadcastRequest, SendRequest
from channelgate.store.operators import Session
from channelgate.web.console.texts import T

if TYPE_CHECKING:
    from channelgate.web.console.app import Console

log = logging.getLogger("channelgate.console")

#: What each channel allows outside a conversation, said before the operator sends.
WINDOW_RULES = {
    "messenger": T(
        "Messenger: free-form messages within 24 hours of the user's last message; after that only with a "
        "message tag (e.g. HUMAN_AGENT within 7 days, or an account or purchase update)."
    ),
    "whatsapp": T(
        "WhatsApp: free-form messages within 24 hours of the user's last message; after that only an "
        "approved template."
    ),
    "wechat": T(
        "WeChat: customer-service messages within 48 hours of the user's last message; after that only a "
        "template message."
    ),
    "gbm": T("Business Messages: messages within 30 days of the user's last message."),
    "rbm": T("RCS: messages to any user who can receive RCS; no window."),
    "webchat": T("Web chat: messages reach the user while the chat page is open or when it is opened again."),
}
GENERIC_RULE = T("The channel's own window rules apply; a refused send says why.")
#: Broadcast states as the pages show them, marked for translation.
BROADCAST_TEXTS = (T("running"), T("completed"))
TAGS = ("HUMAN_AGENT", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE")


def message_from(form: dict[str, str]) -> dict[str, Any]:
    """A text message, or a template (name + language + one parameter a line) when a template is named."""
    template = form.get("template", "").strip()
    if template:
        parameters = [line.strip() for line in form.get("parameters", "").splitlines() if line.strip()]
        message: dict[str, Any] = {
            "type": "template",
            "name": template,
            "language": form.get("language", "").strip() or "en_US",
        }
        if parameters:
            message["parameters"] = parameters
        return message
    return {"type": "text", "text": form.get("text", "").strip()}


def integration_of(console: Console, form: dict[str, str]) -> tuple[str, str]:
    channel, _, label = form.get("integration", "").partition("/")
    return channel, label


class SendPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def _context(self) -> dict[str, Any]:
        integrations = sorted(k for k in self.console.gateway.integrations)
        return {
            "integrations": integrations,
            "rules": [(f"{c}/{lb}", WINDOW_RULES.get(c, GENERIC_RULE)) for c, lb in integrations],
            "tags": TAGS,
        }

    async def page(self, request: Request, session: Session, status: int = 200, **extra: Any) -> Response:
        listed = await api_broadcasts.list_broadcasts(self.console.gateway, limit=20, cursor=None)
        return self.console.page(
            request,
            "send.html",
            session,
            status=status,
            broadcasts=listed["items"],
            form=extra.pop("form", {}),
            **self._context(),
            **extra,
        )

    async def send_one(self, request: Request, session: Session) -> Response:
        form = self.console.form(request)
        channel, label = integration_of(self.console, form)
        body = {
            "channel": channel,
            "label": label,
            "user_id": form.get("user_id", "").strip(),
            "messages": [message_from(form)],
            "options": {"tag": form.get("tag") or None},
        }
        try:
            answer = await api_messages.send_messages(
                SendRequest.model_validate(body), self.console.gateway, idempotency_key=None
            )
        except ValidationError as exc:
            return await self.page(
                request, session, 422, problem=describe_validation(list(exc.errors())), form=form
            )
        except ApiError as exc:
            return await self.page(request, session, exc.status, problem=exc.reason, form=form)
        log.info(
            "console: %s sent a message to %s on %s/%s",
            session.operator.name,
            body["user_id"],
            channel,
            label,
        )
        conversation = answer.get("conversation_id")
        target = f"/console/conversations/{conversation}" if conversation else "/console/send"
        return RedirectResponse(target, status_code=303)

    async def broadcast(self, request: Request, session: Session) -> Response:
        form = self.console.form(request)
        channel, label = integration_of(self.console, form)
        users = [line.strip() for line in form.get("recipients", "").splitlines() if line.strip()]
        body: dict[str, Any] = {"channel": channel, "label": label, "message": message_from(form)}
        if users:
            body["recipients"] = [{"user_id": u} for u in users]
        else:
            audience: dict[str, Any] = {}
            if form.get("locale", "").strip():
                audience["locale"] = form["locale"].strip()
            days = form.get("active_days", "").strip()
            if days:
                try:
                    audience["active_within"] = float(days) * 86400
                except ValueError:
                    return await self.page(
                        request, session, 400, problem=T("Active within: a number of days."), form=form
                    )
            body["filter"] = audience
        if form.get("tag"):
            body["options"] = {"tag": form["tag"]}
        try:
            answer = await api_broadcasts.create_broadcast(
                BroadcastRequest.model_validate(body),
                self.console.api_request(),
                self.console.gateway,
                idempotency_key=None,
            )
        except ValidationError as exc:
            return await self.page(
                request, session, 400, problem=describe_validation(list(exc.errors())), form=form
            )
        except ApiError as exc:
            return await self.page(request, session, exc.status, problem=exc.reason, form=form)
        log.info(
            "console: %s started broadcast %s on %s/%s", session.operator.name, answer["id"], channel, label
        )
        return RedirectResponse(f"/console/broadcasts/{answer['id']}", status_code=303)

    async def _broadcast(self, broadcast_id: str) -> dict[str, Any]:
        return await api_broadcasts.get_broadcast(broadcast_id, self.console.gateway, limit=200, cursor=None)

    async def broadcast_page(self, request: Request, session: Session, **extra: Any) -> Response:
        found = await self._broadcast(request.path_params["broadcast_id"])
        return self.console.page(request, "broadcast.html", session, b=found, poll_ms=2000, **extra)

    async def broadcast_fragment(self, request: Request, session: Session) -> Response:
        found = await self._broadcast(request.path_params["broadcast_id"])
        return self.console.page(request, "_broadcast.html", session, b=found)

    async def cancel(self, request: Request, session: Session) -> Response:
        broadcast_id = request.path_params["broadcast_id"]
        try:
            await api_broadcasts.cancel_broadcast(broadcast_id, self.console.gateway)
        except ApiError as exc:
            if exc.status != 409:
                raise
            return await self.broadcast_page(request, session, problem=exc.reason)
        log.info("console: %s cancelled broadcast %s", session.operator.name, broadcast_id)
        return RedirectResponse(f"/console/broadcasts/{broadcast_id}", status_code=303)
