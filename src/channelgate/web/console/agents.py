"""The console's agent view, for teams without a help desk: the conversations a person holds (those no
agent answered yet first), taking one, the live transcript, replying with the channel's rules shown, and
handing back to the bot.

Every change is the admin API's own operation (``api.handoffs``: ``hand_off``, ``hand_back``,
``send_agent_messages``), so a reply here is rendered like the bot's with the same window rules and tags
as through the API. Taking records which operator took the hand-off (in the store's shared key-values,
for the hand-off's lifetime), so two agents see who answers whom.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from channelgate.api import handoffs as api_handoffs
from channelgate.api.errors import ApiError, describe_validation
from channelgate.api.models import AgentMessagesRequest, HandoffRequestBody
from channelgate.api.sending import conversation_or_404
from channelgate.messages import Text
from channelgate.store.operators import Session
from channelgate.store.statements import Row
from channelgate.web.console import testsend
from channelgate.web.console.conversations import POLL_MS, ConversationPages
from channelgate.web.console.security import PREFIX
from channelgate.web.console.sending import GENERIC_RULE, WINDOW_RULES
from channelgate.web.console.texts import T

if TYPE_CHECKING:
    from channelgate.web.console.app import Console

log = logging.getLogger("channelgate.console")

#: how a hand-off began, as the list shows it, marked for translation
REASON_TEXTS = {
    "bot": T("the bot asked"),
    "user": T("the user asked"),
    "operator": T("an operator took it"),
    "agent": T("an agent wrote"),
}
#: the most hand-offs the list shows
LIST_MAX = 200


def claim_key(handoff_id: str) -> str:
    return f"console-agent:{handoff_id}"


class AgentPages:
    """The agent view over the hand-off API operations."""

    def __init__(self, console: Console, conversations: ConversationPages) -> None:
        self.console = console
        self.conversations = conversations

    @property
    def gateway(self) -> Any:
        return self.console.gateway

    async def _claimed_by(self, handoff_id: str) -> str | None:
        return await self.gateway.store.kv.get(claim_key(handoff_id)) or None

    async def queue(self, request: Request, session: Session) -> Response:
        """Conversations a person holds: waiting for a first answer (oldest first), then answered."""
        held = await self.gateway.store.handoffs.idle(math.inf, limit=LIST_MAX)  # every one held
        waiting: list[dict[str, Any]] = []
        answered: list[dict[str, Any]] = []
        for row in held:
            conversation = await self.gateway.store.conversations.get(row["conversation_id"])
            if conversation is None:
                continue
            item = {
                "id": row["conversation_id"],
                "user": conversation["user_name"] or conversation["user_id"],
                "integration": f"{row['channel']}/{row['label']}",
                "reason": REASON_TEXTS.get(str(row["reason"]), str(row["reason"])),
                "note": row["note"],
                "since": row["started_at"],
                "last": row["last_activity_at"],
                "taken_by": await self._claimed_by(row["handoff_id"]),
            }
            (answered if row["first_agent_reply_at"] else waiting).append(item)
        waiting.sort(key=lambda i: i["since"] or 0)
        answered.sort(key=lambda i: -(i["last"] or 0))
        return self.console.page(request, "agent.html", session, waiting=waiting, answered=answered)

    def _rules(self, conversation: Row) -> tuple[str, str | None, bool]:
        """The channel's window rule, the reason it refuses a reply now (None: it takes one), and whether a
        reply now carries the HUMAN_AGENT tag (the hand-off service's rule: Messenger and Instagram, more than
        24 hours after the user's last message)."""
        channel = self.gateway.channel(conversation["channel"], conversation["label"])
        rule = WINDOW_RULES.get(conversation["channel"], GENERIC_RULE)
        if channel is None:
            return rule, T("the integration is not running"), False
        items = self.gateway.handoffs.render_agent(channel, conversation, [Text(text="window probe")])
        refused = [i.reason or "refused" for i in items if i.status == "failed"]
        tagged = self.gateway.handoffs.agent_tag(channel.name, conversation) is not None
        return rule, "; ".join(refused) or None, tagged and not refused

    async def conversation(self, request: Request, session: Session, **extra: Any) -> Response:
        conversation_id = request.path_params["conversation_id"]
        row = await conversation_or_404(self.gateway, conversation_id)
        detail = await self.conversations.transcript(conversation_id)
        held = await self.gateway.store.handoffs.get(conversation_id)
        holder = held["holder"] if held is not None else "bot"
        taken_by = await self._claimed_by(held["handoff_id"]) if held and holder == "agent" else None
        rule, refused, tagged = self._rules(row)
        return self.console.page(
            request,
            "agent_conversation.html",
            session,
            status=extra.pop("status", 200),
            c=detail,
            holder=holder,
            held=held,
            reason_text=REASON_TEXTS.get(str(held["reason"]), "") if held else "",
            taken_by=taken_by,
            rule=rule,
            refused=refused,
            tagged=tagged,
            reply_key=secrets.token_hex(16),  # a double submit sends once
            poll_ms=POLL_MS,
            preview=testsend.preview,
            **extra,
        )

    async def take(self, request: Request, session: Session) -> Response:
        """Hand the conversation to a person (if the bot had it) and record that this operator took it."""
        conversation_id = request.path_params["conversation_id"]
        note = self.console.form(request).get("note", "").strip() or None
        body = HandoffRequestBody(note=note[:1000]) if note else None
        await api_handoffs.hand_off(conversation_id, self.gateway, body)
        held = await self.gateway.store.handoffs.get(conversation_id)
        if held is not None and held["holder"] == "agent":
            ttl = self.gateway.handoffs.settings.idle_timeout
            await self.gateway.store.kv.set(claim_key(held["handoff_id"]), session.operator.name, ttl)
        log.info("console: %s took conversation %s", session.operator.name, conversation_id)
        return RedirectResponse(f"{PREFIX}/agent/{conversation_id}", status_code=303)

    async def reply(self, request: Request, session: Session) -> Response:
        conversation_id = request.path_params["conversation_id"]
        form = self.console.form(request)
        text = form.get("text", "").strip()
        key = form.get("key", "").strip() or None
        problem = None
        try:
            body = AgentMessagesRequest.model_validate(
                {"messages": [{"type": "text", "text": text}], "idempotency_key": key}
            )
            await api_handoffs.send_agent_messages(conversation_id, body, self.gateway, idempotency_key=None)
        except ValidationError as exc:
            problem = describe_validation(list(exc.errors()))
        except ApiError as exc:
            if exc.status == 404:
                raise
            problem = exc.reason
        if problem is not None:
            return await self.conversation(request, session, status=422, problem=problem, draft=text)
        log.info("console: %s answered conversation %s", session.operator.name, conversation_id)
        return RedirectResponse(f"{PREFIX}/agent/{conversation_id}", status_code=303)

    async def hand_back(self, request: Request, session: Session) -> Response:
        conversation_id = request.path_params["conversation_id"]
        await api_handoffs.hand_back(conversation_id, self.gateway)
        log.info("console: %s gave conversation %s back to the bot", session.operator.name, conversation_id)
        return RedirectResponse(f"{PREFIX}/agent", status_code=303)


__all__ = ["REASON_TEXTS", "AgentPages"]
