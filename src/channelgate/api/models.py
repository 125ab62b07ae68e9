"""Request and response bodies of the admin API. They are the OpenAPI document: keep them precise.

Requests refuse unknown fields (a typo names itself in the 400), responses say exactly what they carry.
Messages are the universal messages of :mod:`channelgate.messages`, validated by the same models bots use.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from channelgate.messages import Template, UniversalMessage

CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
LABEL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ID_PATTERN = r"^[0-9a-f]{1,32}$"
#: Platform user ids: printable, no control characters (they end up in URLs and SQL).
USER_PATTERN = r"^[^\x00-\x1f\x7f]{1,255}$"
IDEMPOTENCY_PATTERN = r"^[\x21-\x7e]{1,255}$"

PublicStatus = Literal["queued", "sent", "delivered", "read", "failed"]
RecipientStatus = Literal["pending", "queued", "sent", "delivered", "read", "failed", "cancelled"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- integrations ---------------------------------------------------------------------------------------


class IntegrationHealth(BaseModel):
    status: Literal["ok", "failing"]
    message: str
    insecure: dict[str, str] = Field(
        default_factory=dict,
        description="settings that switch a security check off (config-file integrations only), and why "
        "that matters",
    )


class IntegrationOut(BaseModel):
    """An integration. Secret settings are shown as ``"***"``."""

    channel: str
    label: str
    locale: str
    source: Literal["config", "store"] = Field(
        description="config: from the config file (read-only here); store: created through this API"
    )
    read_only: bool
    callback_url: str = Field(description="The webhook URL to paste into the platform")
    auto_detect: bool
    language_command: bool
    config: dict[str, Any] = Field(description="The channel's settings, secrets masked as ***")
    handoff: dict[str, Any] | None = Field(
        default=None,
        description="The integration's hand-off settings (docs/handoff.md), secrets masked as ***; null: "
        "users cannot ask for a person and there is no desk",
    )
    health: IntegrationHealth


class IntegrationCreated(IntegrationOut):
    setup: dict[str, str] = Field(
        description="What to paste into the platform next to the callback URL (e.g. verify_token), and "
        "into the desk (chatwoot_webhook_url, when the hand-off has a Chatwoot desk), in clear"
    )


class IntegrationUpdated(IntegrationOut):
    setup: dict[str, str] | None = Field(
        default=None,
        description="Given when the change set the hand-off: what to paste into the desk "
        "(chatwoot_webhook_url, in clear; it changes with the access token)",
    )


class IntegrationList(BaseModel):
    items: list[IntegrationOut]


class ChannelInfo(BaseModel):
    """An installed channel and the settings an integration of it takes."""

    name: str
    title: str
    required: list[str] = Field(description="Settings an integration must give")
    secrets: list[str] = Field(description="Settings shown as *** once stored")
    setup_fields: list[str] = Field(description="Settings to paste into the platform, returned by the create")
    config_schema: dict[str, Any] = Field(description="JSON Schema of the channel's settings")


class ChannelList(BaseModel):
    items: list[ChannelInfo]
    broken: dict[str, str] = Field(description="Channel packages that failed to load, with the reason")


class IntegrationCreate(_Request):
    channel: str = Field(
        pattern=CHANNEL_PATTERN, description="An installed channel: messenger, whatsapp, ..."
    )
    label: str = Field(
        pattern=LABEL_PATTERN, description="Unique within the channel; part of the callback URL"
    )
    locale: str = Field(default="en-US", min_length=2, max_length=35)
    auto_detect: bool = False
    language_command: bool = True
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="The channel's settings, as in the config file (a verify_token is generated if needed)",
    )
    handoff: dict[str, Any] | None = Field(
        default=None,
        description="The integration's handoff: key, as in the config file: {chatwoot: {url, account_id, "
        "inbox_id, api_access_token, webhook_secret?}, user_request, messenger_inbox, ...} (docs/handoff.md)",
    )


class IntegrationUpdate(_Request):
    locale: str | None = Field(default=None, min_length=2, max_length=35)
    auto_detect: bool | None = None
    language_command: bool | None = None
    config: dict[str, Any] | None = Field(
        default=None,
        description="Settings merged over the current ones; *** keeps a secret as it is, null removes a key",
    )
    handoff: dict[str, Any] | None = Field(
        default=None,
        description="Replaces the whole handoff: key (send back what GET gave: *** keeps a stored secret); "
        "null removes it; absent leaves it as it is",
    )


# --- conversations --------------------------------------------------------------------------------------


class ConversationOut(BaseModel):
    id: str
    channel: str
    label: str
    user_id: str
    user_name: str | None
    locale: str
    last_inbound_at: float | None = Field(
        description="The user's last message (epoch seconds): opens windows"
    )
    created_at: float
    updated_at: float
    handled_by: Literal["bot", "agent"] = Field(
        default="bot", description="Who answers the user now: the bot, or a person (docs/handoff.md)"
    )


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class TranscriptEntry(BaseModel):
    """One line of a transcript: what the user sent (``in``) or what the gateway sent (``out``)."""

    direction: Literal["in", "out"]
    id: int
    at: float
    kind: str = Field(description="in: message | event; out: message | action")
    status: str = Field(
        description="in: pending | done | failed; out: queued | sent | delivered | read | failed"
    )
    reason: str | None = Field(description="Why a turn or a delivery failed")
    input: dict[str, Any] | None = Field(default=None, description="in: the input the bot got")
    summary: str | None = Field(default=None, description="out: a short text of the payload")
    body: dict[str, Any] | None = Field(default=None, description="out: the platform payload")
    request_id: str | None = Field(default=None, description="out: the API send call or broadcast")
    platform_message_id: str | None = None


class ConversationDetail(ConversationOut):
    transcript: list[TranscriptEntry]
    next_cursor: str | None = Field(description="The next page of the transcript")


class ConversationDeleted(BaseModel):
    id: str
    deleted: dict[str, int] = Field(
        description="Rows deleted by table: conversations, inbox (what the user sent), outbox (what was "
        "or would have been sent), broadcast_recipients"
    )


# --- messages -------------------------------------------------------------------------------------------


class SendOptions(_Request):
    tag: str | None = Field(
        default=None, max_length=64, description="Messenger message tag for sends outside the 24-hour window"
    )
    template_fallback: Template | None = Field(
        default=None, description="Sent instead when the window has closed (WhatsApp, WeChat)"
    )
    idempotency_key: str | None = Field(
        default=None,
        pattern=IDEMPOTENCY_PATTERN,
        description="Retries with the same key and body get the same answer and send nothing twice",
    )

    def render_options(self) -> dict[str, Any]:
        return {"tag": self.tag, "template_fallback": self.template_fallback}


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


#: An optional field that, when present, is not null: the JSON Schema says "absent or a value", matching
#: the oneOf rules below (JSON Schema's ``required`` counts a null as present).
NotNull = BeforeValidator(_not_null)
ChannelName = Annotated[str, Field(pattern=CHANNEL_PATTERN)]
LabelName = Annotated[str, Field(pattern=LABEL_PATTERN)]
UserId = Annotated[str, Field(pattern=USER_PATTERN, description="The platform's user id")]
ConversationId = Annotated[str, Field(pattern=ID_PATTERN)]


def _exactly_one(first: list[str], second: list[str]) -> dict[str, Any]:
    """JSON Schema for "the fields of ``first`` or those of ``second``, not both"."""
    return {
        "oneOf": [
            {"required": first, "not": {"required": second[:1]}},
            {"required": second, "not": {"required": first[:1]}},
        ]
    }


class SendRequest(_Request):
    """One user by ``channel``, ``label`` and ``user_id``, or one conversation by ``conversation_id``."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_exactly_one(["user_id", "channel", "label"], ["conversation_id"])
    )

    channel: Annotated[ChannelName | SkipJsonSchema[None], NotNull] = None
    label: Annotated[LabelName | SkipJsonSchema[None], NotNull] = None
    user_id: Annotated[UserId | SkipJsonSchema[None], NotNull] = None
    conversation_id: Annotated[ConversationId | SkipJsonSchema[None], NotNull] = None
    messages: list[UniversalMessage] = Field(min_length=1, max_length=50)
    options: SendOptions = Field(default_factory=SendOptions)

    @model_validator(mode="after")
    def _one_recipient(self) -> SendRequest:
        if (self.user_id is None) == (self.conversation_id is None):
            raise ValueError("give either user_id (with channel and label) or conversation_id")
        if self.user_id is not None and (self.channel is None or self.label is None):
            raise ValueError("channel and label are required with user_id")
        return self


class SendAccepted(BaseModel):
    request_id: str
    conversation_id: str
    message_ids: list[int]


class MessageStatus(BaseModel):
    id: int
    request_id: str | None
    conversation_id: str
    channel: str
    label: str
    kind: str
    status: PublicStatus
    reason: str | None = Field(description="Why it failed (or the last retry's reason while queued)")
    dead_letter: bool = Field(description="Failed after its last try; can be replayed")
    summary: str | None
    attempts: int
    platform_message_id: str | None
    created_at: float
    updated_at: float
    sent_at: float | None


# --- proactive turns ------------------------------------------------------------------------------------


class EventRequest(_Request):
    name: str = Field(min_length=1, max_length=128, description="e.g. order_shipped")
    data: dict[str, Any] | None = None
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_PATTERN)


class EventAccepted(BaseModel):
    conversation_id: str
    turn_id: str


# --- hand-off -------------------------------------------------------------------------------------------


class HandoffRequestBody(_Request):
    note: str | None = Field(default=None, max_length=4000, description="For the agents (the desk shows it)")


class HandoffState(BaseModel):
    id: str
    handled_by: Literal["bot", "agent"]
    changed: bool = Field(description="False when the conversation was held so already")


class AgentMessagesRequest(_Request):
    messages: list[UniversalMessage] = Field(min_length=1, max_length=50)
    idempotency_key: str | None = Field(default=None, pattern=IDEMPOTENCY_PATTERN)


class AgentMessagesAccepted(BaseModel):
    conversation_id: str
    request_id: str
    message_ids: list[int]


# --- broadcasts -----------------------------------------------------------------------------------------


class BroadcastRecipientIn(_Request):
    user_id: str = Field(pattern=USER_PATTERN)
    parameters: list[Any] | None = Field(
        default=None, max_length=50, description="This recipient's template parameters"
    )


Recipients = Annotated[list[BroadcastRecipientIn], Field(min_length=1, max_length=10_000)]


class BroadcastFilter(_Request):
    """Every conversation of the integration, narrowed by these."""

    locale: str | None = Field(default=None, min_length=2, max_length=35)
    active_within: float | None = Field(
        default=None, gt=0, le=10 * 365 * 86400, description="Only users who wrote within this many seconds"
    )


class BroadcastRequest(_Request):
    """The audience is ``recipients`` or ``filter``; a user listed twice gets the broadcast once."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one(["recipients"], ["filter"]))

    channel: str = Field(pattern=CHANNEL_PATTERN)
    label: str = Field(pattern=LABEL_PATTERN)
    recipients: Annotated[Recipients | SkipJsonSchema[None], NotNull] = None
    filter: Annotated[BroadcastFilter | SkipJsonSchema[None], NotNull] = None
    message: UniversalMessage = Field(description="A universal message, usually a template")
    options: SendOptions = Field(default_factory=SendOptions)

    @model_validator(mode="after")
    def _one_audience(self) -> BroadcastRequest:
        if (self.recipients is None) == (self.filter is None):
            raise ValueError("give either recipients or filter")
        return self


class BroadcastAccepted(BaseModel):
    id: str
    status: Literal["running", "completed", "cancelled"]
    total: int


class BroadcastCounts(BaseModel):
    pending: int = 0
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    cancelled: int = 0


class BroadcastRecipientOut(BaseModel):
    id: int
    user_id: str
    conversation_id: str | None
    status: RecipientStatus
    reason: str | None
    message_ids: list[int]


class BroadcastSummary(BaseModel):
    id: str
    channel: str
    label: str
    status: Literal["running", "completed", "cancelled"]
    total: int
    created_at: float
    updated_at: float
    finished_at: float | None


class BroadcastOut(BroadcastSummary):
    message: dict[str, Any]
    counts: BroadcastCounts
    recipients: list[BroadcastRecipientOut]
    next_cursor: str | None = Field(description="The next page of recipients")


class BroadcastList(BaseModel):
    items: list[BroadcastSummary]
    next_cursor: str | None


# --- dead letters ---------------------------------------------------------------------------------------


class DeadLetter(BaseModel):
    id: int
    conversation_id: str
    channel: str
    label: str
    request_id: str | None
    summary: str | None
    reason: str | None
    attempts: int
    body: dict[str, Any]
    created_at: float
    updated_at: float


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]
    next_cursor: str | None
