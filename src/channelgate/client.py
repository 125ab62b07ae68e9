"""A small Python client for the admin API (``/api/v1``), used by the CLI and by a business's own systems.

    from channelgate import Client

    with Client("https://bot.example.com", api_key) as api:
        sent = api.send(channel="messenger", label="shop", user_id=psid, text="Your order shipped",
                        tag="POST_PURCHASE_UPDATE", idempotency_key=f"order-{order_id}-shipped")
        api.message(sent["message_ids"][0])["status"]       # queued, sent, delivered, read, failed

:class:`AsyncClient` has the same methods as coroutines. Every method returns the API's JSON answer; an
error answer raises :class:`ApiError` with the status and the API's reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import httpx

R = TypeVar("R")
JSON = dict[str, Any]

DEFAULT_TIMEOUT = 30.0


class ApiError(Exception):
    """The API answered an error: ``status`` and the API's ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def _api_url(base_url: str) -> str:
    """Accept the gateway's URL or the API's (``.../api/v1``)."""
    base = base_url.rstrip("/")
    return base if base.endswith("/api/v1") else base + "/api/v1"


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            reason = str(response.json().get("error") or response.text)
        except ValueError:
            reason = response.text or response.reason_phrase
        raise ApiError(response.status_code, reason)
    if response.status_code == 204 or not response.content:
        return {}
    return response.json()


def _drop_none(values: Mapping[str, Any]) -> JSON:
    return {k: v for k, v in values.items() if v is not None}


def _messages(text: str | None, messages: Sequence[Mapping[str, Any]] | None) -> list[JSON]:
    out = [dict(m) for m in messages or []]
    if text is not None:
        out.append({"type": "text", "text": text})
    if not out:
        raise ValueError("give text or messages")
    return out


class _Endpoints(Generic[R]):
    """The API's operations, written once; the sync and async clients only differ in how they call."""

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> R:
        raise NotImplementedError

    # --- integrations ---

    def integrations(self) -> R:
        return self._call("GET", "/integrations")

    def integration(self, channel: str, label: str) -> R:
        return self._call("GET", f"/integrations/{channel}/{label}")

    def create_integration(
        self,
        channel: str,
        label: str,
        *,
        locale: str = "en-US",
        config: Mapping[str, Any] | None = None,
        auto_detect: bool = False,
        language_command: bool = True,
        handoff: Mapping[str, Any] | None = None,
    ) -> R:
        """``handoff``: the integration's ``handoff:`` key (docs/handoff.md); with a Chatwoot desk the
        answer's ``setup.chatwoot_webhook_url`` is what to paste into the inbox."""
        body = {
            "channel": channel,
            "label": label,
            "locale": locale,
            "config": dict(config or {}),
            "auto_detect": auto_detect,
            "language_command": language_command,
        }
        if handoff is not None:
            body["handoff"] = dict(handoff)
        return self._call("POST", "/integrations", json=body)

    def update_integration(
        self,
        channel: str,
        label: str,
        *,
        locale: str | None = None,
        config: Mapping[str, Any] | None = None,
        auto_detect: bool | None = None,
        language_command: bool | None = None,
        handoff: Mapping[str, Any] | None = None,
        remove_handoff: bool = False,
    ) -> R:
        """``handoff`` replaces the whole ``handoff:`` key (``***`` keeps a stored secret);
        ``remove_handoff`` removes it."""
        body = _drop_none(
            {
                "locale": locale,
                "config": dict(config) if config is not None else None,
                "auto_detect": auto_detect,
                "language_command": language_command,
                "handoff": dict(handoff) if handoff is not None else None,
            }
        )
        if remove_handoff:
            if handoff is not None:
                raise ValueError("give handoff or remove_handoff, not both")
            body["handoff"] = None
        return self._call("PATCH", f"/integrations/{channel}/{label}", json=body)

    def delete_integration(self, channel: str, label: str) -> R:
        return self._call("DELETE", f"/integrations/{channel}/{label}")

    # --- conversations ---

    def conversations(
        self,
        *,
        channel: str | None = None,
        label: str | None = None,
        user_id: str | None = None,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> R:
        params = _drop_none(
            {"channel": channel, "label": label, "user_id": user_id, "q": q, "limit": limit, "cursor": cursor}
        )
        return self._call("GET", "/conversations", params=params)

    def conversation(self, conversation_id: str, *, limit: int = 100, cursor: str | None = None) -> R:
        return self._call(
            "GET", f"/conversations/{conversation_id}", params=_drop_none({"limit": limit, "cursor": cursor})
        )

    def delete_conversation(self, conversation_id: str) -> R:
        """Delete a conversation and everything stored about it (a privacy request)."""
        return self._call("DELETE", f"/conversations/{conversation_id}")

    def send_event(
        self,
        conversation_id: str,
        name: str,
        data: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> R:
        body = _drop_none(
            {
                "name": name,
                "data": dict(data) if data is not None else None,
                "idempotency_key": idempotency_key,
            }
        )
        return self._call("POST", f"/conversations/{conversation_id}/events", json=body)

    # --- hand-off (docs/handoff.md) ---

    def hand_off(self, conversation_id: str, *, note: str | None = None) -> R:
        """Hand the conversation to a person; ``note`` is shown to the agents. ``changed`` is False when a
        person held it already."""
        body = _drop_none({"note": note})
        return self._call("POST", f"/conversations/{conversation_id}/handoff", json=body)

    def hand_back(self, conversation_id: str) -> R:
        """Give the conversation back to the bot (it gets ``handoff_ended`` with ``reason: released``)."""
        return self._call("POST", f"/conversations/{conversation_id}/handback")

    def send_agent_messages(
        self,
        conversation_id: str,
        *,
        text: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        idempotency_key: str | None = None,
    ) -> R:
        """Send a person's ``text`` and/or universal ``messages`` to the user of a conversation a person
        holds (409 while the bot holds it); with an ``idempotency_key`` a retry is sent once."""
        body = _drop_none({"messages": _messages(text, messages), "idempotency_key": idempotency_key})
        return self._call("POST", f"/conversations/{conversation_id}/agent-messages", json=body)

    # --- messages ---

    def send(
        self,
        *,
        channel: str | None = None,
        label: str | None = None,
        user_id: str | None = None,
        conversation_id: str | None = None,
        text: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        tag: str | None = None,
        template_fallback: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> R:
        """Send ``text`` and/or universal ``messages`` to a user (channel, label, user_id) or to a
        conversation."""
        options = _drop_none(
            {
                "tag": tag,
                "template_fallback": dict(template_fallback) if template_fallback else None,
                "idempotency_key": idempotency_key,
            }
        )
        body = _drop_none(
            {
                "channel": channel,
                "label": label,
                "user_id": user_id,
                "conversation_id": conversation_id,
                "messages": _messages(text, messages),
                "options": options or None,
            }
        )
        return self._call("POST", "/messages", json=body)

    def message(self, message_id: int) -> R:
        return self._call("GET", f"/messages/{int(message_id)}")

    # --- broadcasts ---

    def broadcast(
        self,
        *,
        channel: str,
        label: str,
        message: Mapping[str, Any],
        recipients: Sequence[str | Mapping[str, Any]] | None = None,
        filter: Mapping[str, Any] | None = None,
        tag: str | None = None,
        template_fallback: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> R:
        """Start a broadcast to ``recipients`` (user ids, or ``{"user_id", "parameters"}``) or a ``filter``
        (``{}`` for every conversation of the integration)."""
        audience: JSON = {}
        if recipients is not None:
            audience["recipients"] = [{"user_id": r} if isinstance(r, str) else dict(r) for r in recipients]
        if filter is not None:
            audience["filter"] = dict(filter)
        options = _drop_none(
            {
                "tag": tag,
                "template_fallback": dict(template_fallback) if template_fallback else None,
                "idempotency_key": idempotency_key,
            }
        )
        body = {
            "channel": channel,
            "label": label,
            "message": dict(message),
            **audience,
            **({"options": options} if options else {}),
        }
        return self._call("POST", "/broadcasts", json=body)

    def broadcasts(self, *, limit: int = 50, cursor: str | None = None) -> R:
        return self._call("GET", "/broadcasts", params=_drop_none({"limit": limit, "cursor": cursor}))

    def broadcast_status(self, broadcast_id: str, *, limit: int = 100, cursor: str | None = None) -> R:
        return self._call(
            "GET", f"/broadcasts/{broadcast_id}", params=_drop_none({"limit": limit, "cursor": cursor})
        )

    def cancel_broadcast(self, broadcast_id: str) -> R:
        return self._call("POST", f"/broadcasts/{broadcast_id}/cancel")

    # --- dead letters ---

    def dead_letters(
        self,
        *,
        channel: str | None = None,
        label: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> R:
        params = _drop_none({"channel": channel, "label": label, "limit": limit, "cursor": cursor})
        return self._call("GET", "/dead-letters", params=params)

    def replay(self, message_id: int) -> R:
        return self._call("POST", f"/dead-letters/{int(message_id)}/replay")


class Client(_Endpoints[JSON]):
    """The synchronous client (httpx)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = _api_url(base_url)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "channelgate-client"},
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSON:
        response = self._http.request(method, path, params=params, json=json, headers=headers)
        answer: JSON = _answer(response)
        return answer

    def media(self, channel: str, label: str, media_id: str) -> tuple[bytes, str]:
        """A user's media by id: the bytes and their content type."""
        response = self._http.get(f"/media/{channel}/{label}/{media_id}")
        if response.status_code >= 400:
            _answer(response)
        return response.content, response.headers.get("content-type", "application/octet-stream")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Endpoints[Awaitable[JSON]]):
    """The asynchronous twin of :class:`Client`: the same methods, as coroutines."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = _api_url(base_url)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "channelgate-client"},
        )

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> JSON:
        response = await self._http.request(method, path, params=params, json=json, headers=headers)
        answer: JSON = _answer(response)
        return answer

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Awaitable[JSON]:
        return self._request(method, path, params, json, headers)

    async def media(self, channel: str, label: str, media_id: str) -> tuple[bytes, str]:
        response = await self._http.get(f"/media/{channel}/{label}/{media_id}")
        if response.status_code >= 400:
            _answer(response)
        return response.content, response.headers.get("content-type", "application/octet-stream")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
