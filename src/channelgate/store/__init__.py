"""Durable state: SQLite embedded, PostgreSQL for replicas; one API (see store.py)."""

from channelgate.store.store import Accepted, NewOutbound, Store, StoreKeyValue, async_url

__all__ = ["Accepted", "NewOutbound", "Store", "StoreKeyValue", "async_url"]
