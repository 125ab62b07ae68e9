"""Messenger's handover protocol as a way to hand over: pass thread control to the Page inbox (or another
app) when an agent takes the conversation, take it back when the bot does, and follow the platform's
``pass_thread_control`` / ``take_thread_control`` / ``request_thread_control`` webhook events.

The calls are outbox rows of the desk's kind (``op: pass_thread_control`` / ``take_thread_control``) in
the conversation's own line, so they keep their place among its messages (the pass after the bot's last
ones, the take before its answer to ``handoff_ended``), are retried like any send and never lost while
the Graph API is down.
Integrations opt in with ``handoff: {messenger_inbox: true}`` or ``handoff: {messenger_app_id: "..."}``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from channelgate.channels.base import Rejected

PASS_THREAD = "pass_thread_control"  # noqa: S105 - an event name, not a secret
TAKE_THREAD = "take_thread_control"
REQUEST_THREAD = "request_thread_control"
#: the webhook events (Messenger's ``messaging`` fields) that move the conversation's holder
THREAD_EVENTS = frozenset({PASS_THREAD, TAKE_THREAD, REQUEST_THREAD})
#: the desk-line operations that call the Graph API
THREAD_OPS = frozenset({PASS_THREAD, TAKE_THREAD})


@runtime_checkable
class ThreadControl(Protocol):
    """A channel that speaks the handover protocol (Messenger)."""

    async def pass_thread_control(self, psid: str, target_app_id: str, metadata: str) -> None: ...

    async def take_thread_control(self, psid: str, metadata: str) -> None: ...


def pass_row(conversation_id: str, target_app_id: str, metadata: str) -> tuple[dict[str, Any], str]:
    """The desk-line row that passes the thread to ``target_app_id``; ``metadata`` is the agent's note."""
    body = {
        "conversation_id": conversation_id,
        "op": PASS_THREAD,
        "target_app_id": target_app_id,
        "metadata": metadata,
    }
    return body, "messenger: pass thread control"


def take_row(conversation_id: str, reason: str) -> tuple[dict[str, Any], str]:
    """The desk-line row that takes the thread back for the bot."""
    body = {"conversation_id": conversation_id, "op": TAKE_THREAD, "metadata": f"handoff_ended: {reason}"}
    return body, "messenger: take thread control"


async def run(channel: object, psid: str, body: dict[str, Any]) -> None:
    """Make one queued thread-control call. Raises a SendError (Rejected: the channel cannot)."""
    if not isinstance(channel, ThreadControl):
        raise Rejected("the integration's channel has no handover protocol")
    metadata = str(body.get("metadata") or "")
    if body.get("op") == PASS_THREAD:
        await channel.pass_thread_control(psid, str(body.get("target_app_id")), metadata)
    else:
        await channel.take_thread_control(psid, metadata)


__all__ = [
    "PASS_THREAD",
    "REQUEST_THREAD",
    "TAKE_THREAD",
    "THREAD_EVENTS",
    "THREAD_OPS",
    "ThreadControl",
    "pass_row",
    "run",
    "take_row",
]
