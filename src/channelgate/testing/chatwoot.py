"""A Chatwoot simulator: the application API a hand-off desk calls, and the agents' side of the webhooks.

It speaks the calls channelgate makes (``/api/v1/accounts/{account}/contacts``, ``contacts/search``,
``contacts/{id}/contact_inboxes``, ``conversations``, ``conversations/{id}/messages``,
``conversations/{id}/toggle_status``), checks the ``api_access_token`` header, and records contacts,
conversations and messages. A test plays the agents: :meth:`agent_reply`, :meth:`private_note` and
:meth:`resolve` record the action and post Chatwoot's webhook (``message_created``,
``conversation_status_changed``) to :attr:`webhook_url`, signed when :attr:`webhook_secret` is set.
:meth:`outage` makes the API answer 503 for a while.

    sim = ChatwootSimulator()
    async with serve_app(sim.app) as url:   # handoff: {chatwoot: {url: url, account_id: 1, inbox_id: 1, ...}}
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.handoff.chatwoot_events import sign
from channelgate.tasks import wait_set


@dataclass
class ChatwootMessage:
    id: int
    conversation_id: int
    content: str
    message_type: str  # incoming | outgoing
    private: bool = False
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ChatwootConversation:
    id: int
    contact_id: int
    source_id: str
    inbox_id: int
    status: str = "open"
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    messages: list[ChatwootMessage] = field(default_factory=list)

    def texts(self, message_type: str | None = None, *, private: bool | None = None) -> list[str]:
        return [
            m.content
            for m in self.messages
            if (message_type is None or m.message_type == message_type)
            and (private is None or m.private == private)
        ]


@dataclass(eq=False)
class ChatwootSimulator:
    account_id: int = 1
    inbox_id: int = 7
    api_access_token: str = "cw-simulated-token"  # noqa: S105 - a simulator's well-known value
    #: where agents' actions are posted (our callback URL); set by the test
    webhook_url: str | None = None
    #: when set, webhooks carry X-Chatwoot-Signature / X-Chatwoot-Timestamp
    webhook_secret: str | None = None
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[int, ChatwootConversation] = field(default_factory=dict)
    #: API calls answered 503 during an outage
    refused: int = 0

    def __post_init__(self) -> None:
        self._ids = 100
        self._outage_until = 0.0
        self._changed = asyncio.Event()
        base = "/api/v1/accounts/{account}"
        self.app = Starlette(
            routes=[
                Route(base + "/contacts", self._create_contact, methods=["POST"]),
                Route(base + "/contacts/search", self._search, methods=["GET"]),
                Route(base + "/contacts/{contact}/contact_inboxes", self._contact_inbox, methods=["POST"]),
                Route(base + "/conversations", self._create_conversation, methods=["POST"]),
                Route(base + "/conversations/{conversation}/messages", self._message, methods=["POST"]),
                Route(base + "/conversations/{conversation}/toggle_status", self._toggle, methods=["POST"]),
            ]
        )

    def settings(self, url: str) -> dict[str, Any]:
        """The ``handoff.chatwoot`` mapping for an integration, given the URL the simulator is served on."""
        out: dict[str, Any] = {
            "url": url,
            "account_id": self.account_id,
            "inbox_id": self.inbox_id,
            "api_access_token": self.api_access_token,
        }
        if self.webhook_secret:
            out["webhook_secret"] = self.webhook_secret
        return out

    # --- test controls ---

    def outage(self, seconds: float) -> None:
        """Answer every API call 503 for ``seconds`` (0 ends it)."""
        self._outage_until = time.monotonic() + seconds

    async def wait_for(self, check: Any, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``check()`` holds (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"Chatwoot simulator: condition not met within {timeout}s")
            self._changed.clear()
            wait = min(0.1, max(deadline - time.monotonic(), 0.01))
            await wait_set(self._changed, wait)

    def only_conversation(self) -> ChatwootConversation:
        assert len(self.conversations) == 1, f"{len(self.conversations)} conversations"
        return next(iter(self.conversations.values()))

    async def agent_reply(
        self, conversation_id: int, content: str, *, attachments: list[dict[str, Any]] | None = None
    ) -> httpx.Response:
        """An agent answers in the inbox: recorded, and ``message_created`` (outgoing) is posted."""
        message = self._record(conversation_id, content, "outgoing", attachments=attachments or [])
        return await self._post_webhook(self._message_event(message))

    async def private_note(self, conversation_id: int, content: str) -> httpx.Response:
        message = self._record(conversation_id, content, "outgoing", private=True)
        return await self._post_webhook(self._message_event(message))

    async def resolve(self, conversation_id: int) -> httpx.Response:
        conversation = self.conversations[conversation_id]
        conversation.status = "resolved"
        return await self._post_webhook(self._conversation_event(conversation))

    async def post_webhook(self, payload: dict[str, Any], url: str | None = None) -> httpx.Response:
        """Post any payload (a forged one, to a wrong URL) as Chatwoot would."""
        return await self._post_webhook(payload, url)

    # --- webhooks ---

    def _message_event(self, message: ChatwootMessage) -> dict[str, Any]:
        conversation = self.conversations[message.conversation_id]
        return {
            "event": "message_created",
            "id": message.id,
            "content": message.content,
            "message_type": message.message_type,
            "private": message.private,
            "content_type": "text",
            "attachments": message.attachments,
            "sender": {"id": 1, "name": "Agent", "type": "user"},
            "account": {"id": self.account_id},
            "inbox": {"id": conversation.inbox_id},
            "conversation": {
                "id": conversation.id,
                "status": conversation.status,
                "contact_inbox": {"source_id": conversation.source_id},
                "custom_attributes": conversation.custom_attributes,
            },
        }

    def _conversation_event(self, conversation: ChatwootConversation) -> dict[str, Any]:
        return {
            "event": "conversation_status_changed",
            "id": conversation.id,
            "status": conversation.status,
            "inbox_id": conversation.inbox_id,
            "account": {"id": self.account_id},
            "contact_inbox": {"source_id": conversation.source_id},
        }

    async def _post_webhook(self, payload: dict[str, Any], url: str | None = None) -> httpx.Response:
        target = url or self.webhook_url
        assert target, "set webhook_url to the integration's chatwoot_webhook_url first"
        raw = orjson.dumps(payload)
        headers = {"Content-Type": "application/json", "User-Agent": "Chatwoot"}
        if self.webhook_secret:
            stamp = str(int(time.time()))
            headers["X-Chatwoot-Timestamp"] = stamp
            headers["X-Chatwoot-Signature"] = sign(self.webhook_secret, stamp, raw)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(target, content=raw, headers=headers)

    # --- the API ---

    def _next(self) -> int:
        self._ids += 1
        return self._ids

    def _record(
        self,
        conversation_id: int,
        content: str,
        message_type: str,
        *,
        private: bool = False,
        attachments: list[dict[str, Any]] | None = None,
    ) -> ChatwootMessage:
        message = ChatwootMessage(
            self._next(), conversation_id, content, message_type, private, attachments or []
        )
        self.conversations[conversation_id].messages.append(message)
        self._changed.set()
        return message

    def _refuse(self, request: Request) -> Response | None:
        if time.monotonic() < self._outage_until:
            self.refused += 1
            return JSONResponse({"error": "Service Unavailable"}, status_code=503)
        if request.headers.get("api_access_token") != self.api_access_token:
            return JSONResponse({"errors": ["Invalid Access Token"]}, status_code=401)
        if int(request.path_params["account"]) != self.account_id:
            return JSONResponse({"error": "Account not found"}, status_code=404)
        return None

    async def _json(self, request: Request) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return {}
        return body if isinstance(body, dict) else {}

    def _contact_out(self, contact: dict[str, Any]) -> dict[str, Any]:
        return {
            **contact,
            "contact_inboxes": [
                {"source_id": source_id, "inbox": {"id": inbox_id}}
                for inbox_id, source_id in contact["_inboxes"].items()
            ],
            "_inboxes": None,
        }

    async def _create_contact(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        body = await self._json(request)
        identifier = body.get("identifier")
        if any(c["identifier"] == identifier for c in self.contacts.values() if identifier):
            return JSONResponse({"message": "Identifier has already been taken"}, status_code=422)
        inboxes: dict[int, str] = {}
        contact_id = self._next()
        contact: dict[str, Any] = {
            "id": contact_id,
            "name": body.get("name"),
            "identifier": identifier,
            "_inboxes": inboxes,
        }
        source_id = uuid.uuid4().hex
        inbox_id = body.get("inbox_id")
        if inbox_id is not None:
            inboxes[int(inbox_id)] = source_id
        self.contacts[contact_id] = contact
        out = self._contact_out(contact)
        inbox = {"source_id": source_id, "inbox": {"id": inbox_id}} if inbox_id is not None else None
        return JSONResponse({"payload": {"contact": out, "contact_inbox": inbox}})

    async def _search(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        q = request.query_params.get("q", "")
        found = [
            self._contact_out(c)
            for c in self.contacts.values()
            if q and (q in (c["identifier"] or "") or q in (c["name"] or ""))
        ]
        return JSONResponse({"meta": {"count": len(found)}, "payload": found})

    async def _contact_inbox(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        contact = self.contacts.get(int(request.path_params["contact"]))
        body = await self._json(request)
        if contact is None or body.get("inbox_id") is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        source_id = str(body.get("source_id") or uuid.uuid4().hex)
        contact["_inboxes"][int(body["inbox_id"])] = source_id
        return JSONResponse({"source_id": source_id, "inbox": {"id": int(body["inbox_id"])}})

    async def _create_conversation(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        body = await self._json(request)
        contact = self.contacts.get(int(body.get("contact_id") or 0))
        inbox_id = int(body.get("inbox_id") or 0)
        if contact is None or contact["_inboxes"].get(inbox_id) != body.get("source_id"):
            return JSONResponse({"error": "contact inbox not found"}, status_code=422)
        conversation = ChatwootConversation(
            self._next(),
            contact["id"],
            str(body["source_id"]),
            inbox_id,
            custom_attributes=dict(body.get("custom_attributes") or {}),
        )
        self.conversations[conversation.id] = conversation
        self._changed.set()
        return JSONResponse({"id": conversation.id, "inbox_id": inbox_id, "status": conversation.status})

    async def _message(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        conversation = self.conversations.get(int(request.path_params["conversation"]))
        if conversation is None:
            return JSONResponse({"error": "Resource could not be found"}, status_code=404)
        body = await self._json(request)
        content = body.get("content")
        if not isinstance(content, str) or not content:
            return JSONResponse({"message": "content can't be blank"}, status_code=422)
        kind = str(body.get("message_type") or "outgoing")
        message = self._record(conversation.id, content, kind, private=bool(body.get("private")))
        if conversation.status == "resolved" and kind == "incoming":
            conversation.status = "open"  # Chatwoot reopens a resolved conversation on a new message
        return JSONResponse({"id": message.id, "content": content, "message_type": kind})

    async def _toggle(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        conversation = self.conversations.get(int(request.path_params["conversation"]))
        if conversation is None:
            return JSONResponse({"error": "Resource could not be found"}, status_code=404)
        body = await self._json(request)
        conversation.status = str(body.get("status") or "open")
        self._changed.set()
        return JSONResponse(
            {
                "payload": {
                    "success": True,
                    "current_status": conversation.status,
                    "conversation_id": conversation.id,
                }
            }
        )


__all__ = ["ChatwootConversation", "ChatwootMessage", "ChatwootSimulator"]
