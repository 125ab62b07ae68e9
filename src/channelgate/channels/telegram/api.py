"""Calls to the Telegram Bot API: ``POST {api_base_url}/bot<token>/<method>`` with JSON parameters, answered
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description", "parameters"?}``.

What the errors mean, as data (:data:`ERRORS`; Bot API "Making requests", PTB ``telegram.error``):

=====================================  ==========================================================
429 + ``parameters.retry_after``       Throttled: wait that many seconds (flood control)
401, 404                               InvalidCredentials: the token was revoked or is wrong (404 is
                                       also an unknown method, but this client only calls known ones)
403 (blocked, kicked, deactivated)     Rejected: this chat will not take messages from the bot
400 (+ ``migrate_to_chat_id``)         Rejected: the group became a supergroup; the reason names the
                                       new chat id
5xx, network errors                    Unavailable: retried
=====================================  ==========================================================

The token is in the URL path (Telegram's design), so it is a secret of the :class:`PlatformAPI` (scrubbed
from every reason); :class:`PlatformHTTP` logs no request URLs.
"""

from __future__ import annotations

from typing import Any

from channelgate.channels.base import (
    Health,
    InvalidCredentials,
    Rejected,
    SendError,
    Throttled,
    Unavailable,
)
from channelgate.channels.http import PlatformHTTP, Response
from channelgate.channels.platform_api import ErrorTable, PlatformAPI, json_or_none, parse_retry_after

#: Telegram's ``error_code`` (the HTTP status) and ``description`` texts, by what they mean.
ERRORS = ErrorTable(
    {
        Throttled: {429},
        InvalidCredentials: {401, 404, "Unauthorized", "Not Found"},
        Rejected: {
            403,
            "Forbidden: bot was blocked by the user",
            "Forbidden: user is deactivated",
            "Forbidden: bot was kicked from the group chat",
            "Forbidden: bot was kicked from the supergroup chat",
            "Forbidden: bot can't initiate conversation with a user",
            "Bad Request: chat not found",
        },
        Unavailable: {500, 502, 503, 504},
    },
    credential_statuses=frozenset({401, 404}),
)

CREDENTIALS_HINT = (
    "Check the integration's bot_token: @BotFather → /mybots → API Token shows the current one "
    "(/revoke makes a new one)."
)


def check(response: Response) -> SendError | None:
    """None for ``{"ok": true}``, else the typed error for Telegram's answer."""
    body = json_or_none(response)
    answer = body if isinstance(body, dict) else {}
    if response.is_success and answer.get("ok") is True:
        return None
    code = answer.get("error_code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    description = str(answer.get("description") or "").strip()
    parameters = answer.get("parameters") if isinstance(answer.get("parameters"), dict) else {}
    assert isinstance(parameters, dict)
    retry_after = parameters.get("retry_after")
    hint = (
        float(retry_after)
        if isinstance(retry_after, int | float) and not isinstance(retry_after, bool) and retry_after >= 0
        else parse_retry_after(response.headers.get("retry-after"))
    )
    reason = f"Telegram answered {code or response.status_code}"
    reason += f": {description}" if description else f" (HTTP {response.status_code})"
    migrated = parameters.get("migrate_to_chat_id")
    if migrated is not None:
        reason += f"; the group is now the supergroup {migrated}: write to that chat id"
    status = response.status_code if not response.is_success else (code or 500)
    return ERRORS.error(
        reason, codes=[description or None, code], status=status, code=code or status, retry_after=hint
    )


class TelegramAPI:
    """The Bot API for one bot, on the toolkit's :class:`PlatformAPI` (health, scrubbing, error kinds)."""

    def __init__(self, http: PlatformHTTP, health: Health, base_url: str, token: str) -> None:
        self.base_url = base_url
        self._token = token
        self.platform = PlatformAPI(
            http,
            health,
            product="Telegram",
            secrets=lambda: [token],
            credentials_hint=CREDENTIALS_HINT,
        )

    def url(self, method: str) -> str:
        return f"{self.base_url}/bot{self._token}/{method}"

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One Bot API method; its ``result``, or a SendError (secrets scrubbed)."""
        response = await self.platform.request("POST", self.url(method), check=check, json=params or {})
        body = json_or_none(response)
        return body.get("result") if isinstance(body, dict) else None

    async def download(self, file_path: str) -> Response:
        """A file ``getFile`` pointed at: ``{api_base_url}/file/bot<token>/<file_path>`` (valid ≥ 1 hour)."""
        url = f"{self.base_url}/file/bot{self._token}/{file_path.lstrip('/')}"

        def status_only(response: Response) -> SendError | None:
            if response.is_success:
                return None
            return ERRORS.error(
                f"Telegram file download answered HTTP {response.status_code}", status=response.status_code
            )

        return await self.platform.request("GET", url, check=status_only)
