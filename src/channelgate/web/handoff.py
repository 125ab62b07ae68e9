"""``POST /handoff/chatwoot/{channel}/{label}/{secret}``: Chatwoot's webhook for an integration's inbox.

The URL's secret (derived from the access token, compared in constant time) proves the caller was given
the URL; when the integration sets ``handoff.chatwoot.webhook_secret`` the Chatwoot signature is required
too. A wrong secret is 403 and changes nothing; an unknown integration or one without a desk is 404. An
agent's reply goes to the user through the channel (rendered like the bot's, through the outbox); a
resolved conversation goes back to the bot. Chatwoot repeats webhooks: a message already queued is not
queued again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from channelgate.gateway import Gateway
from channelgate.handoff.chatwoot_events import AgentMessage, Resolved, read_event, signature_ok
from channelgate.web.webhooks import BodyTooLarge, error, read_body

log = logging.getLogger("channelgate.handoff")


async def chatwoot_webhook(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    channel = request.path_params["channel"]
    label = request.path_params["label"]
    settings = gateway.handoffs.chatwoot(channel, label)
    if settings is None:
        return error(404, f"no hand-off desk for {channel}/{label}")
    expected = settings.callback_secret(channel, label).encode()
    if not hmac.compare_digest(str(request.path_params["secret"]).encode(), expected):
        return error(403, "wrong webhook secret")
    try:
        raw = await read_body(request, gateway.settings.max_body_bytes)
    except BodyTooLarge:
        return error(413, "body too large")
    if settings.webhook_secret is not None and not signature_ok(
        settings.webhook_secret.get_secret_value(),
        request.headers.get("x-chatwoot-timestamp"),
        request.headers.get("x-chatwoot-signature"),
        raw,
    ):
        return error(403, "missing or wrong X-Chatwoot-Signature")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return error(400, "not JSON")
    event = read_event(payload)
    if isinstance(event, AgentMessage):
        held = await gateway.store.handoffs.by_desk_ref(channel, label, event.desk_ref)
        if held is None and event.hint is not None:  # answered before we stored the desk's conversation id
            hinted = await gateway.store.handoffs.get(event.hint[:64])
            if (
                hinted is not None
                and (hinted["channel"], hinted["label"]) == (channel, label)
                and hinted["desk_ref"] in (None, event.desk_ref)
            ):
                held = hinted
        conversation = (
            None if held is None else await gateway.store.conversations.get(held["conversation_id"])
        )
        if held is None or conversation is None:
            return JSONResponse({"ok": True, "ignored": "not a conversation of ours"})
        if held["holder"] != "agent":  # an agent wrote after the bot took it back: theirs again
            await gateway.handoffs.take(conversation, reason="agent", desk=False)
        digest = hashlib.sha256(f"{channel}:{label}:{event.message_id}".encode()).hexdigest()[:40]
        ids = await gateway.handoffs.agent_reply(
            conversation, event.messages, request_id=f"chatwoot:{digest}"
        )
        return JSONResponse({"ok": True, "queued": ids or []})
    if isinstance(event, Resolved):
        held = await gateway.store.handoffs.by_desk_ref(channel, label, event.desk_ref)
        if held is None:
            return JSONResponse({"ok": True, "ignored": "not a conversation of ours"})
        back = await gateway.handoffs.hand_back(held["conversation_id"], "resolved")
        return JSONResponse({"ok": True, "handed_back": back})
    return JSONResponse({"ok": True, "ignored": event.reason})
