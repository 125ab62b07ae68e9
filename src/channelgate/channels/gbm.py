"""Google Business Messages (GBM).

**Google shut GBM down on 31 July 2024** (no new conversations from 15 July 2024). The channel is built to
the documented protocol for businesses that still run the agent API, for migrations, and for tests; its
rendering is shared with RCS for Business (``rbm``), so moving is a config change (see
docs/channels/gbm.md).

* Webhook verification: Google POSTs ``{"clientToken": ..., "secret": ...}`` (JSON, or form-encoded);
  the gateway answers ``200`` with the secret only when the client token matches, else ``403``.
* Authenticity: ``X-Goog-Signature`` = base64 HMAC-SHA512 of the raw body keyed with the client token,
  checked before any parsing (missing → 401, wrong → 403).
* Inbound: ``message`` (text; an image by its URL), ``suggestionResponse`` (→ postback), ``userStatus``
  (typing is ignored, ``requestedLiveAgent`` → event), ``receipts`` (→ delivery statuses),
  ``surveyResponse`` (→ event). The user is the ``conversationId``.
* Outbound: ``POST {api_base_url}/conversations/{conversationId}/messages`` with a UUID ``messageId``
  fixed at render time (stored in the durable outbox, so a retry is idempotent: Google answers
  ``409 ALREADY_EXISTS`` for a message it already has), ``representative`` BOT, ``fallback`` text on
  every rich message, and typing events around a reply. Access tokens come from the service account.
* Agents may message a user for 30 days after the user's last message; proactive sends beyond that are
  refused before they are sent.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from channelgate.channels.base import (
    BadRequest,
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    InboundEvent,
    InboundMessage,
    Outbound,
    RenderContext,
    SendRefused,
    SendResult,
    StatusName,
    StatusUpdate,
    Verified,
    WebhookRequest,
    WebhookResponse,
)
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
    fallback_text,
    is_rich,
    last_segment,
    new_id,
    parse_time,
    path_segment,
    verification_answer,
)
from channelgate.channels.inbound import SkipEvent, array, each, skips_of
from channelgate.messages import UniversalMessage
from channelgate.turns import EventInput, Input, MediaInput, PostbackInput, TextInput, User

log = logging.getLogger("channelgate.channels.gbm")

DEFAULT_API_BASE_URL = "https://businessmessages.googleapis.com/v1"
SCOPE = "https://www.googleapis.com/auth/businessmessages"
#: agents may message a user up to 30 days after the user's last message
WINDOW_SECONDS = 30 * 24 * 3600.0

DIALECT = Dialect(
    product="gbm",
    suggestions_max=13,
    media_kinds=frozenset({"image"}),
    media_key="image",
    card_orientation=False,
    alt_text=True,
    view_location=False,
)

#: user images arrive as a link to Google's storage in ``message.text`` (seen in production integrations)
_IMAGE_URL = re.compile(r"^https://storage\.googleapis\.com/\S+$")
_RECEIPTS: dict[str, StatusName] = {"DELIVERED": "delivered", "READ": "read"}


def normalise_base_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise ValueError("api_base_url must start with https:// (or http:// for a local simulator)")
    return value


class GBMConfig(ChannelConfig):
    client_token: SecretStr = Field(
        description="The client token you chose for the webhook in the Business Communications console; "
        "it answers the verification and keys X-Goog-Signature."
    )
    service_account: SecretStr = Field(
        description="The service-account key that calls the Business Messages API: a path to the JSON key "
        "file, or the key's JSON itself."
    )
    api_base_url: str = Field(default=DEFAULT_API_BASE_URL, description="Business Messages API base URL.")
    representative_name: str | None = Field(default=None, description="Name shown with the bot's messages.")
    representative_avatar: str | None = Field(
        default=None, description="Public URL of the bot's avatar (1024x1024 px, at most 50 KB)."
    )
    agent_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,128}$",
        description="The agent's id (the last part of brands/BRAND/agents/AGENT): when set, events for "
        "another agent (a partner-level webhook, or a client token shared between agents) are skipped.",
    )

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "api_base_url": ("businessmessages.googleapis.com",)
    }
    link_fields: ClassVar[frozenset[str]] = frozenset({"representative_avatar"})
    inline_only: ClassVar[frozenset[str]] = frozenset({"service_account"})

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return normalise_base_url(value)


class GBMChannel(Channel[GBMConfig]):
    name: ClassVar[str] = "gbm"
    title: ClassVar[str] = "Google Business Messages"
    Config: ClassVar[type[ChannelConfig]] = GBMConfig
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=3072, quick_replies_max=13, buttons_max=4, send_rate=20.0, send_concurrency=16
    )
    setup_fields: ClassVar[tuple[str, ...]] = ("client_token",)

    def __init__(self, config: GBMConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.tokens = TokenSource(ctx, config.service_account, SCOPE, product="Business Messages")
        self.api = GoogleAPI(ctx, self.tokens, "Business Messages")

    @classmethod
    def check_config(cls, config: GBMConfig) -> list[str]:
        if not config.client_token.get_secret_value():
            raise ValueError("client_token is required to verify the webhook and its X-Goog-Signature")
        check_key(config.service_account, config.api_base_url)  # refuses a missing or broken key at start
        return ["Google Business Messages was shut down on 31 July 2024: only legacy agents still answer"]

    # --- inbound ---

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        return verification_answer(request, self.config.client_token)

    def authenticate(self, request: WebhookRequest) -> Verified:
        check_signature(request.body, request.header(SIGNATURE_HEADER), self.config.client_token)
        return Verified(request.body)

    def parse(self, request: WebhookRequest, verified: Verified | None = None) -> list[InboundEvent]:
        data = request.json()
        if not isinstance(data, dict):
            raise BadRequest("the body is not a JSON object")
        conversation_id = data.get("conversationId")
        if not isinstance(conversation_id, str) or not conversation_id:
            raise BadRequest("the event has no conversationId")
        agent = self.config.agent_id
        if agent is not None and last_segment(data.get("agent")) != agent:
            # skipped, not refused: a partner-level webhook serves every agent of the partner
            skips_of(request).add(f"event for agent {str(data.get('agent'))[:128]!r}, not {agent}")
            return []
        inbound = _Inbound(data, conversation_id)
        return each(request, [data], lambda _: inbound.events(), "event")

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        if ctx.proactive and not ctx.within(WINDOW_SECONDS):
            raise SendRefused(_window_reason(ctx))
        rendered = AgentRenderer(DIALECT, ctx).render(messages)
        outbounds = [self._message(ctx.user_id, r.content, r.summary, ctx) for r in rendered]
        if outbounds and not ctx.proactive:
            outbounds = [
                self._event(ctx.user_id, "TYPING_STARTED"),
                *outbounds,
                self._event(ctx.user_id, "TYPING_STOPPED"),
            ]
        return outbounds

    def _representative(self) -> dict[str, Any]:
        representative: dict[str, Any] = {"representativeType": "BOT"}
        if self.config.representative_name:
            representative["displayName"] = self.config.representative_name
        if self.config.representative_avatar:
            representative["avatarImage"] = self.config.representative_avatar
        return representative

    def _message(
        self, conversation_id: str, content: dict[str, Any], summary: str, ctx: RenderContext
    ) -> Outbound:
        message: dict[str, Any] = {"messageId": new_id(), "representative": self._representative()}
        message.update({k: v for k, v in content.items() if k not in ("messageId", "name")})
        if is_rich(message) and not message.get("fallback"):
            message["fallback"] = fallback_text(message, ctx.gettext)
        return Outbound(body={"conversationId": conversation_id, "message": message}, summary=summary)

    def _event(self, conversation_id: str, event_type: str) -> Outbound:
        body = {
            "conversationId": conversation_id,
            "eventId": new_id(),
            "event": {"eventType": event_type, "representative": self._representative()},
        }
        return Outbound(
            body=body, kind="action", best_effort=True, summary=event_type.lower().replace("_", " ")
        )

    async def send(self, outbound: Outbound) -> SendResult:
        body = outbound.body
        conversation = path_segment(str(body["conversationId"]))
        base = f"{self.config.api_base_url}/conversations/{conversation}"
        if "event" in body:
            await self.api.post(
                f"{base}/events", json=body["event"], params={"eventId": str(body["eventId"])}
            )
            return SendResult()
        message = body["message"]
        await self.api.post(f"{base}/messages", json=message)
        return SendResult(platform_message_id=str(message["messageId"]))


def _window_reason(ctx: RenderContext) -> str:
    if ctx.last_inbound_at is None:
        return "Google Business Messages only lets an agent write to a user who has written first"
    days = (ctx.now - ctx.last_inbound_at) / 86400
    return (
        "Google Business Messages only allows messages within 30 days of the user's last message "
        f"(the last one was {days:.0f} days ago)"
    )


#: The fields around a GBM event, not an event of their own.
_ENVELOPE = frozenset({"agent", "conversationId", "customAgentId", "requestId", "sendTime", "context"})


class _Inbound:
    """The events in one GBM webhook body (exactly one of message, suggestionResponse, userStatus,
    receipts and surveyResponse is documented per body; all present are read, in that order)."""

    def __init__(self, data: dict[str, Any], conversation_id: str) -> None:
        self.data = data
        self.conversation_id = conversation_id
        context = as_dict(data.get("context"))
        user_info = as_dict(context.get("userInfo"))
        self.user = User(id=conversation_id, name=as_str(user_info.get("displayName")))
        self.locale = as_str(user_info.get("userDeviceLocale")) or as_str(context.get("resolvedLocale"))
        self.request_id = as_str(data.get("requestId"))

    def events(self) -> list[InboundEvent]:
        events: list[InboundEvent] = []
        found = False
        for key, handler in (
            ("message", self._message),
            ("suggestionResponse", self._suggestion),
            ("userStatus", self._user_status),
            ("receipts", self._receipts),
            ("surveyResponse", self._survey),
        ):
            part = self.data.get(key)
            if isinstance(part, dict):
                events.extend(handler(part))
                found = True
        if not found:
            other = sorted(k for k in self.data if k not in _ENVELOPE)
            raise SkipEvent(f"no event this channel reads (fields: {', '.join(other)[:200] or 'none'})")
        return events

    def _inbound(self, key: str, input: Input, message_id: str | None, when: Any) -> InboundMessage:
        """An inbound turn. Taps and events carry no message id of their own; their dedup key stands in,
        so that the bot's answer is rendered as a reply (typing events, no 30-day check)."""
        return InboundMessage(
            dedup_key=key,
            user=self.user,
            input=input,
            raw=self.data,
            platform_message_id=message_id or key,
            locale_hint=self.locale,
            timestamp=parse_time(when) or parse_time(self.data.get("sendTime")),
        )

    def _event_key(self, kind: str, created: Any, *parts: Any) -> str:
        """A dedup key for events without a message id: a digest of the conversation, the event's own time
        and content (stable across redeliveries, and bounded whatever the postback's length), else
        Google's ``requestId``."""
        if not isinstance(created, str) or not created:
            if self.request_id:
                return self.request_id
            created = ""
        fields = [self.conversation_id, kind, created, *(str(p) for p in parts if p)]
        return f"{kind}:{hashlib.sha256(chr(31).join(fields).encode()).hexdigest()[:40]}"

    def _message(self, message: dict[str, Any]) -> list[InboundEvent]:
        message_id = as_str(message.get("messageId")) or last_segment(message.get("name"))
        if message_id is None:
            raise BadRequest("message has no messageId")
        text = as_str(message.get("text")) or ""
        url = as_str(as_dict(as_dict(message.get("image")).get("contentInfo")).get("fileUrl"))
        input: Input
        if url:
            input = MediaInput(kind="image", url=url)
        elif _IMAGE_URL.match(text.strip()):
            input = MediaInput(kind="image", url=text.strip())
        elif text:
            input = TextInput(text=text)
        else:
            log.info("gbm: message %s has no text or image; ignored", message_id)
            return []
        return [self._inbound(message_id, input, message_id, message.get("createTime"))]

    def _suggestion(self, response: dict[str, Any]) -> list[InboundEvent]:
        if isinstance(response.get("authenticationResponse"), dict):
            return [self._authentication(response)]
        text = as_str(response.get("text"))
        payload = as_str(response.get("postbackData")) or text
        if not payload:
            raise BadRequest("suggestionResponse has neither postbackData nor text")
        # ``message`` names the agent message that carried the suggestions, so it is not unique per tap
        created = response.get("createTime")
        key = self._event_key("suggestion", created, last_segment(response.get("message")), payload)
        input = PostbackInput(payload=payload, title=text or None)
        return [self._inbound(key, input, None, created)]

    def _authentication(self, response: dict[str, Any]) -> InboundMessage:
        """The user's answer to an authentication request (an OAuth ``code`` and ``redirectUri``, or
        ``errorDetails``): an ``authentication_response`` event with every field of the suggestion response,
        since the bot needs the code to finish the OAuth flow. It used to be a postback without the code,
        or refused when it had no postbackData."""
        created = response.get("createTime")
        auth = response["authenticationResponse"]
        key = self._event_key(
            "authentication", created, last_segment(response.get("message")), auth.get("code")
        )
        return self._inbound(key, EventInput(name="authentication_response", data=response), None, created)

    def _user_status(self, status: dict[str, Any]) -> list[InboundEvent]:
        if not status.get("requestedLiveAgent"):
            return []  # typing indicators: nothing for the bot to answer
        created = status.get("createTime")
        data = {"createTime": created} if isinstance(created, str) else None
        input = EventInput(name="live_agent_requested", data=data)
        return [self._inbound(self._event_key("live_agent", created), input, None, created)]

    def _receipts(self, receipts: dict[str, Any]) -> list[InboundEvent]:
        events: list[InboundEvent] = []
        for receipt in array(receipts.get("receipts"), "receipts.receipts"):
            if not isinstance(receipt, dict):
                continue
            status = _RECEIPTS.get(str(receipt.get("receiptType", "")))
            name = receipt.get("message")
            message_id = last_segment(name)
            if status is None or message_id is None:
                continue
            events.append(
                StatusUpdate(
                    dedup_key=f"{name}:{receipt['receiptType']}",
                    user_id=self.conversation_id,
                    status=status,
                    platform_message_id=message_id,
                    raw=receipt,
                )
            )
        return events

    def _survey(self, survey: dict[str, Any]) -> list[InboundEvent]:
        fields = (
            "survey",
            "rating",
            "feedback",
            "createTime",
            "surveyQuestionId",
            "questionResponseText",
            "questionResponsePostbackData",
            "questionType",
            "questionIndex",
            "totalQuestionCount",
            "surveyTriggerSource",
        )
        data = {k: survey[k] for k in fields if k in survey}
        name, question = survey.get("survey"), survey.get("surveyQuestionId")
        if isinstance(name, str) and name and len(name) + len(str(question or "")) < 250:
            key = f"{name}:{question or ''}"
        else:
            key = self._event_key("survey", survey.get("createTime"), question)
        return [
            self._inbound(key, EventInput(name="survey_response", data=data), None, survey.get("createTime"))
        ]
