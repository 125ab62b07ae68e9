"""Chatwoot's application API, as the desk of a hand-off: find or create the contact, open a conversation
in the integration's API-channel inbox, post the user's messages (``message_type: incoming``) and private
notes, resolve the conversation when the bot takes it back.

Calls go through the toolkit's :class:`PlatformAPI` with an :class:`ErrorTable`: a Chatwoot that is down
(5xx, network) or throttling (429, Rack::Attack) is retried by the delivery worker like a platform send,
a refused token (401) turns the desk's health red, other 4xx are refused for good. The access token is
scrubbed from every reason.
"""

from __future__ import annotations

from typing import Any

from channelgate.channels.base import Health, Rejected, Throttled
from channelgate.channels.http import PlatformHTTP, Response
from channelgate.channels.platform_api import ErrorTable, PlatformAPI, json_or_none
from channelgate.handoff.settings import ChatwootSettings
from channelgate.retry import parse_retry_after

#: Chatwoot answers with HTTP statuses; its JSON errors carry no codes worth a table
ERRORS = ErrorTable({Throttled: {429}}, credential_statuses=frozenset({401}))


def _check(response: Response) -> Any:
    if response.is_success:
        return None
    body = json_or_none(response)
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("message") or body.get("error") or body.get("errors") or "")[:200]
    return ERRORS.error(
        f"Chatwoot answered HTTP {response.status_code}" + (f": {detail}" if detail else ""),
        status=response.status_code,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


class ChatwootDesk:
    """One integration's Chatwoot inbox."""

    def __init__(self, settings: ChatwootSettings, http: PlatformHTTP, health: Health | None = None):
        self.settings = settings
        self.health = health or Health()
        token = settings.api_access_token.get_secret_value()
        self.api = PlatformAPI(
            http,
            self.health,
            product="Chatwoot",
            secrets=lambda: [token],
            credentials_hint="Check handoff.chatwoot.api_access_token (Chatwoot: Profile settings).",
        )
        self._base = f"{settings.url}/api/v1/accounts/{settings.account_id}"
        self._headers = {"api_access_token": token, "Accept": "application/json"}

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.api.request(
            method, self._base + path, check=_check, headers=self._headers, **kwargs
        )
        return json_or_none(response)

    async def contact_source_id(self, identifier: str, name: str | None) -> tuple[int, str]:
        """The contact of this user and its source id in our inbox, created on first contact."""
        inbox_id = self.settings.inbox_id
        found = await self._call("GET", "/contacts/search", params={"q": identifier})
        for contact in (found or {}).get("payload") or []:
            if not isinstance(contact, dict) or contact.get("identifier") != identifier:
                continue
            for contact_inbox in contact.get("contact_inboxes") or []:
                inbox = contact_inbox.get("inbox") or {}
                if inbox.get("id") == inbox_id and contact_inbox.get("source_id"):
                    return int(contact["id"]), str(contact_inbox["source_id"])
            made = await self._call(
                "POST", f"/contacts/{contact['id']}/contact_inboxes", json={"inbox_id": inbox_id}
            )
            if isinstance(made, dict) and made.get("source_id"):
                return int(contact["id"]), str(made["source_id"])
            raise Rejected("Chatwoot did not return the contact's source_id")
        created = await self._call(
            "POST",
            "/contacts",
            json={"inbox_id": inbox_id, "name": name or identifier, "identifier": identifier},
        )
        payload = (created or {}).get("payload") or {}
        contact = payload.get("contact") or {}
        source_id = (payload.get("contact_inbox") or {}).get("source_id")
        if not contact.get("id") or not source_id:
            raise Rejected("Chatwoot did not return the new contact and its source_id")
        return int(contact["id"]), str(source_id)

    async def open(self, identifier: str, name: str | None, attributes: dict[str, Any]) -> str:
        """A new conversation in the inbox for this user; its id (what the webhooks name)."""
        contact_id, source_id = await self.contact_source_id(identifier, name)
        created = await self._call(
            "POST",
            "/conversations",
            json={
                "source_id": source_id,
                "inbox_id": self.settings.inbox_id,
                "contact_id": contact_id,
                "status": "open",
                "custom_attributes": attributes,
            },
        )
        if not isinstance(created, dict) or created.get("id") is None:
            raise Rejected("Chatwoot did not return the new conversation's id")
        return str(created["id"])

    async def post(self, conversation: str, content: str, *, private: bool = False) -> str | None:
        """The user's message (``incoming``), or a private note for the agents; Chatwoot's message id."""
        body: dict[str, Any] = {
            "content": content,
            "message_type": "outgoing" if private else "incoming",
            "private": private,
        }
        answer = await self._call("POST", f"/conversations/{conversation}/messages", json=body)
        return str(answer["id"]) if isinstance(answer, dict) and answer.get("id") is not None else None

    async def resolve(self, conversation: str) -> None:
        await self._call("POST", f"/conversations/{conversation}/toggle_status", json={"status": "resolved"})


__all__ = ["ERRORS", "ChatwootDesk"]
