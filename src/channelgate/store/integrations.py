"""Integrations created through the admin API, stored with their settings sealed, and the rotation of
every secret the gateway stored (``channelgate secrets rotate``).

A stored integration's settings, secrets included, are encrypted with the store's key (store/
secret_box.py); those of the config file are never stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.engine import RowMapping

from channelgate.api_rules import api_refusal
from channelgate.channels.registry import ChannelRegistry
from channelgate.config import ConfigError, Integration, build_integration
from channelgate.store import keyvalue
from channelgate.store.admin_tables import stored_integrations
from channelgate.store.database import Database
from channelgate.store.secret_box import SecretKeyError

log = logging.getLogger("channelgate.store.admin")

#: A stored integration's settings are kept as ``{"$sealed": "fernet:..."}``: all of them, secrets
#: included, encrypted with the store's key (see store/secret_box.py).
SEALED = "$sealed"


def seal_config(store: Database, config: Mapping[str, Any]) -> dict[str, Any]:
    return {SEALED: store.secrets.seal(orjson.dumps(dict(config)).decode())}


def open_config(store: Database, stored: Any) -> dict[str, Any]:
    """The settings of a stored row; a row written before encryption existed is read as it is."""
    if isinstance(stored, dict) and isinstance(stored.get(SEALED), str):
        opened = orjson.loads(store.secrets.open(stored[SEALED]))
        return opened if isinstance(opened, dict) else {}
    return dict(stored or {})


def _opened(store: Database, row: RowMapping) -> dict[str, Any]:
    return {**row, "config": open_config(store, row["config"])}


def integration_mapping(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored integration as the mapping ``build_integration`` validates (the config file's shape)."""
    return {
        **(row["config"] or {}),
        "channel": row["channel"],
        "label": row["label"],
        "locale": row["locale"],
    }


async def _stored_rows(store: Database) -> list[RowMapping]:
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(stored_integrations).order_by(stored_integrations.c.channel, stored_integrations.c.label)
        )
        return list(result.mappings())


async def stored_integration_rows(store: Database) -> list[dict[str, Any]]:
    """Every stored integration, its settings decrypted (SecretKeyError when the key does not fit)."""
    return [_opened(store, row) for row in await _stored_rows(store)]


async def stored_integration(store: Database, channel: str, label: str) -> dict[str, Any] | None:
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(stored_integrations).where(
                stored_integrations.c.channel == channel, stored_integrations.c.label == label
            )
        )
        row = result.mappings().first()
    return _opened(store, row) if row is not None else None


async def insert_integration(
    store: Database, channel: str, label: str, locale: str, config: dict[str, Any]
) -> bool:
    """Store a new integration; False when one with this channel and label exists already."""
    now = time.time()
    async with store.tx() as conn:
        result = await conn.execute(
            store.insert(stored_integrations)
            .values(
                channel=channel,
                label=label,
                locale=locale,
                config=seal_config(store, config),
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel", "label"])
            .returning(stored_integrations.c.channel)
        )
        return result.first() is not None


async def update_integration(
    store: Database, channel: str, label: str, locale: str, config: dict[str, Any]
) -> None:
    async with store.tx() as conn:
        await conn.execute(
            update(stored_integrations)
            .where(stored_integrations.c.channel == channel, stored_integrations.c.label == label)
            .values(locale=locale, config=seal_config(store, config), updated_at=time.time())
        )


async def delete_integration(store: Database, channel: str, label: str) -> bool:
    async with store.tx() as conn:
        result = await conn.execute(
            delete(stored_integrations).where(
                stored_integrations.c.channel == channel, stored_integrations.c.label == label
            )
        )
        return bool(result.rowcount)


async def load_stored_integrations(
    store: Database,
    registry: ChannelRegistry,
    skip: Iterable[tuple[str, str]] = (),
    allowed_hosts: Iterable[str] | None = None,
) -> list[Integration]:
    """The integrations created through the API, validated again (a channel package may have changed).
    One that no longer validates is logged and left out, never fatal: the rest of the gateway must start.
    ``skip``: keys the config file defines, which win over a stored integration of the same name.
    ``allowed_hosts``: the server's ``admin_api.allowed_hosts``; given, one the API would refuse today (an
    endpoint elsewhere, a security check off: stored by an earlier version, or before the list was
    narrowed) is left out too, until it is changed or deleted through the API."""
    taken = set(skip)
    out: list[Integration] = []
    for sealed in await _stored_rows(store):
        key = (sealed["channel"], sealed["label"])
        if key in taken:
            log.warning(
                "stored integration %s/%s is shadowed by the config file's integration of the same name", *key
            )
            continue
        try:
            row = _opened(store, sealed)
            integration, warnings = build_integration(
                integration_mapping(row), registry, "stored integration", source="store"
            )
        except SecretKeyError as exc:
            log.error("stored integration %s/%s cannot start: %s", *key, exc)
            continue
        except ConfigError as exc:
            log.error("stored integration %s/%s cannot start: %s", row["channel"], row["label"], exc)
            continue
        refusal = (
            api_refusal(integration.config, allowed_hosts, integration.handoff)
            if allowed_hosts is not None
            else None
        )
        if refusal is not None:
            log.error(
                "stored integration %s/%s is not started: %s (change it with PATCH or remove it with DELETE "
                "on /api/v1/integrations/%s/%s)",
                *key,
                refusal,
                *key,
            )
            continue
        for warning in warnings:
            log.warning(warning)
        out.append(integration)
    return out


async def rotate_secrets(store: Database, namespaces: Iterable[str]) -> dict[str, int]:
    """Re-encrypt every stored secret with the first key (``channelgate secrets rotate``), and encrypt
    those an earlier version stored in clear: stored integrations, and key-values sealed already or under
    a channel's namespace (``<channel>:``, where channels keep theirs). One transaction: a key that does
    not open one value changes nothing."""
    prefixes = tuple(f"{name}:" for name in namespaces)
    counts = {"integrations": 0, "key_values": 0}
    async with store.tx() as conn:
        rows = (await conn.execute(select(stored_integrations))).mappings().all()
        for row in rows:
            stored = row["config"]
            if isinstance(stored, dict) and isinstance(stored.get(SEALED), str):
                new = {SEALED: store.secrets.rotate(stored[SEALED])}
            else:
                new = seal_config(store, stored or {})
            await conn.execute(
                update(stored_integrations)
                .where(
                    stored_integrations.c.channel == row["channel"],
                    stored_integrations.c.label == row["label"],
                )
                .values(config=new)
            )
            counts["integrations"] += 1
        counts["key_values"] = await keyvalue.reseal(conn, store.secrets, prefixes)
    return counts
