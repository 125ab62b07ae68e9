"""Tables of the admin API: API keys, integrations created through the API, idempotent requests and
broadcasts. They live on the same ``metadata`` as the pipeline's tables, so ``Store.create_schema`` makes
them too, on SQLite and PostgreSQL alike.

Times are epoch seconds (float), as in tables.py.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from channelgate.store.tables import Id, metadata

# Only the SHA-256 of a key is kept: a leaked database does not leak working keys. ``prefix`` (the first
# characters of the key) lets a person tell keys apart in `channelgate keys list`.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("scope", String(8), nullable=False),  # read | full
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

# Integrations created through the API (those of the config file are never stored here). ``config`` holds
# the channel's settings as given, secrets included: the store must be protected like the config file.
stored_integrations = Table(
    "stored_integrations",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("label", String(64), primary_key=True),
    Column("locale", String(35), nullable=False),
    Column("config", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# The answer given to a request that carried an idempotency key, so that a retry gets the same answer and
# causes nothing twice. ``key`` is namespaced by the kind of request ("messages:<key>").
api_requests = Table(
    "api_requests",
    metadata,
    Column("key", String(320), primary_key=True),
    Column("body_hash", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

broadcasts = Table(
    "broadcasts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("label", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # running | completed | cancelled
    Column("message", JSON, nullable=False),
    Column("options", JSON),
    Column("total", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
)
Index("ix_broadcasts_status", broadcasts.c.status)

# One row per recipient. ``status`` is the broadcast worker's progress (pending | queued | refused |
# cancelled); once queued, what happened to the messages is read from the outbox rows in ``message_ids``.
broadcast_recipients = Table(
    "broadcast_recipients",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("broadcast_id", String(32), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("conversation_id", String(32)),
    Column("parameters", JSON),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("message_ids", JSON),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("broadcast_id", "user_id", name="uq_broadcast_recipient"),
)
Index(
    "ix_broadcast_recipients_status",
    broadcast_recipients.c.broadcast_id,
    broadcast_recipients.c.status,
    broadcast_recipients.c.id,
)

# Console operators (``channelgate console add-user``). ``password_hash`` is an argon2id hash (with its own
# salt and parameters); ``role`` is read | full, as for API keys.
operators = Table(
    "operators",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(8), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Console sign-ins. Only the SHA-256 of the session token is kept (the cookie holds the token), so a leaked
# database does not leak working sessions; ``csrf`` is the token every form of this session must carry.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("operator", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)
Index("ix_console_sessions_operator", console_sessions.c.operator)
