"""Calls to Slack's Web API: ``POST {api_base_url}/<method>`` with ``Authorization: Bearer <bot token>`` and
a JSON body, answered HTTP 200 ``{"ok": true, ...}`` or, for most errors, HTTP 200 ``{"ok": false, "error":
"<code>"}``: the status alone says little, so every answer's ``ok`` is checked.

What the error codes mean, as data (:data:`ERRORS`; chat.postMessage and Web API docs, python-slack-sdk):

===========================================  ==============================================================
``ratelimited`` (HTTP 429, ``Retry-After``)  Throttled: wait that many seconds
``invalid_auth``, ``not_authed``,            InvalidCredentials: the bot token is wrong, revoked or its
``token_revoked``, ``account_inactive``...   workspace gone (the integration turns red)
``channel_not_found``, ``not_in_channel``,   Rejected: this message can never be posted there
``msg_too_long``, ``invalid_blocks``...
``fatal_error``, ``internal_error``,         Unavailable: Slack is failing; retried
``service_unavailable``,
``request_timeout``, HTTP 5xx
===========================================  ==============================================================

Slack offers no idempotency key for ``chat.postMessage``: a send retried after a 5xx that Slack had in fact
carried out is posted twice (the delivery worker retries only what failed, so this needs Slack to fail
after posting).
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

ERRORS = ErrorTable(
    {
        Throttled: {"ratelimited", "rate_limited"},
        InvalidCredentials: {
            "invalid_auth",
            "not_authed",
            "token_revoked",
            "token_expired",
            "account_inactive",
            "no_permission",
            "missing_scope",
            "org_login_required",
            "team_access_not_granted",
            "ekm_access_denied",
            "not_allowed_token_type",
        },
        Rejected: {
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "msg_too_long",
            "msg_blocks_too_long",
            "invalid_blocks",
            "invalid_blocks_format",
            "invalid_attachments",
            "no_text",
            "too_many_attachments",
            "restricted_action",
            "restricted_action_read_only_channel",
            "restricted_action_thread_only_channel",
            "restricted_action_non_threadable_channel",
            "cannot_reply_to_message",
            "invalid_arguments",
            "invalid_metadata_format",
            "duplicate_channel_not_found",
            "messages_tab_disabled",
            "user_not_found",
            "file_not_found",
        },
        Unavailable: {"fatal_error", "internal_error", "service_unavailable", "request_timeout"},
    }
)

CREDENTIALS_HINT = (
    "Check the integration's bot_token: api.slack.com/apps → your app → OAuth & Permissions → Bot User "
    "OAuth Token (reinstall the app if it was revoked, or after adding a scope)."
)


def check(response: Response) -> SendError | None:
    """None for ``{"ok": true}``, else the typed error for Slack's answer."""
    body = json_or_none(response)
    answer = body if isinstance(body, dict) else {}
    if response.is_success and answer.get("ok") is True:
        return None
    error = answer.get("error")
    code = error if isinstance(error, str) and error else None
    reason = f"Slack answered {code or f'HTTP {response.status_code}'}"
    needed = answer.get("needed")
    if code == "missing_scope" and isinstance(needed, str):
        reason += f" (the app needs the {needed} scope: add it, then reinstall the app)"
    if response.status_code == 429 and code is None:
        code = "ratelimited"
    # an HTTP 200 {"ok": false} with an unknown code is Slack refusing this call, not failing
    status = response.status_code if not response.is_success else 400
    return ERRORS.error(
        reason,
        codes=[code],
        status=status,
        code=code or response.status_code,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


class SlackAPI:
    """The Web API for one workspace's bot, on the toolkit's :class:`PlatformAPI` (health, scrubbing)."""

    def __init__(self, http: PlatformHTTP, health: Health, base_url: str, token: str) -> None:
        self.base_url = base_url
        self._token = token
        self.platform = PlatformAPI(
            http, health, product="Slack", secrets=lambda: [token], credentials_hint=CREDENTIALS_HINT
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def call(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One Web API method with a JSON body; Slack's answer, or a SendError (the token scrubbed)."""
        response = await self.platform.request(
            "POST", f"{self.base_url}/{method}", check=check, json=body or {}, headers=self.headers
        )
        answer = json_or_none(response)
        return answer if isinstance(answer, dict) else {}

    async def get(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        """A read method with query parameters (``files.info``)."""
        response = await self.platform.request(
            "GET", f"{self.base_url}/{method}", check=check, params=params, headers=self.headers
        )
        answer = json_or_none(response)
        return answer if isinstance(answer, dict) else {}

    async def download(self, url: str) -> Response:
        """A private file (``url_private_download``), which needs the bot token; without it Slack answers
        its sign-in page with HTTP 200, so an HTML answer is refused too."""

        def file_check(response: Response) -> SendError | None:
            if not response.is_success:
                return ERRORS.error(
                    f"Slack file download answered HTTP {response.status_code}", status=response.status_code
                )
            if response.headers.get("content-type", "").startswith("text/html"):
                return InvalidCredentials(
                    "Slack answered its sign-in page instead of the file: the bot token needs files:read",
                    code="files:read",
                )
            return None

        return await self.platform.request("GET", url, check=file_check, headers=self.headers)
