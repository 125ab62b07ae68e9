"""Sends to the RBM API: ``phones/{E.164}/agentMessages?messageId=&agentId=`` and
``phones/{E.164}/agentEvents?eventId=&agentId=``; errors classified by the shared Google error table. The ids
were fixed at render time, so a retry reuses them and RBM ignores the duplicate."""

from __future__ import annotations

from channelgate.channels.base import Outbound, SendResult
from channelgate.channels.google.api import GoogleAPI
from channelgate.channels.google.fields import path_segment


async def send(api: GoogleAPI, base_url: str, agent_id: str, outbound: Outbound) -> SendResult:
    body = outbound.body
    base = f"{base_url}/phones/{path_segment(str(body['msisdn']), safe='+')}"
    if "agentEvent" in body:
        params = {"eventId": str(body["eventId"]), "agentId": agent_id}
        await api.post(f"{base}/agentEvents", json=body["agentEvent"], params=params)
        return SendResult()
    params = {"messageId": str(body["messageId"]), "agentId": agent_id}
    await api.post(f"{base}/agentMessages", json=body["agentMessage"], params=params)
    return SendResult(platform_message_id=str(body["messageId"]))
