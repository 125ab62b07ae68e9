"""The console's dead letters: what failed, why and when; replay (oldest first, so each conversation's order
is kept) or discard, one or many."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from channelgate.api import operations as api_operations
from channelgate.api.errors import ApiError
from channelgate.store import operators
from channelgate.store.operators import Session
from channelgate.web.console import testsend
from channelgate.web.console.texts import T

if TYPE_CHECKING:
    from channelgate.web.console.app import Console


log = logging.getLogger("channelgate.console")


class DeadLetterPages:
    """Dead-letter pages over the admin API's replay and the console's discard."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def dead_letters(self, request: Request, session: Session, **extra: Any) -> Response:
        listed = await api_operations.list_dead_letters(
            self.console.gateway, channel=None, label=None, limit=200, cursor=None
        )
        return self.console.page(
            request,
            "dead_letters.html",
            session,
            status=extra.pop("status", 200),
            items=listed["items"],
            more=listed["next_cursor"] is not None,
            preview=testsend.preview,
            **extra,
        )

    async def act(self, request: Request, session: Session) -> Response:
        form: dict[str, list[str]] = request.state.form
        action = (form.get("action") or [""])[0]
        try:
            ids = sorted({int(v) for v in form.get("ids", [])})
        except ValueError:
            ids = [0]
        if any(not 1 <= i <= 2**62 for i in ids) or len(ids) > 1000:
            return self.console.error(request, session, 400, "ids must be message numbers (at most 1000)")
        if not ids:
            return await self.dead_letters(
                request, session, status=400, problem=T("Select at least one message.")
            )
        if action == "replay":
            done, problems = [], []
            for message_id in ids:  # oldest first, so each conversation's order is kept
                try:
                    await api_operations.replay_dead_letter(message_id, self.console.gateway)
                    done.append(message_id)
                except ApiError as exc:
                    problems.append(exc.reason)
            log.info("console: %s replayed dead letters %s", session.operator.name, done)
            return await self.dead_letters(
                request, session, replayed=done, problem="; ".join(problems) or None
            )
        if action == "discard":
            done = await operators.discard_dead(self.console.gateway.store, ids, session.operator.name)
            log.info("console: %s discarded dead letters %s", session.operator.name, done)
            return await self.dead_letters(request, session, discarded=done)
        return self.console.error(request, session, 400, "action is replay or discard")
