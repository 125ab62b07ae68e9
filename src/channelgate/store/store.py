"""The store as the gateway uses it: one object over the repositories of this package.

Each repository owns one kind of stored thing and its statements: conversations.py (users and their
leases), inbox.py (accepted events and turns), outbox.py (queued messages), deliveries.py (the delivery
worker's claims on them), dead_letters.py, keyvalue.py (shared values and locks; replay.py holds the
replay cache). The connection, transactions and SQLite's single writer are database.py's. The admin API's
tables (keys.py, integrations.py, idempotency.py, broadcasts.py) are reached through admin.py.

:class:`Store` keeps the method names the pipeline, the delivery worker, the gateway and the API call, each
delegating to its repository, and returns the rows typed by column (rows.py). New code may use the
repositories directly: ``store.deliveries.claim(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import Connection

from channelgate.channels.base import InboundMessage, StatusUpdate
from channelgate.store import outbox as outbox_rows
from channelgate.store.conversations import Conversations
from channelgate.store.database import Database, async_url
from channelgate.store.dead_letters import DeadLetters
from channelgate.store.deliveries import Deliveries
from channelgate.store.handoffs import Handoffs
from channelgate.store.inbox import STATUS_BATCH, Accepted, Inbox
from channelgate.store.keyvalue import KeyValues, StoreKeyValue
from channelgate.store.outbox import FINAL, STATUS_RANK, NewOutbound, Outbox
from channelgate.store.replicas import Replicas
from channelgate.store.rows import ConversationRow, DeliveryRow, Holder, NewDelivery, TurnRow
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

    # --- conversations ---

    async def conversation_for_user(
        self, channel: str, label: str, user_id: str, locale: str, name: str | None = None
    ) -> str:
        return await self.conversations.for_user(channel, label, user_id, locale, name)

    async def conversation(self, conversation_id: str) -> ConversationRow | None:
        return await self.conversations.get(conversation_id)

    async def conversation_for_turn(self, conversation_id: str) -> tuple[ConversationRow, Holder] | None:
        return await self.conversations.for_turn(conversation_id)

    async def find_conversation(self, channel: str, label: str, user_id: str) -> ConversationRow | None:
        return await self.conversations.find(channel, label, user_id)

    async def update_conversation(self, conversation_id: str, **values: Any) -> None:
        await self.conversations.update(conversation_id, **values)

    async def renew_lease(self, conversation_id: str, owner: str, lease: float) -> bool:
        return await self.conversations.renew_lease(conversation_id, owner, lease)

    async def release_conversation(self, conversation_id: str, owner: str) -> None:
        await self.conversations.release(conversation_id, owner)

    # --- accepting webhooks, and turns ---

    async def accept(
        self,
        channel: str,
        label: str,
        default_locale: str,
        messages: Sequence[InboundMessage],
        statuses: Sequence[StatusUpdate] = (),
        now: float | None = None,
        *,
        screened: bool = False,
    ) -> Accepted:
        return await self.inbox.accept(
            channel, label, default_locale, messages, statuses, now, screened=screened
        )

    async def add_event_turn(
        self, conversation_id: str, channel: str, label: str, input_json: dict[str, Any], dedup_key: str
    ) -> int | None:
        return await self.inbox.add_event_turn(conversation_id, channel, label, input_json, dedup_key)

    async def claimable_conversations(
        self, now: float, limit: int, among: Collection[str] | None = None
    ) -> list[str]:
        return await self.inbox.claimable_conversations(now, limit, among)

    async def claim_conversation(self, conversation_id: str, owner: str, lease: float) -> TurnRow | None:
        return await self.inbox.claim_conversation(conversation_id, owner, lease)

    async def complete_turn(
        self,
        turn_id: int,
        conversation_id: str,
        channel: str,
        label: str,
        outbounds: Iterable[NewOutbound],
        *,
        failed_reason: str | None = None,
        conversation_values: dict[str, Any] | None = None,
        request_id: str | None = None,
        owner: str | None = None,
        also: Callable[[Connection], object] | None = None,
    ) -> tuple[list[int], TurnRow | None]:
        return await self.inbox.complete_turn(
            turn_id,
            conversation_id,
            channel,
            label,
            outbounds,
            failed_reason=failed_reason,
            conversation_values=conversation_values,
            request_id=request_id,
            owner=owner,
            also=also,
        )

    async def retry_turn(self, turn_id: int, attempts: int, at: float, error: str) -> None:
        await self.inbox.retry_turn(turn_id, attempts, at, error)

    # --- queueing ---

    @staticmethod
    def insert_outbox(conn: Connection, rows: Iterable[NewDelivery]) -> list[int]:
        return outbox_rows.insert(conn, rows)

    @staticmethod
    def outbox_row(
        conversation_id: str,
        channel: str,
        label: str,
        item: NewOutbound,
        now: float,
        turn_id: int | None,
        request_id: str | None,
        idempotency_key: str | None = None,
    ) -> NewDelivery:
        return outbox_rows.new_row(
            conversation_id, channel, label, item, now, turn_id, request_id, idempotency_key
        )

    async def enqueue(
        self,
        conversation_id: str,
        channel: str,
        label: str,
        outbounds: Iterable[NewOutbound],
        request_id: str,
        idempotency_key: str | None = None,
    ) -> list[int]:
        return await self.outbox.enqueue(
            conversation_id, channel, label, outbounds, request_id, idempotency_key
        )

    async def unsent_before(self, conversation_id: str, outbox_id: int) -> bool:
        return await self.outbox.unsent_before(conversation_id, outbox_id)

    async def release_held(self, ids: Sequence[int], passive: int) -> None:
        await self.outbox.release_held(ids, passive)

    # --- delivery ---

    async def claim_deliveries(self, owner: str, now: float, limit: int, lease: float) -> list[DeliveryRow]:
        return list(await self.deliveries.claim(owner, now, limit, lease))

    async def claim_line(
        self, conversation_id: str, owner: str, now: float, lease: float, after: int = 0
    ) -> DeliveryRow | None:
        return await self.deliveries.claim_line(conversation_id, owner, now, lease, after)

    async def held_rows(self, ids: Sequence[int]) -> list[DeliveryRow]:
        return await self.deliveries.held(ids)

    async def mark_sent(self, outbox_id: int, platform_message_id: str | None, attempts: int) -> None:
        await self.deliveries.mark_sent(outbox_id, platform_message_id, attempts)

    async def renew_claim(self, outbox_id: int, owner: str, claimed_until: float, until: float) -> bool:
        return await self.deliveries.renew_claim(outbox_id, owner, claimed_until, until)

    async def unclaim(self, ids: Sequence[int]) -> None:
        await self.deliveries.unclaim(ids)

    async def mark_retry(
        self,
        outbox_id: int,
        conversation_id: str,
        attempts: int,
        at: float,
        reason: str,
        retry_since: float | None,
    ) -> None:
        await self.deliveries.mark_retry(outbox_id, conversation_id, attempts, at, reason, retry_since)

    async def resume_paused(self) -> int:
        return await self.deliveries.resume_paused()

    async def resume_deliveries(self, channel: str, label: str) -> int:
        return await self.deliveries.resume(channel, label)

    async def mark_failed(self, outbox_id: int, reason: str, attempts: int, *, dead: bool = False) -> None:
        await self.deliveries.mark_failed(outbox_id, reason, attempts, dead=dead)

    async def replay_dead_letter(self, message_id: int) -> bool:
        return await self.dead_letters.replay(message_id) is not None

    async def use_fallback(self, outbox_id: int, body: dict[str, Any], reason: str) -> None:
        await self.deliveries.use_fallback(outbox_id, body, reason)

    async def nudge(self, channel: str, label: str, user_id: str) -> int:
        return await self.deliveries.nudge(channel, label, user_id)

    async def recover(self, now: float, held_grace: float = 30.0) -> int:
        """Put back work whose worker died: expired sends, and replies held for a passive answer that
        never came. Turns need nothing: their conversation lease simply expires."""
        return await self.deliveries.recover(now, held_grace)

    # --- reading ---

    async def outbox_rows(self, conversation_id: str) -> list[DeliveryRow]:
        return await self.outbox.rows(conversation_id)

    async def inbox_rows(self, conversation_id: str) -> list[TurnRow]:
        return await self.inbox.rows(conversation_id)

    async def depths(self) -> dict[str, int]:
        """Queue depths for metrics and backpressure."""
        pending = await self.inbox.pending()
        queued, dead = await self.outbox.counts()
        return {"inbox_pending": pending, "outbox_pending": queued, "outbox_dead": dead}

    # --- shared key-values and locks (channels.base.KeyValue through StoreKeyValue) ---

    async def kv_get(self, key: str) -> str | None:
        return await self.kv.get(key)

    async def kv_set(self, key: str, value: str, ttl: float | None = None) -> None:
        await self.kv.set(key, value, ttl)

    async def try_lock(self, name: str, owner: str, ttl: float) -> bool:
        return await self.kv.try_lock(name, owner, ttl)

    async def unlock(self, name: str, owner: str) -> None:
        await self.kv.unlock(name, owner)
