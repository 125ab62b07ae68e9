"""Durable state: SQLite embedded, PostgreSQL for replicas; one repository per stored thing, and the
``Store`` facade over them (see store.py)."""

from channelgate.store import admin_tables  # noqa: F401  (the admin API's tables, made by create_schema)
from channelgate.store.rows import ConversationRow, DeliveryRow, TurnRow
from channelgate.store.store import Accepted, NewOutbound, Store, StoreKeyValue, async_url

__all__ = [
    "Accepted",
    "ConversationRow",
    "DeliveryRow",
    "NewOutbound",
    "Store",
    "StoreKeyValue",
    "TurnRow",
    "async_url",
]
