"""Sends to the Business Messages API: a message to ``conversations/{id}/messages``, an event (typing) to
``conversations/{id}/events?eventId=``; errors classified by the shared Google error table."""

from __future__ import annotations

from channelgate.channels.base import Outbound, SendResult
from channelgate.channels.google.api import GoogleAPI
from channelgate.channels.google.fields import path_segment


async def send(api: GoogleAPI, base_url: str, outbound: Outbound) -> SendResult:
    body = outbound.body
    base = f"{base_url}/conversations/{path_segment(str(body['conversationId']))}"
    if "event" in body:
        await api.post(f"{base}/events", json=body["event"], params={"eventId": str(body["eventId"])})
        return SendResult()
    message = body["message"]
    await api.post(f"{base}/messages", json=message)
    return SendResult(platform_message_id=str(message["messageId"]))
