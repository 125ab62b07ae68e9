"""RCS for Business (RBM, formerly RCS Business Messaging): Google's remaining business-messaging API.

It uses the same agent-message model as Google Business Messages, so the two channels share their rendering
(``google_agent``); a GBM integration moves here by changing ``channel: gbm`` to ``channel: rbm`` and the
config keys. Users are phone numbers (E.164).

* Webhook verification: a POST ``{"clientToken": ..., "secret": ...}``; answered ``200`` with the secret as
  plain text when the client token matches, else ``403`` (Google's webhook guide).
* Authenticity: events arrive in the Pub/Sub push shape, ``{"message": {"data": <base64>, ...}}``, where
  ``data`` is the JSON of a ``UserMessage`` or ``UserEvent``. ``X-Goog-Signature`` is the base64
  HMAC-SHA512 of the **decoded** ``message.data`` bytes keyed with the client token (the published Node.js
  sample in the webhook guide decodes ``message.data`` and signs those bytes). It is checked before the
  event is parsed: missing → 401, wrong or uncheckable → 403.
* Inbound: text, suggestion taps (→ postback), shared locations, files (→ media by URL); ``DELIVERED`` and
  ``READ`` events → statuses (dedup on ``eventId`` + phone number, as the reference says); ``SUBSCRIBE`` /
  ``UNSUBSCRIBE`` → events; ``IS_TYPING`` is ignored; a message that expired and was revoked
  (``TTL_EXPIRATION_REVOKED``) → failed; anything else is skipped with its reason (logged and counted).
* Outbound: ``POST {api_base_url}/phones/{E.164}/agentMessages?messageId=UUID&agentId=...`` with an
  ``AgentMessage`` (``contentMessage``: text, rich card, media, suggestions). The message id is fixed at
  render time, so retries reuse it and the platform ignores the duplicate. A reply is preceded by a READ
  event for the user's message and an ``IS_TYPING`` event (``agentEvents``), both best effort.
* RBM's ``AgentContentMessage`` has no ``fallback`` field (unlike GBM): a device without RCS is reached by
  the partner's own SMS fallback, which is outside this API. The fallback text is still built, for the
  transcript summary.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field, SecretStr, field_validator

from channelgate.channels.base import (
    BadRequest,
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Forbidden,
    InboundEvent,
    InboundMessage,
    Outbound,
    RenderContext,
    SendRefused,
    SendResult,
    StatusName,
    StatusUpdate,
    Unauthorized,
    Verified,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.gbm import normalise_base_url
from channelgate.channels.google_agent import (
    SIGNATURE_HEADER,
    AgentRenderer,
    Dialect,
    GoogleAPI,
    TokenSource,
    as_dict,
    as_str,
    check_key,
    check_signature,
    new_id,
    parse_time,
    path_segment,
    verification_answer,
)
from channelgate.channels.inbound import SkipEvent, each, load_json, skips_of
from channelgate.messages import UniversalMessage
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

log = logging.getLogger("channelgate.channels.rbm")

DEFAULT_API_BASE_URL = "https://rcsbusinessmessaging.googleapis.com/v1"
SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"

DIALECT = Dialect(
    product="rbm",
    suggestions_max=11,
    media_kinds=frozenset({"image", "video", "audio", "file"}),
    media_key="contentInfo",
    card_orientation=True,
    alt_text=False,
    view_location=True,
    dial_e164=True,
)

MediaKind = Literal["image", "video", "audio", "file"]
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_STATUSES: dict[str, StatusName] = {"DELIVERED": "delivered", "READ": "read"}


class RBMConfig(ChannelConfig):
    agent_id: str = Field(min_length=1, description="The agent's id (the part before @rbm.goog).")
    service_account: SecretStr = Field(
        description="The service-account key that calls the RBM API: a path to the JSON key file, or the "
        "key's JSON itself."
    )
    client_token: SecretStr = Field(
        description="The clientToken the developer console shows for the webhook; it answers the "
        "verification and keys X-Goog-Signature."
    )
    api_base_url: str = Field(
        default=DEFAULT_API_BASE_URL, description="RBM API base URL (or a regional one)."
    )

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "api_base_url": (
            "rcsbusinessmessaging.googleapis.com",
            "europe-rcsbusinessmessaging.googleapis.com",
            "asia-rcsbusinessmessaging.googleapis.com",
        )
    }
    inline_only: ClassVar[frozenset[str]] = frozenset({"service_account"})

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return normalise_base_url(value)

    @field_validator("agent_id")
    @classmethod
    def _agent_id(cls, value: str) -> str:
        """The console shows ``myagent@rbm.goog``; the API's ``agentId`` is the part before ``@``."""
        agent = value.strip().split("@", 1)[0]
        if not agent:
            raise ValueError("agent_id is empty (the part of myagent@rbm.goog before the @)")
        return agent


def push_data(body: bytes) -> bytes | None:
    """The decoded ``message.data`` of a push body, or None when the body does not carry one."""
    try:
        outer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    data = as_str(as_dict(as_dict(outer).get("message")).get("data"))
    if data is None:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:  # some push senders use the URL-safe alphabet, which Node's decoder also accepts
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None


def _same_agent(configured: str, given: str) -> bool:
    return configured.split("@", 1)[0] == given.split("@", 1)[0]


class RBMChannel(Channel[RBMConfig]):
    name: ClassVar[str] = "rbm"
    title: ClassVar[str] = "RCS for Business"
    Config: ClassVar[type[ChannelConfig]] = RBMConfig
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=3072, quick_replies_max=11, buttons_max=4, send_rate=20.0, send_concurrency=16
    )

    def __init__(self, config: RBMConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.tokens = TokenSource(ctx, config.service_account, SCOPE, product="RCS for Business")
        self.api = GoogleAPI(ctx, self.tokens, "RCS for Business")

    @classmethod
    def check_config(cls, config: RBMConfig) -> list[str]:
        if not config.client_token.get_secret_value():
            raise ValueError("client_token is required to verify the webhook and its X-Goog-Signature")
        check_key(config.service_account, config.api_base_url)
        return []

    # --- inbound ---

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        return verification_answer(request, self.config.client_token)

    def authenticate(self, request: WebhookRequest) -> Verified:
        header = request.header(SIGNATURE_HEADER)
        if not header:
            raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
        data = push_data(request.body)
        if data is None:
            raise Forbidden(f"{SIGNATURE_HEADER} cannot be checked: the body carries no base64 message.data")
        check_signature(data, header, self.config.client_token)
        return Verified(request.body)

    def parse(self, request: WebhookRequest, verified: Verified | None = None) -> list[InboundEvent]:
        data = push_data(request.body)
        if data is None:
            raise BadRequest("the body carries no base64 message.data")
        event = load_json(data, "message.data")
        if not isinstance(event, dict):
            raise BadRequest("message.data is not a JSON object")
        agent = as_str(event.get("agentId"))
        if agent is None or not _same_agent(self.config.agent_id, agent):
            # Skipped, not refused: one partner webhook may serve every agent, and Google holds the whole
            # partner queue back while a webhook answers non-2xx. Fails closed: no agentId, no event.
            skips_of(request).add(
                f"event for agent {(agent or 'none')[:128]!r}, not this integration's {self.config.agent_id}"
            )
            return []
        return each(request, [event], _event if "eventType" in event else _user_message, "event")

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        if not E164.match(ctx.user_id):
            raise SendRefused(f"RCS for Business users are E.164 phone numbers; {ctx.user_id!r} is not one")
        rendered = AgentRenderer(DIALECT, ctx).render(messages)
        outbounds = [self._message(ctx.user_id, r.content, r.summary) for r in rendered]
        if outbounds and ctx.reply_to is not None:
            outbounds = [
                self._event(ctx.user_id, {"eventType": "READ", "messageId": ctx.reply_to}),
                self._event(ctx.user_id, {"eventType": "IS_TYPING"}),
                *outbounds,
            ]
        return outbounds

    def _message(self, msisdn: str, content: dict[str, Any], summary: str) -> Outbound:
        agent_message = dict(content) if "contentMessage" in content else {"contentMessage": content}
        body = {"msisdn": msisdn, "messageId": new_id(), "agentMessage": agent_message}
        return Outbound(body=body, summary=summary)

    def _event(self, msisdn: str, event: dict[str, Any]) -> Outbound:
        body = {"msisdn": msisdn, "eventId": new_id(), "agentEvent": event}
        summary = "read receipt" if event["eventType"] == "READ" else "typing"
        return Outbound(body=body, kind="action", best_effort=True, summary=summary)

    async def send(self, outbound: Outbound) -> SendResult:
        body = outbound.body
        base = f"{self.config.api_base_url}/phones/{path_segment(str(body['msisdn']), safe='+')}"
        if "agentEvent" in body:
            params = {"eventId": str(body["eventId"]), "agentId": self.config.agent_id}
            await self.api.post(f"{base}/agentEvents", json=body["agentEvent"], params=params)
            return SendResult()
        params = {"messageId": str(body["messageId"]), "agentId": self.config.agent_id}
        await self.api.post(f"{base}/agentMessages", json=body["agentMessage"], params=params)
        return SendResult(platform_message_id=str(body["messageId"]))


def _user_message(event: dict[str, Any]) -> list[InboundEvent]:
    sender = as_str(event.get("senderPhoneNumber"))
    # A suggestion tap is a UserEvent in Google's own example: an eventId and no messageId. Its eventId is
    # the dedup key then; without it the tap was dropped in silence.
    message_id = as_str(event.get("messageId"))
    key = message_id or as_str(event.get("eventId"))
    if sender is None or key is None:
        raise SkipEvent(f"no senderPhoneNumber, or neither messageId nor eventId (fields: {sorted(event)})")
    input = _user_input(event)
    if input is None:
        raise SkipEvent(f"message {key[:128]} has no content this channel reads (fields: {sorted(event)})")
    return [
        InboundMessage(
            dedup_key=key,
            user=User(id=sender),
            input=input,
            raw=event,
            platform_message_id=message_id,
            timestamp=parse_time(event.get("sendTime")),
        )
    ]


def _user_input(event: dict[str, Any]) -> Input | None:
    text = as_str(event.get("text"))
    if text is not None:
        return TextInput(text=text)
    suggestion = as_dict(event.get("suggestionResponse"))
    if suggestion:
        title = as_str(suggestion.get("text"))
        payload = as_str(suggestion.get("postbackData")) or title
        return PostbackInput(payload=payload, title=title) if payload else None
    location = as_dict(event.get("location"))
    latitude, longitude = location.get("latitude"), location.get("longitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        return LocationInput(latitude=float(latitude), longitude=float(longitude))
    file = as_dict(as_dict(event.get("userFile")).get("payload"))
    uri = as_str(file.get("fileUri"))
    if uri is not None:
        mime = as_str(file.get("mimeType"))
        return MediaInput(kind=_media_kind(mime), url=uri, mime_type=mime)
    return None


def _media_kind(mime: str | None) -> MediaKind:
    major = (mime or "").split("/", 1)[0]
    if major == "image":
        return "image"
    if major == "video":
        return "video"
    return "audio" if major == "audio" else "file"


def _event(event: dict[str, Any]) -> list[InboundEvent]:
    event_type = as_str(event.get("eventType")) or ""
    if event_type in _STATUSES:
        sender, event_id = as_str(event.get("senderPhoneNumber")), as_str(event.get("eventId"))
        message_id = as_str(event.get("messageId"))
        if sender is None or event_id is None:
            raise BadRequest(f"{event_type} event without senderPhoneNumber or eventId")
        return [
            StatusUpdate(
                dedup_key=f"{event_id}:{sender}",
                user_id=sender,
                status=_STATUSES[event_type],
                platform_message_id=message_id,
                raw=event,
            )
        ]
    if event_type == "TTL_EXPIRATION_REVOKED":
        phone, event_id = as_str(event.get("phoneNumber")), as_str(event.get("eventId"))
        if phone is None or event_id is None:
            raise BadRequest("TTL_EXPIRATION_REVOKED event without phoneNumber or eventId")
        return [
            StatusUpdate(
                dedup_key=f"{event_id}:{phone}",
                user_id=phone,
                status="failed",
                platform_message_id=as_str(event.get("messageId")),
                reason="the message expired before delivery and was revoked",
                raw=event,
            )
        ]
    if event_type in _SUBSCRIPTIONS:
        return [_subscription(event, event_type)]
    if event_type in _QUIET_EVENTS:
        return []  # nothing for the bot to answer, nothing to record (see _QUIET_EVENTS)
    raise SkipEvent(f"event type {event_type[:64]!r} is not one this channel reads")


#: User events that are the user's choice: an ``event`` input each (RBM's user-events guide: "User
#: unsubscribes from the conversation" / "User resubscribes to the conversation"). The names match WeChat's.
_SUBSCRIPTIONS = {"SUBSCRIBE": "subscribed", "UNSUBSCRIBE": "unsubscribed"}
#: Events with nothing in them for a bot: a typing indicator, and an expired message whose revocation
#: failed (it may still be delivered; a DELIVERED event follows if it is).
_QUIET_EVENTS = frozenset({"IS_TYPING", "TTL_EXPIRATION_REVOKE_FAILED"})


def _subscription(event: dict[str, Any], event_type: str) -> InboundEvent:
    sender, event_id = as_str(event.get("senderPhoneNumber")), as_str(event.get("eventId"))
    if sender is None or event_id is None:
        raise SkipEvent(f"{event_type} event without senderPhoneNumber or eventId")
    data = {k: v for k, v in event.items() if k not in ("senderPhoneNumber", "agentId", "eventType")}
    return InboundMessage(
        dedup_key=f"{event_id}:{sender}",
        user=User(id=sender),
        input=EventInput(name=_SUBSCRIPTIONS[event_type], data=data or None),
        raw=event,
        timestamp=parse_time(event.get("sendTime")),
    )
