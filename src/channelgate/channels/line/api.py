"""Calls to the LINE Messaging API: JSON over HTTPS with ``Authorization: Bearer <channel access token>``,
errors answered as ``{"message": "...", "details": [{"message", "property"}]}`` (LINE's ErrorResponse).

What the errors mean, as data (:data:`ERRORS`; LINE's "Status codes" and "Error messages" reference):

===============================================  ==========================================================
429, "The API rate limit has been exceeded..."   Throttled: the rate or concurrency limit; wait and retry
429 "You have reached your monthly limit."       Rejected: the free message quota is used up until the
429 "You have exceeded the target limit for      month's end, or the additional-message cap; retrying
additional messages."                            cannot help before then
401                                              InvalidCredentials: the channel access token is wrong,
                                                 expired or revoked
400 "Invalid reply token"                        the reply token is used or expired: ``send`` pushes instead
other 4xx (400 bad message, 403 no permission)   Rejected
409 with ``X-Line-Retry-Key``                    not an error: a retry of a push LINE already accepted
5xx, network errors                              Unavailable: retried (a push with the same retry key)
===============================================  ==========================================================

The token is sent in a header only, and scrubbed from every reason by the toolkit's :class:`PlatformAPI`.
"""

from __future__ import annotations

from typing import Any

from channelgate.channels.base import Health, InvalidCredentials, Rejected, SendError, SendResult, Throttled
from channelgate.channels.http import PlatformHTTP, Response
from channelgate.channels.platform_api import ErrorTable, PlatformAPI, json_or_none, parse_retry_after

INVALID_REPLY_TOKEN = "Invalid reply token"  # noqa: S105 - LINE's error message
RETRY_KEY_HEADER = "X-Line-Retry-Key"

ERRORS = ErrorTable(
    {
        Throttled: {"The API rate limit has been exceeded. Try again later.", 429},
        Rejected: {
            "You have reached your monthly limit.",
            "You have exceeded the target limit for additional messages.",
            INVALID_REPLY_TOKEN,
        },
        InvalidCredentials: {401},
    }
)

CREDENTIALS_HINT = (
    "Issue a new channel access token in the LINE Developers Console (your channel → Messaging API → "
    "Channel access token) and update the integration's channel_access_token."
)


def error_of(response: Response) -> SendError:
    """The typed error for a failed LINE answer."""
    body = json_or_none(response)
    answer = body if isinstance(body, dict) else {}
    message = str(answer.get("message") or "").strip()
    found = answer.get("details")
    details: list[Any] = found if isinstance(found, list) else []
    reason = f"LINE answered HTTP {response.status_code}" + (f": {message}" if message else "")
    parts = [
        f"{d.get('property')}: {d.get('message')}" if d.get("property") else str(d.get("message"))
        for d in details[:5]
        if isinstance(d, dict)
    ]
    if parts:
        reason += f" ({'; '.join(parts)})"
    request_id = response.headers.get("x-line-request-id")
    if request_id:
        reason += f" [request {request_id}]"
    return ERRORS.error(
        reason,
        codes=[message or None, response.status_code],
        status=response.status_code,
        code=response.status_code,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def check(response: Response) -> SendError | None:
    return None if response.is_success else error_of(response)


def push_check(response: Response) -> SendError | None:
    """A push is done when LINE accepted it now (2xx) or before (409: this retry key was accepted)."""
    return None if response.is_success or response.status_code == 409 else error_of(response)


def is_invalid_reply_token(error: SendError) -> bool:
    return isinstance(error, Rejected) and INVALID_REPLY_TOKEN.lower() in error.reason.lower()


def first_sent_id(response: Response) -> str | None:
    """The id of the first message LINE sent (``sentMessages``, also in a 409's body)."""
    body = json_or_none(response)
    sent = body.get("sentMessages") if isinstance(body, dict) else None
    first = sent[0] if isinstance(sent, list) and sent and isinstance(sent[0], dict) else {}
    value = first.get("id")
    return str(value) if value not in (None, "") else None


class LineAPI:
    """The Messaging API for one channel, on the toolkit's :class:`PlatformAPI` (health, scrubbing, kinds)."""

    def __init__(self, http: PlatformHTTP, health: Health, base_url: str, data_url: str, token: str) -> None:
        self.base_url = base_url
        self.data_url = data_url
        self._headers = {"Authorization": f"Bearer {token}"}
        self.platform = PlatformAPI(
            http, health, product="LINE", secrets=lambda: [token], credentials_hint=CREDENTIALS_HINT
        )

    async def call(self, method: str, path: str, json: Any = None) -> Any:
        """One call on ``{api_base_url}{path}``; its JSON answer (None when empty), or a SendError."""
        response = await self.platform.request(
            method, f"{self.base_url}{path}", check=check, json=json, headers=self._headers
        )
        return json_or_none(response)

    async def reply(self, token: str, messages: list[dict[str, Any]]) -> SendResult:
        """``POST /v2/bot/message/reply``: free, once per reply token, within about a minute."""
        response = await self.platform.request(
            "POST",
            f"{self.base_url}/v2/bot/message/reply",
            check=check,
            json={"replyToken": token, "messages": messages},
            headers=self._headers,
        )
        return SendResult(first_sent_id(response))

    async def push(self, to: str, messages: list[dict[str, Any]], retry_key: str | None) -> SendResult:
        """``POST /v2/bot/message/push`` with ``X-Line-Retry-Key``: a retry with the same key is answered 409
        once LINE has accepted the first, so the messages are never delivered twice."""
        headers = dict(self._headers)
        if retry_key:
            headers[RETRY_KEY_HEADER] = retry_key
        response = await self.platform.request(
            "POST",
            f"{self.base_url}/v2/bot/message/push",
            check=push_check,
            json={"to": to, "messages": messages},
            headers=headers,
        )
        return SendResult(first_sent_id(response))

    async def content(self, message_id: str) -> Response:
        """``GET {data host}/v2/bot/message/{id}/content``: what a user sent, stored by LINE."""
        return await self.platform.request(
            "GET", f"{self.data_url}/v2/bot/message/{message_id}/content", check=check, headers=self._headers
        )
