"""A GBM webhook body → inbound events.

One body holds one event beside its envelope (``agent``, ``conversationId``, ``context``...): a
``message`` (text; an image by its URL), a ``suggestionResponse`` (a tap → postback; an authentication
response → an event carrying the OAuth code), an ``authenticationResponse`` (the same event), a
``userStatus`` (typing is ignored, a live-agent request → event), ``receipts`` (→ delivery statuses) or a
``surveyResponse`` (→ event). The user is the ``conversationId``. A body with none of these, a message
without content and a receipt of an unknown type are skipped with their reason (logged and counted), never
dropped in silence.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from channelgate.channels.base import (
    BadRequest,
    InboundEvent,
    InboundMessage,
    StatusName,
    StatusUpdate,
    WebhookRequest,
)
from channelgate.channels.google.fields import as_dict, as_str, last_segment, parse_time
from channelgate.channels.inbound import SkipEvent, array, each, load_json, skips_of
from channelgate.turns import EventInput, Input, MediaInput, PostbackInput, TextInput, User

log = logging.getLogger("channelgate.channels.gbm")

#: user images arrive as a link to Google's storage in ``message.text`` (seen in production integrations)
_IMAGE_URL = re.compile(r"^https://storage\.googleapis\.com/\S+$")
_RECEIPTS: dict[str, StatusName] = {"DELIVERED": "delivered", "READ": "read"}
#: The fields around a GBM event, not an event of their own.
_ENVELOPE = frozenset({"agent", "conversationId", "customAgentId", "requestId", "sendTime", "context"})


def parse(request: WebhookRequest, body: bytes, agent_id: str | None) -> list[InboundEvent]:
    """The events of an authenticated body (``body``: the bytes the signature covered)."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise BadRequest("the body is not a JSON object")
    conversation_id = data.get("conversationId")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise BadRequest("the event has no conversationId")
    if agent_id is not None and last_segment(data.get("agent")) != agent_id:
        # skipped, not refused: a partner-level webhook serves every agent of the partner
        skips_of(request).add(f"event for agent {str(data.get('agent'))[:128]!r}, not {agent_id}")
        return []
    inbound = _Inbound(request, data, conversation_id)
    return each(request, [data], lambda _: inbound.events(), "event")


class _Inbound:
    """The events in one GBM webhook body (one payload is documented per body: message, suggestionResponse,
    authenticationResponse, userStatus, receipts or surveyResponse; all present are read, in that order)."""

    def __init__(self, request: WebhookRequest, data: dict[str, Any], conversation_id: str) -> None:
        self.request = request
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
            ("authenticationResponse", self._signed_in),
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
            fields = ", ".join(sorted(message))[:200]
            raise SkipEvent(f"message {message_id[:128]} has no text or image (fields: {fields})")
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
        since the bot needs the code to finish the OAuth flow."""
        created = response.get("createTime")
        auth = response["authenticationResponse"]
        key = self._event_key(
            "authentication", created, last_segment(response.get("message")), auth.get("code")
        )
        return self._inbound(key, EventInput(name="authentication_response", data=response), None, created)

    def _signed_in(self, auth: dict[str, Any]) -> list[InboundEvent]:
        """An authentication response as the body's own payload (Google's UserMessage reference lists it
        beside ``message`` and ``suggestionResponse``, and Google's webhook test framework sends it so). The
        same ``authentication_response`` event as a tap's, its data shaped alike: the bot reads
        ``data["authenticationResponse"]["code"]`` whichever way Google sent it."""
        key = self._event_key("authentication", None, auth.get("code"))
        input = EventInput(name="authentication_response", data={"authenticationResponse": auth})
        return [self._inbound(key, input, None, None)]

    def _user_status(self, status: dict[str, Any]) -> list[InboundEvent]:
        if not status.get("requestedLiveAgent"):
            # typing indicators: nothing for the bot to answer (docs/channels/gbm.md says so)
            log.debug("gbm: user status without a live-agent request ignored: %s", sorted(status))
            return []
        created = status.get("createTime")
        data = {"createTime": created} if isinstance(created, str) else None
        input = EventInput(name="live_agent_requested", data=data)
        return [self._inbound(self._event_key("live_agent", created), input, None, created)]

    def _receipts(self, receipts: dict[str, Any]) -> list[InboundEvent]:
        items = array(receipts.get("receipts"), "receipts.receipts")
        return each(self.request, items, self._receipt, "receipt")

    def _receipt(self, receipt: Any) -> list[InboundEvent]:
        receipt = as_dict(receipt)
        kind = str(receipt.get("receiptType", ""))
        name = receipt.get("message")
        message_id = last_segment(name)
        status = _RECEIPTS.get(kind)
        if status is None or message_id is None:
            raise SkipEvent(
                f"receipt of type {kind[:64]!r} for {str(name)[:128]!r} is not one this channel reads"
            )
        return [
            StatusUpdate(
                dedup_key=f"{name}:{kind}",
                user_id=self.conversation_id,
                status=status,
                platform_message_id=message_id,
                raw=receipt,
            )
        ]

    def _survey(self, survey: dict[str, Any]) -> list[InboundEvent]:
        data = dict(survey)  # every field: the bot reads the rating and the answers it asked for
        name, question = survey.get("survey"), survey.get("surveyQuestionId")
        if isinstance(name, str) and name and len(name) + len(str(question or "")) < 250:
            key = f"{name}:{question or ''}"
        else:
            key = self._event_key("survey", survey.get("createTime"), question)
        return [
            self._inbound(key, EventInput(name="survey_response", data=data), None, survey.get("createTime"))
        ]
