"""Credential pauses: an integration whose credentials were refused stops sending, one probe at a time.

A refused token fails every send the same way, so trying each message would only burn their tries and
retry budgets. Instead the integration's deliveries pause (health red, with the reason): its messages go
back to the outbox due at the next probe time, without using a try. One send is let through every
``pipeline.credentials_probe_interval`` seconds as a probe. Deliveries resume when

* the probe goes through, or the platform refuses the message itself (it took the credentials);
* the integration is replaced (the admin API makes a new Channel: the credentials may have been fixed),
  or removed;
* the gateway restarts (``Deliveries.resume_paused``: the config file may hold a new token).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from channelgate.channels.base import Channel, InvalidCredentials, SendError
from channelgate.lookup import ChannelLookup
from channelgate.metrics import Metrics
from channelgate.store.deliveries import Deliveries
from channelgate.store.statements import Row

log = logging.getLogger("channelgate.delivery")

#: what health says while an integration's deliveries are paused
PAUSED_NOTE = (
    "; deliveries are paused: they resume when the integration is replaced (admin API, or a restart with a "
    "new token in the config file) or when the send tried every "
)


@dataclass
class Pause:
    """One paused integration. Kept per Channel instance: a replaced integration is a new instance, and
    that is the sign the credentials may have been fixed."""

    channel: Channel[Any]
    reason: str
    probe_at: float  # wall clock: when the next probe may go
    probing: bool = False


class CredentialPauses:
    """The paused integrations of this process, by ``(channel, label)``."""

    def __init__(
        self,
        deliveries: Deliveries,
        metrics: Metrics,
        *,
        probe_interval: float,
        channel: ChannelLookup,
        wake: Callable[[], None],
    ) -> None:
        self._deliveries = deliveries
        self._metrics = metrics
        self._interval = probe_interval
        self._channel = channel
        self._wake = wake
        self._paused: dict[tuple[str, str], Pause] = {}

    def of(self, channel: Channel[Any]) -> Pause | None:
        """The pause of this very channel instance (None: it sends normally)."""
        pause = self._paused.get((channel.name, channel.ctx.label))
        return pause if pause is not None and pause.channel is channel else None

    async def hold(self, channel: Channel[Any], row: Row, attempts: int) -> bool:
        """True: the channel is paused and ``row`` went back to the outbox until the probe time, with no try
        and no budget used. False: send it (nothing is paused, or this send is the probe: the others wait
        for the next one, or for its success)."""
        pause = self.of(channel)
        if pause is None:
            return False
        if pause.probing or time.time() < pause.probe_at:
            await self._deliveries.mark_retry(
                row["id"],
                row["conversation_id"],
                attempts - 1,
                pause.probe_at,
                pause.reason,
                row["retry_since"],
            )
            return True
        pause.probing = True
        pause.probe_at = time.time() + self._interval
        return False

    async def went_through(self, channel: Channel[Any]) -> None:
        """A send of ``channel`` succeeded: if it was paused, that was the probe; resume."""
        if self.of(channel) is not None:
            log.warning(
                "%s/%s: a send went through again; deliveries resume", channel.name, channel.ctx.label
            )
            channel.ctx.health.ok()
            await self._resume((channel.name, channel.ctx.label))

    async def after_failure(self, channel: Channel[Any], exc: SendError) -> None:
        """A send of a paused integration failed. Refused credentials: :meth:`pause` schedules the next
        probe. Another refusal of the message itself (a 4xx, a closed window) means the platform took the
        credentials: resume. A transient failure says nothing about them: probe again later."""
        pause = self.of(channel)
        if pause is None or isinstance(exc, InvalidCredentials):
            return
        if exc.retryable:
            pause.probing = False
            pause.probe_at = time.time() + self._interval
            return
        log.warning(
            "%s/%s: the platform took the credentials again; deliveries resume",
            channel.name,
            channel.ctx.label,
        )
        channel.ctx.health.ok()
        await self._resume((channel.name, channel.ctx.label))

    async def resume_replaced(self) -> None:
        """Resume the paused integrations that were replaced (admin API) or removed."""
        for key, pause in list(self._paused.items()):
            if self._channel(*key) is not pause.channel:
                log.info("%s/%s: the integration was replaced; its deliveries resume", *key)
                try:
                    await self._resume(key)
                except Exception:
                    log.exception("%s/%s: could not resume deliveries; trying again", *key)

    async def pause(self, channel: Channel[Any], row: Row, attempts: int, exc: SendError) -> None:
        """Credentials refused: pause the integration's deliveries; this row waits for the next probe."""
        key = (channel.name, channel.ctx.label)
        probe_at = time.time() + self._interval
        pause = self.of(channel)
        if pause is None:
            log.error(
                "%s/%s: the platform refused the credentials (%s); deliveries pause until the integration is "
                "replaced or a send tried every %gs goes through",
                *key,
                exc.reason,
                self._interval,
            )
            pause = self._paused[key] = Pause(channel, f"paused: credentials refused: {exc.reason}", probe_at)
        pause.probe_at, pause.probing = probe_at, False
        # the channel's own message names the field to fix; it is set again on each refusal, ours is added
        message = channel.ctx.health.message if channel.ctx.health.status == "failing" else exc.reason
        message = message.split(PAUSED_NOTE)[0]
        channel.ctx.health.fail(f"{message}{PAUSED_NOTE}{self._interval:g}s goes through")
        self._metrics.deliveries.labels(channel.name, "paused").inc()
        await self._deliveries.mark_retry(
            row["id"], row["conversation_id"], attempts - 1, probe_at, pause.reason, row["retry_since"]
        )

    async def _resume(self, key: tuple[str, str]) -> None:
        await self._deliveries.resume(*key)
        self._paused.pop(key, None)
        self._wake()


__all__ = ["PAUSED_NOTE", "CredentialPauses", "Pause"]
