"""The relay channel: an example of an external channel package, and a useful one.

Any service that can sign JSON with a shared secret becomes a channel: an SMS gateway, a kiosk, a custom
app. Inbound, it POSTs to ``/webhooks/relay/{label}``::

    {"id": "evt-1", "user": {"id": "u1", "name": "Ann"}, "text": "hello"}
    {"id": "evt-2", "user": {"id": "u1"}, "postback": {"payload": "BUY", "title": "Buy"}}
    {"id": "evt-3", "status": {"message_id": "m-9", "status": "delivered"}, "user": {"id": "u1"}}

with ``X-Relay-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``. Outbound, the channel POSTs
``{"id": <uuid>, "to": user_id, "message": <universal message>}`` to ``send_url`` signed the same way,
and reads ``{"message_id": ...}`` back. ``id`` is fixed when the reply is rendered and stored, so a send
retried after a crash carries the same id and the receiver can drop the repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from pydantic import SecretStr

from channelgate.channels.base import (
    BadRequest,
    Channel,
    ChannelConfig,
    ChannelLimits,
    Forbidden,
    InboundEvent,
    InboundMessage,
    InvalidCredentials,
    Outbound,
    Rejected,
    RenderContext,
    SendResult,
    StatusUpdate,
    Throttled,
    Unauthorized,
    Unavailable,
    Verified,
    WebhookRequest,
)
from channelgate.channels.http import NetworkError
from channelgate.messages import ChannelSpecific, UniversalMessage, dump_message
from channelgate.turns import LocationInput, PostbackInput, TextInput, User


class RelayConfig(ChannelConfig):
    secret: SecretStr
    send_url: str
    rate_limit: float | None = None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class RelayChannel(Channel[RelayConfig]):
    name = "relay"
    title = "Relay (signed JSON over HTTP)"
    Config = RelayConfig
    limits = ChannelLimits(text_max=10_000, send_rate=200.0, send_concurrency=64)
    setup_fields = ("secret",)

    def authenticate(self, request: WebhookRequest) -> Verified:
        given = request.header("x-relay-signature")
        if not given:
            raise Unauthorized("X-Relay-Signature header is missing")
        expected = sign(self.config.secret.get_secret_value(), request.body)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Forbidden("X-Relay-Signature does not match the body")
        return Verified(request.body)

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        data = request.json()
        items = data if isinstance(data, list) else [data]
        return [self._event(item) for item in items]

    def _event(self, item: Any) -> InboundEvent:
        if not isinstance(item, dict) or not isinstance(item.get("user"), dict) or "id" not in item:
            raise BadRequest("each event needs an id and a user object")
        user = User(id=str(item["user"].get("id")), name=item["user"].get("name"))
        if "status" in item:
            status = item["status"]
            return StatusUpdate(
                dedup_key=f"status:{item['id']}",
                user_id=user.id,
                status=status["status"],
                platform_message_id=status.get("message_id"),
                raw=item,
            )
        if "text" in item:
            input_: Any = TextInput(text=str(item["text"]))
        elif "postback" in item:
            input_ = PostbackInput(
                payload=str(item["postback"]["payload"]), title=item["postback"].get("title")
            )
        elif "location" in item:
            input_ = LocationInput(**item["location"])
        else:
            raise BadRequest("an event needs text, postback, location or status")
        return InboundMessage(
            dedup_key=str(item["id"]),
            user=user,
            input=input_,
            raw=item,
            platform_message_id=str(item["id"]),
            locale_hint=item.get("locale"),
        )

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        out = []
        for message in messages:
            payload = (
                message.payloads[self.name] if isinstance(message, ChannelSpecific) else dump_message(message)
            )
            body = {"id": uuid.uuid4().hex, "to": ctx.user_id, "message": payload}
            out.append(Outbound(body=body, summary=message.type))
        return out

    async def send(self, outbound: Outbound) -> SendResult:
        import orjson

        body = orjson.dumps(outbound.body)
        headers = {
            "content-type": "application/json",
            "x-relay-signature": sign(self.config.secret.get_secret_value(), body),
        }
        try:
            response = await self.ctx.http.request(
                "POST", self.config.send_url, content=body, headers=headers
            )
        except NetworkError as exc:
            raise Unavailable(f"relay unreachable: {exc}") from None
        if response.status_code == 429:
            retry = response.headers.get("retry-after")
            raise Throttled("relay rate limit", retry_after=float(retry) if retry else None)
        if response.status_code >= 500:
            raise Unavailable(f"relay answered {response.status_code}")
        if response.status_code == 401:  # the far side refused our signature: the secret differs
            self.ctx.health.fail("the relay refused the signature (401); check the integration's secret")
            raise InvalidCredentials("relay refused the signature (401)")
        if response.status_code >= 400:
            raise Rejected(f"relay refused the message ({response.status_code}): {response.text[:200]}")
        if self.ctx.health.status != "ok":
            self.ctx.health.ok()
        data = response.json() if response.content else {}
        return SendResult(platform_message_id=data.get("message_id"))
