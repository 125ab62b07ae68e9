"""The store's tables (SQLAlchemy Core), the same for SQLite and PostgreSQL.

Times are epoch seconds (float): portable across both engines and cheap to compare.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for a long-lived queue.
Id = BigInteger().with_variant(Integer(), "sqlite")

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("label", String(64), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("user_name", String(255)),
    Column("locale", String(35), nullable=False),
    Column("profile_fetched", Boolean, nullable=False, default=False),
    Column("last_inbound_at", Float),
    Column("last_platform_message_id", String(255)),
    Column("lease_owner", String(64)),
    Column("lease_until", Float),
    Column("state", JSON),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("channel", "label", "user_id", name="uq_conversation_user"),
)

# One row per accepted platform event; the unique key is what makes a redelivered webhook a no-op.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("label", String(64), nullable=False),
    Column("dedup_key", String(512), nullable=False),
    Column("conversation_id", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # message | status | event (proactive, from the API)
    Column("input", JSON),
    Column("raw", JSON),
    Column("platform_message_id", String(255)),
    Column("locale_hint", String(35)),
    Column("status", String(16), nullable=False),  # pending | done | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("done_at", Float),
    UniqueConstraint("channel", "label", "dedup_key", name="uq_inbox_dedup"),
)
Index("ix_inbox_pending", inbox.c.status, inbox.c.conversation_id, inbox.c.id)
Index("ix_inbox_conversation", inbox.c.conversation_id, inbox.c.id)
# the retention job's scan (store/retention.py): finished turns oldest first; pending ones have no done_at
Index("ix_inbox_finished", inbox.c.done_at)

# What the gateway sends, in order per conversation. ``held`` rows wait for a passive reply decision.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", String(32), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("label", String(64), nullable=False),
    Column("inbox_id", BigInteger),
    Column("request_id", String(64)),  # groups the messages of one API send call
    Column("idempotency_key", String(255)),
    Column("kind", String(16), nullable=False),
    Column("best_effort", Boolean, nullable=False, default=False),
    Column("body", JSON, nullable=False),
    Column("fallback", JSON),
    Column("summary", Text),
    Column("status", String(16), nullable=False),  # held|queued|sending|sent|delivered|read|failed|dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", Float),
    Column("platform_message_id", String(255)),
    Column("reason", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("sent_at", Float),
    # when the message's retry budget started: NULL for its creation; a replay or the end of a
    # credentials pause starts it again (delivery.py)
    Column("retry_since", Float),
    # best-effort actions (read mark, typing) sent just before this message, in order, each
    # {"kind", "body", "summary"}: folded onto the reply they announce rather than rows of their own
    # (outbox.fold); NULL for none
    Column("before", JSON),
)
Index("ix_outbox_due", outbox.c.status, outbox.c.next_attempt_at)
Index("ix_outbox_conversation", outbox.c.conversation_id, outbox.c.id)
# "is anything earlier of this conversation still waiting or in flight?" (the delivery claim), answered from
# the index without reading the conversation's sent history, however long it is
Index("ix_outbox_line", outbox.c.conversation_id, outbox.c.status, outbox.c.id)
Index("ix_outbox_platform_id", outbox.c.channel, outbox.c.label, outbox.c.platform_message_id)
Index("ix_outbox_request", outbox.c.request_id)
# the retention job's scan (store/retention.py): each finished status, oldest first
Index("ix_outbox_finished", outbox.c.status, outbox.c.updated_at)

# Shared state: platform tokens (WeChat access token, Google OAuth), cached media ids, cross-replica locks.
kv = Table(
    "kv",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("expires_at", Float),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# The (timestamp, nonce) of each integration's recent signed webhooks and a digest of the message that came
# with them (WeChat's replay cache, store/replay.py), kept while the timestamp still passes the clock check.
seen_nonces = Table(
    "seen_nonces",
    metadata,
    Column("scope", String(130), primary_key=True),  # channel:label
    Column("timestamp", BigInteger, primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)
Index("ix_seen_nonces_expiry", seen_nonces.c.expires_at)

# The replicas alive now (shares.py): each one's heartbeat, by the database's clock so that replicas on
# machines whose clocks differ agree on who is alive, and the number of replicas it divides its limits by.
replicas = Table(
    "replicas",
    metadata,
    Column("owner", String(64), primary_key=True),
    Column("share_of", Integer, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)
