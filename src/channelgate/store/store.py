"""The store as the gateway uses it: one object over the repositories of this package.

Each repository owns one kind of stored thing and its statements: conversations.py (users and their
leases), inbox.py (accepted events and turns), outbox.py (queued messages), deliveries.py (the delivery
worker's claims on them), dead_letters.py, keyvalue.py (shared values and locks; replay.py holds the
replay cache). The connection, transactions and SQLite's single writer are database.py's. The admin API's
tables (keys.py, integrations.py, idempotency.py, broadcasts.py) are reached through admin.py.

:class:`Store` is the database and one of each repository; callers use the repository that owns what they
need (``store.deliveries.claim(...)``, ``store.conversations.find(...)``), and a part that needs only one
takes only that one (the delivery worker's credential pauses take :class:`Deliveries`). What spans
repositories stays here (:meth:`Store.depths`).
"""

from __future__ import annotations

from typing import Literal

from channelgate.store.conversations import Conversations
from channelgate.store.database import Database, async_url
from channelgate.store.dead_letters import DeadLetters
from channelgate.store.deliveries import Deliveries
from channelgate.store.handoffs import Handoffs
from channelgate.store.inbox import STATUS_BATCH, Accepted, Inbox
from channelgate.store.keyvalue import KeyValues, StoreKeyValue
from channelgate.store.outbox import FINAL, STATUS_RANK, NewOutbound, Outbox
from channelgate.store.replicas import Replicas
from channelgate.store.secret_box import SecretBox

__all__ = [
    "FINAL",
    "STATUS_BATCH",
    "STATUS_RANK",
    "Accepted",
    "NewOutbound",
    "Store",
    "StoreKeyValue",
    "async_url",
]


class Store(Database):
    """The database (see :class:`~channelgate.store.database.Database` for ``synchronous`` and
    ``secrets``) and its repositories: ``conversations``, ``inbox``, ``outbox``, ``deliveries``,
    ``dead_letters``, ``kv``, ``handoffs``, ``replicas``."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        synchronous: Literal["normal", "full"] = "normal",
        secrets: SecretBox | None = None,
    ) -> None:
        super().__init__(url, echo=echo, synchronous=synchronous, secrets=secrets)
        self.conversations = Conversations(self)
        self.inbox = Inbox(self)
        self.outbox = Outbox(self)
        self.deliveries = Deliveries(self)
        self.dead_letters = DeadLetters(self)
        self.kv = KeyValues(self)
        self.handoffs = Handoffs(self)
        self.replicas = Replicas(self)

    # --- reading ---

    async def depths(self) -> dict[str, int]:
        """Queue depths for metrics and backpressure."""
        pending = await self.inbox.pending()
        queued, dead = await self.outbox.counts()
        return {"inbox_pending": pending, "outbox_pending": queued, "outbox_dead": dead}
