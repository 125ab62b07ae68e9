"""Universal messages → RBM API calls: the shared agent-message renderer for RBM's dialect, and what RBM
wraps around each message (an ``AgentMessage`` with a UUID ``messageId``; before a reply, a READ event for
the user's message and an IS_TYPING event, both best effort).

RBM's ``AgentContentMessage`` has no ``fallback`` field (unlike GBM): a device without RCS is reached by the
partner's own SMS fallback, which is outside this API.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from channelgate.channels.base import Outbound, RenderContext, SendRefused
from channelgate.channels.google.fields import new_id
from channelgate.channels.google.render import AgentRenderer, Rendered, e164_dial_number
from channelgate.messages import Location, UniversalMessage

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class RBMRenderer(AgentRenderer):
    """RBM's dialect: 11 chips, images, video, audio and PDF (``contentInfo`` at the top of the content
    message), vertical standalone cards, E.164 dial numbers and a native map action."""

    channel: ClassVar[str] = "rbm"
    product: ClassVar[str] = "rbm"
    suggestions_max: ClassVar[int] = 11

    def media_content(self, info: dict[str, Any]) -> dict[str, Any]:
        return {"contentInfo": info}

    def standalone(self, content: dict[str, Any]) -> dict[str, Any]:
        return {"cardOrientation": "VERTICAL", "cardContent": content}

    def dial_number(self, phone: str) -> str:
        return e164_dial_number(super().dial_number(phone))

    def map_suggestion(self, message: Location) -> dict[str, Any]:
        view: dict[str, Any] = {"latLong": {"latitude": message.latitude, "longitude": message.longitude}}
        if message.name:
            view["label"] = message.name
        return {"action": {**self.map_action(message), "viewLocationAction": view}}


def render_reply(messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
    """The calls for one reply (or proactive send) to the phone number ``ctx.user_id``."""
    if not E164.match(ctx.user_id):
        raise SendRefused(f"RCS for Business users are E.164 phone numbers; {ctx.user_id!r} is not one")
    outbounds = [_message(ctx.user_id, body) for body in RBMRenderer(ctx).render_all(messages)]
    if outbounds and ctx.reply_to is not None:
        outbounds = [
            _event(ctx.user_id, {"eventType": "READ", "messageId": ctx.reply_to}),
            _event(ctx.user_id, {"eventType": "IS_TYPING"}),
            *outbounds,
        ]
    return outbounds


def _message(msisdn: str, body: Rendered) -> Outbound:
    """A channel-specific payload may be a whole ``AgentMessage`` (with ``messageTrafficType``...)."""
    content = body.content
    agent_message = dict(content) if "contentMessage" in content else {"contentMessage": content}
    return Outbound(
        body={"msisdn": msisdn, "messageId": new_id(), "agentMessage": agent_message}, summary=body.summary
    )


def _event(msisdn: str, event: dict[str, Any]) -> Outbound:
    summary = "read receipt" if event["eventType"] == "READ" else "typing"
    return Outbound(
        body={"msisdn": msisdn, "eventId": new_id(), "agentEvent": event},
        kind="action",
        best_effort=True,
        summary=summary,
    )
