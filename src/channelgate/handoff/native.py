"""The platforms' own hand-over, beside the desk: Messenger's handover protocol (thread control, see
thread_control.py) and WeChat's customer service (the passive reply ``transfer_customer_service`` and the
``kf_create_session`` / ``kf_close_session`` events). Both move the same holder through the
:class:`HandoffService` (docs/handoff.md); this module only reads the platforms' side of it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from channelgate.channels.base import Channel, Rejected
from channelgate.handoff import thread_control
from channelgate.store import NewOutbound
from channelgate.store.statements import Row
from channelgate.turns import EventInput, Input

if TYPE_CHECKING:
    from channelgate.handoff.service import HandoffService

log = logging.getLogger("channelgate.handoff")

#: WeChat's customer-service session events: an agent accepted the transferred user, or closed the session
KF_EVENTS = frozenset({"kf_create_session", "kf_close_session"})


class NativeHandover:
    """What the platforms' hand-over mechanisms need of the hand-off model, given the service it moves."""

    def __init__(self, service: HandoffService) -> None:
        self.service = service

    def transfer_items(
        self, channel: Channel[Any], conversation: Row, *, from_user: bool
    ) -> list[NewOutbound]:
        """WeChat with ``wechat_customer_service``: the passive reply ``transfer_customer_service`` that
        gives a user's message to WeChat's customer-service tools (first, so the callback's answer carries
        it). Nothing for other integrations, nor for events (only messages can be transferred)."""
        integration = self.service.integration(channel.name, channel.ctx.label)
        handoff = integration.handoff if integration is not None else None
        make = getattr(channel, "transfer_to_customer_service", None)
        if not from_user or handoff is None or not handoff.wechat_customer_service or make is None:
            return []
        return [NewOutbound(make(str(conversation["user_id"])))]

    async def thread_call(self, row: Row, body: dict[str, Any]) -> None:
        channel = self.service.channel(row["channel"], row["label"])
        conversation = await self.service.store.conversations.get(str(body.get("conversation_id")))
        if channel is None or conversation is None:
            raise Rejected("the integration or the conversation is gone")
        await thread_control.run(channel, str(conversation["user_id"]), body)

    async def platform_event(self, conversation: Row, value: Input) -> bool:
        """A hand-over event of the platform: Messenger's handover protocol, WeChat's customer-service
        sessions. True: it moved the holder (or was for the protocol) and is not the bot's."""
        if isinstance(value, EventInput) and value.name in KF_EVENTS and self._kf(conversation):
            if value.name == "kf_close_session":
                await self.service.hand_back(conversation["id"], "resolved", platform=True)
            else:
                await self.service.take(conversation, reason="agent", desk=False)
            return True
        return await self._thread_event(conversation, value)

    def _kf(self, conversation: Row) -> bool:
        integration = self.service.integration(conversation["channel"], conversation["label"])
        handoff = integration.handoff if integration is not None else None
        return conversation["channel"] == "wechat" and handoff is not None and handoff.wechat_customer_service

    async def _thread_event(self, conversation: Row, value: Input) -> bool:
        """A handover-protocol event on an integration that uses it: moves the holder, and is not the
        bot's. ``pass_thread_control`` (the thread came back to us): back to the bot, ``resolved``;
        ``take_thread_control`` (another app, e.g. the Page inbox, took it): an agent holds it, ``agent``;
        ``request_thread_control`` from the configured app: handed over (``agent``), the thread passed.
        False: not such an event, the bot gets it as before."""
        if not isinstance(value, EventInput) or value.name not in thread_control.THREAD_EVENTS:
            return False
        target = self.service.thread_target(conversation["channel"], conversation["label"])
        if target is None:
            return False
        data = value.data or {}
        if value.name == thread_control.PASS_THREAD:
            await self.service.hand_back(conversation["id"], "resolved", platform=True)
        elif value.name == thread_control.TAKE_THREAD:
            await self.service.take(conversation, reason="agent", desk=False)
        elif str(data.get("requested_owner_app_id")) == target:
            await self.service.take(
                conversation, reason="agent", note=str(data.get("metadata") or "") or None
            )
        else:
            log.info(
                "conversation %s: thread control requested by app %s, not the hand-off's; ignored",
                conversation["id"],
                str(data.get("requested_owner_app_id"))[:64],
            )
        return True


__all__ = ["KF_EVENTS", "NativeHandover"]
