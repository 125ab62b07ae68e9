"""The HTTP answer to a webhook whose events were accepted: an acknowledgement, or the reply itself.

Some platforms (WeChat) let the answer to their request carry the bot's reply within a budget of seconds
(the channel's ``passive_reply_budget``). The turn's reply is then held (passive.py) instead of sent, and
put in the answer here; anything that stops that (no reply in time, an earlier reply still on its way, a
channel that cannot build the answer, a platform that hung up before it was written) releases the held
rows to the send API, so a message is never lost. It was part of gateway.py; it is its own idea.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from channelgate.channels.base import Channel, InboundEvent, WebhookRequest, WebhookResponse
from channelgate.passive import PassiveReplies
from channelgate.store import Accepted, Store

# the name these lines had in gateway.py, so that log filters set up for them keep working
log = logging.getLogger("channelgate.gateway")


class WebhookAnswers:
    """Answers accepted webhooks. It is given what it uses: the store (held rows), the passive replies
    (where a turn's held reply arrives), and what wakes delivery for released rows."""

    def __init__(self, store: Store, passive: PassiveReplies, *, wake_delivery: Callable[[], None]) -> None:
        self.store = store
        self.passive = passive
        self.wake_delivery = wake_delivery

    async def answer(
        self,
        channel: Channel[Any],
        request: WebhookRequest,
        events: list[InboundEvent],
        accepted: Accepted,
    ) -> WebhookResponse:
        """At once, or with the reply itself when the channel has a passive budget and the events started
        one turn (the gateway registered its wait when accepting)."""
        budget = channel.passive_reply_budget
        if not budget or len(accepted.new_turns) != 1:
            return channel.ack(request, events)
        held = await self.passive.wait(accepted.new_turns[0][0], budget)
        if held is None:
            return channel.ack(request, events)
        ids, outbounds = held
        conversation_id = accepted.new_turns[0][1]
        if ids and await self.store.outbox.unsent_before(conversation_id, min(ids)):
            # an earlier reply is still on its way (a retry, a crashed replica's lease): the held ones queue
            # behind it instead of overtaking it in the HTTP answer
            await self._release_held(ids, 0)
            return channel.ack(request, events)
        used = 0
        try:
            response, used = channel.passive_reply(request, outbounds)
        except Exception:
            log.exception(
                "%s/%s: passive reply failed; sending through the API", channel.name, channel.ctx.label
            )
            response = channel.ack(request, events)
        if not used:
            await self._release_held(ids, 0)
            return response

        async def written(ok: bool) -> None:
            """The web layer wrote the answer (or could not): only now is the passive reply sent. When the
            platform had hung up, every held payload goes out through the API instead."""
            if not ok:
                log.info(
                    "%s/%s: the passive reply could not be written; sending it through the API",
                    channel.name,
                    channel.ctx.label,
                )
            await self._release_held(ids, used if ok else 0)

        return dataclasses.replace(response, written=written)

    async def _release_held(self, ids: list[int], passive: int) -> None:
        await self.store.outbox.release_held(ids, passive)
        self.wake_delivery()


__all__ = ["WebhookAnswers"]
