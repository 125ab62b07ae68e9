"""Bring this replica's running integrations in line with those stored through the admin API.

The replica that served an API change applied it at once; the others apply it here, when a peer's NOTIFY
names the integration (coordination.py) and, as the safety net for news lost with a dropped connection,
on a slow periodic sync of all of them. The stored rows are read and validated exactly as at start
(:func:`~channelgate.store.integrations.load_stored_integrations`), so a replica runs what a restart would
run: a row that no longer validates, or that the API would refuse today, is not run. Integrations of the
config file win over a stored one of the same name and are never touched here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from channelgate.channels.registry import ChannelRegistry
from channelgate.config import Integration
from channelgate.store.integrations import load_stored_integrations
from channelgate.store.store import Store

log = logging.getLogger("channelgate.integration_sync")

#: seconds between full syncs, the safety net under the NOTIFYs
SYNC_INTERVAL = 30.0


class IntegrationSync:
    """Reloads stored integrations into the running table through the gateway's own methods."""

    def __init__(
        self,
        store: Store,
        registry: ChannelRegistry,
        *,
        running: dict[tuple[str, str], Integration],
        config_keys: Iterable[tuple[str, str]],
        allowed_hosts: Iterable[str],
        replace: Callable[[Integration], Awaitable[Any]],
        remove: Callable[[str, str], Awaitable[None]],
    ) -> None:
        self.store = store
        self.registry = registry
        self.running = running
        self.config_keys = set(config_keys)
        self.allowed_hosts = list(allowed_hosts)
        self.replace = replace
        self.remove = remove
        self._lock = asyncio.Lock()

    async def reload(self, channel: str, label: str) -> None:
        """One integration, named by a peer's news."""
        await self.sync({(channel, label)})

    async def sync(self, only: set[tuple[str, str]] | None = None) -> None:
        """Start what is stored and not running, restart what changed, stop what was deleted."""
        async with self._lock:
            stored = await load_stored_integrations(
                self.store, self.registry, self.config_keys, self.allowed_hosts
            )
            wanted = {i.key: i for i in stored if only is None or i.key in only}
            for key, integration in wanted.items():
                if self.running.get(key) == integration:
                    continue
                try:
                    await self.replace(integration)
                except Exception as exc:  # as at start: one that cannot start does not stop the rest
                    log.error("integration %s/%s could not start: %s", *key, exc)
                    continue
                log.info("integration %s/%s loaded from the store (changed on another replica)", *key)
            for key, integration in list(self.running.items()):
                if integration.source != "store" or key in wanted or (only is not None and key not in only):
                    continue
                await self.remove(*key)
                log.info("integration %s/%s stopped (deleted on another replica)", *key)

    async def run(self, interval: float = SYNC_INTERVAL) -> None:
        """The safety net: a full sync every ``interval`` seconds."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync()
            except Exception:
                log.exception("integration sync: store unavailable; trying again at the next interval")
