"""``channelgate channels connect CHANNEL/LABEL``: setup step 3, the platform's webhook set for you.

The seed's third step is "set the callback URL as the platform's webhook". Where the platform has an API for
that (Telegram's ``setWebhook``, LINE's endpoint API, Twilio's number settings, Meta's app subscriptions) the
channel's :meth:`Channel.connect` calls it with the integration's credentials and checks that it worked;
where it has none, the channel answers with the exact console steps. This module finds the integration (in
the config file or created through the admin API), builds the channel with a real HTTP client and the
store's key-value table (a token minted here is the one the gateway uses), and reports.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from channelgate.channels.base import Channel, ChannelContext, Connection, Health
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.registry import load_registry
from channelgate.config import ConfigError, GatewayConfig, Integration, channel_class
from channelgate.store import Store, StoreKeyValue
from channelgate.store.admin import load_stored_integrations
from channelgate.store.replay import StoreReplayCache

CONNECT_TIMEOUT = 30.0


async def find_integration(cfg: GatewayConfig, store: Store, channel: str, label: str) -> Integration:
    """The integration named ``channel/label``: the config file's, else one created through the API."""
    for integration in cfg.integrations:
        if integration.key == (channel, label):
            return integration
    stored = await load_stored_integrations(store, load_registry())
    for integration in stored:
        if integration.key == (channel, label):
            return integration
    known = ", ".join(f"{i.channel}/{i.label}" for i in [*cfg.integrations, *stored]) or "none yet"
    raise ConfigError(f"no integration {channel}/{label} (integrations: {known})")


async def connect(cfg: GatewayConfig, channel: str, label: str) -> Connection:
    """Run the integration's ``connect`` with a short-lived HTTP client and the shared store."""
    store = Store.from_settings(cfg.settings)
    try:
        await store.create_schema()
        integration = await find_integration(cfg, store, channel, label)
        cls: type[Channel[Any]] = channel_class(load_registry(), integration)
        async with PlatformHTTP(timeout=CONNECT_TIMEOUT) as http:
            ctx = ChannelContext(
                channel=integration.channel,
                label=integration.label,
                locale=integration.locale,
                public_url=cfg.settings.public_url,
                http=http,
                kv=StoreKeyValue(store, uuid.uuid4().hex[:16], f"{integration.channel}:{integration.label}:"),
                health=Health(),
                log=logging.getLogger(f"channelgate.channels.{integration.channel}"),
                replay=StoreReplayCache(store, f"{integration.channel}:{integration.label}"),
            )
            instance = cls(integration.config, ctx)
            await instance.start()
            try:
                return await instance.connect()
            finally:
                await instance.stop()
    finally:
        await store.close()
