"""The broadcast worker: turns a broadcast's recipients into queued messages, a chunk at a time.

It does not send: the delivery worker does, within each integration's rate limit. The broadcaster only
keeps the outbox fed (about two seconds of sends ahead of the rate), which is what makes a broadcast
cancellable mid-way and keeps a 10 000-recipient notification from crowding out conversations' replies.

Each recipient is rendered with the channel's window rules like any proactive send; one the channel refuses
is recorded as failed with the reason, and the rest go on. A recipient is queued and marked in one
transaction, so a crash never sends twice; a broadcast is held by one replica at a time (a store lock),
and one a crashed process left running is picked up again by the periodic scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import RowMapping

from channelgate.api.errors import ApiError
from channelgate.api.sending import Target, render
from channelgate.channels.base import Channel
from channelgate.messages import Template, UniversalMessage, parse_message
from channelgate.store import admin

if TYPE_CHECKING:
    from channelgate.gateway import Gateway

log = logging.getLogger("channelgate.api.broadcasts")

LOCK_TTL = 120.0
SCAN_INTERVAL = 30.0


def chunk_size(channel: Channel[Any] | None) -> int:
    """About two seconds of sends at the integration's rate limit."""
    if channel is None:
        return 100
    rate = channel.send_rate
    return max(10, min(500, int(float(rate) * 2)))


def personalise(
    message: UniversalMessage, options: dict[str, Any], parameters: list[Any] | None
) -> tuple[UniversalMessage, dict[str, Any]]:
    """The broadcast's message with one recipient's template parameters: in the message when it is a
    template, else in its template fallback."""
    if parameters is None:
        return message, options
    if isinstance(message, Template):
        return message.model_copy(update={"parameters": parameters}), options
    fallback = options.get("template_fallback")
    if isinstance(fallback, Template):
        return message, {
            **options,
            "template_fallback": fallback.model_copy(update={"parameters": parameters}),
        }
    return message, options


class Broadcaster:
    def __init__(self, gateway: Gateway, *, scan_interval: float = SCAN_INTERVAL) -> None:
        self.gateway = gateway
        self.scan_interval = scan_interval
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._scan: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Resume running broadcasts now and look for orphaned ones from time to time."""
        if self._scan is None:
            self._stopping = False
            self._scan = asyncio.create_task(self._scan_loop(), name="broadcast-scan")

    async def stop(self) -> None:
        self._stopping = True
        tasks = [*self._tasks.values(), *([self._scan] if self._scan else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._scan = None
        self._tasks.clear()

    def kick(self, broadcast_id: str) -> None:
        if self._stopping or broadcast_id in self._tasks:
            return
        task = asyncio.create_task(self._run(broadcast_id), name=f"broadcast-{broadcast_id}")
        self._tasks[broadcast_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(broadcast_id, None))

    async def _scan_loop(self) -> None:
        while not self._stopping:
            try:
                for broadcast_id in await admin.running_broadcasts(self.gateway.store):
                    self.kick(broadcast_id)
            except Exception:
                log.exception("broadcasts: could not read the store; trying again")
            await asyncio.sleep(self.scan_interval)

    async def _run(self, broadcast_id: str) -> None:
        store = self.gateway.store
        lock = f"broadcast:{broadcast_id}"
        owner = self.gateway.owner
        if not await store.kv.try_lock(lock, owner, LOCK_TTL):
            return  # another replica has it
        try:
            await self._process(broadcast_id, lock)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("broadcast %s: stopped by an error; it resumes on the next scan", broadcast_id)
        finally:
            with contextlib.suppress(Exception):
                await store.kv.unlock(lock, owner)

    async def _process(self, broadcast_id: str, lock: str) -> None:
        gw = self.gateway
        while not self._stopping:
            row = await admin.broadcast(gw.store, broadcast_id)
            if row is None or row["status"] != "running":
                return
            channel = gw.channel(row["channel"], row["label"])
            chunk = chunk_size(channel)
            recipients = await admin.pending_recipients(gw.store, broadcast_id, chunk)
            if not recipients:
                await admin.finish_broadcast(gw.store, broadcast_id)
                log.info("broadcast %s: every recipient handled", broadcast_id)
                return
            message = parse_message(row["message"])
            options = _options(row["options"])
            for recipient in recipients:
                await self._one(row, channel, message, options, recipient)
            gw.wake_delivery()
            await self._wait_for_room(broadcast_id, chunk)
            # Renew the claim; if another replica took it meanwhile, leave the broadcast to it.
            await gw.store.kv.unlock(lock, gw.owner)
            if not await gw.store.kv.try_lock(lock, gw.owner, LOCK_TTL):
                return

    async def _one(
        self,
        broadcast: RowMapping,
        channel: Channel[Any] | None,
        message: UniversalMessage,
        options: dict[str, Any],
        recipient: RowMapping,
    ) -> None:
        gw = self.gateway
        if channel is None:
            reason = f"integration {broadcast['channel']}/{broadcast['label']} is no longer configured"
            await admin.refuse_recipient(gw.store, int(recipient["id"]), reason, None)
            return
        user_id = str(recipient["user_id"])
        conversation = await gw.store.conversations.find(channel.name, channel.ctx.label, user_id)
        integration = gw.integrations.get((channel.name, channel.ctx.label))
        locale = (
            conversation["locale"]
            if conversation is not None
            else (integration.locale if integration is not None else channel.ctx.locale)
        )
        own_message, own_options = personalise(message, options, recipient["parameters"])
        target = Target(channel, user_id, locale, conversation)
        try:
            items = render(gw, target, [own_message], own_options)
        except ApiError as exc:
            conversation_id = conversation["id"] if conversation is not None else None
            await admin.refuse_recipient(gw.store, int(recipient["id"]), exc.reason, conversation_id)
            return
        await admin.queue_recipient(
            gw.store, recipient, channel=channel.name, label=channel.ctx.label, locale=locale, items=items
        )

    async def _wait_for_room(self, broadcast_id: str, chunk: int) -> None:
        """Wait until the delivery worker has sent most of what was queued (or the broadcast stopped)."""
        interval = min(0.25, self.gateway.settings.pipeline.poll_interval)
        while not self._stopping:
            if await admin.backlog(self.gateway.store, broadcast_id) < chunk:
                return
            row = await admin.broadcast(self.gateway.store, broadcast_id)
            if row is None or row["status"] != "running":
                return
            await asyncio.sleep(interval)


def _options(stored: dict[str, Any] | None) -> dict[str, Any]:
    options = dict(stored or {})
    fallback = options.get("template_fallback")
    if isinstance(fallback, dict):
        options["template_fallback"] = Template.model_validate(fallback)
    return options
