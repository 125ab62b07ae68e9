"""The console's conversation pages: search, the live transcript with delivery statuses and the window
state, and a message from an operator."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from channelgate.api import conversations as api_conversations
from channelgate.api import messages as api_messages
from channelgate.api.errors import ApiError, describe_validation
from channelgate.api.models import (
    CHANNEL_PATTERN,
    LABEL_PATTERN,
    SendRequest,
)
from channelgate.api.sending import render as render_send
from channelgate.api.sending import target_for
from channelgate.messages import Text
from channelgate.store.operators import Session
from channelgate.web.console import testsend
from channelgate.web.console.security import PREFIX
from channelgate.web.console.texts import T

if TYPE_CHECKING:
    from channelgate.web.console.app import Console

#: How often the transcript page asks for news (milliseconds); the page's script reads it.
POLL_MS = 2000

#: Delivery states as the transcript shows them (the API's names), marked for translation.
STATUS_TEXTS = (T("queued"), T("sent"), T("delivered"), T("read"), T("failed"), T("pending"), T("cancelled"))

log = logging.getLogger("channelgate.console")


class ConversationPages:
    """Conversation pages over the admin API's conversation and message operations."""

    def __init__(self, console: Console) -> None:
        self.console = console

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
                return self.console.error(request, session, 400, f"{name}: not a valid {name} name")
        if text is not None and len(text) > 255:
            return self.console.error(request, session, 400, "q: at most 255 characters")
        try:
            listed = await api_conversations.list_conversations(
                self.console.gateway,
                channel=channel,
                label=label,
                q=text,
                limit=50,
                cursor=query.get("cursor") or None,
            )
        except ApiError as exc:
            return self.console.error(request, session, exc.status, exc.reason)
        return self.console.page(
            request,
            "conversations.html",
            session,
            items=listed["items"],
            next_cursor=listed["next_cursor"],
            integrations=sorted(self.console.gateway.integrations),
            channel_names=sorted({name for name, _ in self.console.gateway.integrations}),
            filters={"channel": channel or "", "label": label or "", "q": text or ""},
        )

    async def transcript(self, conversation_id: str) -> dict[str, Any]:
        """The whole transcript (newest 1000 entries at most) through the API's own pages."""
        detail = await api_conversations.get_conversation(
            conversation_id, self.console.gateway, limit=200, cursor=None
        )
        entries = list(detail["transcript"])
        cursor = detail["next_cursor"]
        while cursor and len(entries) < 1000:
            more = await api_conversations.get_conversation(
                conversation_id, self.console.gateway, limit=200, cursor=cursor
            )
            entries.extend(more["transcript"])
            cursor = more["next_cursor"]
        detail["transcript"] = entries
        return detail

    async def _window(self, detail: dict[str, Any]) -> str | None:
        """None when a free-form message may be sent now, else the channel's reason it may not."""
        try:
            target = await target_for(
                self.console.gateway, channel=None, label=None, user_id=None, conversation_id=detail["id"]
            )
            render_send(self.console.gateway, target, [Text(text="window probe")], {})
        except ApiError as exc:
            return exc.reason
        return None

    async def conversation(self, request: Request, session: Session, **extra: Any) -> Response:
        detail = await self.transcript(request.path_params["conversation_id"])
        return self.console.page(
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

    async def fragment(self, request: Request, session: Session) -> Response:
        detail = await self.transcript(request.path_params["conversation_id"])
        return self.console.page(request, "_transcript.html", session, c=detail, preview=testsend.preview)

    async def send(self, request: Request, session: Session) -> Response:
        conversation_id = request.path_params["conversation_id"]
        form = self.console.form(request)
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
            await api_messages.send_messages(body, self.console.gateway, idempotency_key=None)
        except ValidationError as exc:
            problem = describe_validation(list(exc.errors()))
        except ApiError as exc:
            problem = exc.reason
        if problem is not None:
            return await self.conversation(request, session, status=422, problem=problem, draft=text)
        log.info("console: %s sent a message to conversation %s", session.operator.name, conversation_id)
        return RedirectResponse(f"{PREFIX}/conversations/{conversation_id}", status_code=303)
