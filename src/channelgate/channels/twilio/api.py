"""Calls to Twilio's REST API: ``{api_base_url}/2010-04-01/Accounts/{AccountSid}/…`` with HTTP Basic auth
(``account_sid:auth_token``), form-encoded parameters, JSON answers.

Errors come as ``{"code": 21211, "message": …, "more_info": …, "status": 400}`` (some newer endpoints:
RFC 9457 ``{"type", "title", "status", "code", "detail"}``). What the codes mean, as data (:data:`ERRORS`;
Twilio's error dictionary, docs/api/errors/<code>):

=====================================  ==========================================================
20429 (API concurrency), HTTP 429      Throttled: not processed, safe to retry after backing off
21611 (sender's queue full)            Throttled: Twilio queues per sender (1 segment/s on a long
                                       code); the queue refills as it drains
20003 (authentication), HTTP 401       InvalidCredentials: the account SID or Auth Token is wrong
21211 invalid To, 21610 the user sent  Rejected: retrying cannot help (21610 until the user texts
STOP, 21614 To cannot take SMS, 21608  START; 21608 until the trial account verifies the number)
unverified To (trial), 21606, 21612,
21617, 21602, 21408, 21620, 21621
20500, 20503, 5xx, network errors      Unavailable: retried
=====================================  ==========================================================

The Auth Token is a secret of the :class:`PlatformAPI`: scrubbed from every reason.
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
from channelgate.channels.http import PlatformHTTP, Response, basic_auth
from channelgate.channels.platform_api import ErrorTable, PlatformAPI, json_or_none, parse_retry_after
from channelgate.channels.twilio.config import TwilioConfig

API_VERSION = "2010-04-01"

ERRORS = ErrorTable(
    {
        Throttled: {20429, 21611, 14107},
        InvalidCredentials: {20003, 20005},
        Rejected: {21211, 21610, 21614, 21608, 21606, 21612, 21617, 21602, 21408, 21620, 21621, 21619},
        Unavailable: {20500, 20503},
    },
    credential_statuses=frozenset({401}),
)

CREDENTIALS_HINT = (
    "Check the integration's account_sid and auth_token: Twilio Console → Account Info shows both "
    "(use the primary Auth Token)."
)


def check(response: Response) -> SendError | None:
    """None for a 2xx, else the typed error for Twilio's answer."""
    if response.is_success:
        return None
    body = json_or_none(response)
    answer = body if isinstance(body, dict) else {}
    code = answer.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = str(answer.get("message") or answer.get("detail") or answer.get("title") or "").strip()
    reason = f"Twilio answered HTTP {response.status_code}"
    reason += f", error {code}" if code is not None else ""
    reason += f": {message[:300]}" if message else ""
    return ERRORS.error(
        reason,
        codes=[code],
        status=response.status_code,
        code=code or response.status_code,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


class TwilioAPI:
    """The REST API for one account, on the toolkit's :class:`PlatformAPI` (health, scrubbing, kinds)."""

    def __init__(self, config: TwilioConfig, http: PlatformHTTP, health: Health) -> None:
        token = config.auth_token.get_secret_value()
        self.config = config
        self._auth = {"authorization": basic_auth(config.account_sid, token)}
        self.platform = PlatformAPI(
            http, health, product="Twilio", secrets=lambda: [token], credentials_hint=CREDENTIALS_HINT
        )

    def url(self, path: str) -> str:
        """``{api_base_url}/2010-04-01/Accounts/{AccountSid}/{path}``."""
        return f"{self.config.api_base_url}/{API_VERSION}/Accounts/{self.config.account_sid}/{path}"

    async def call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """One call; its JSON answer (an empty dict when it is not an object), or a SendError."""
        response = await self.platform.request(method, url, check=check, headers=self._auth, **kwargs)
        body = json_or_none(response)
        return body if isinstance(body, dict) else {}

    async def create_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """``POST Messages.json``: the new Message resource (``sid``, ``status``: queued/accepted)."""
        return await self.call("POST", self.url("Messages.json"), data=params)

    async def messages_to(self, to: str, sender: str | None) -> list[dict[str, Any]]:
        """The latest Message resources sent to ``to`` (from ``sender`` when known), newest first."""
        query = {"To": to, "PageSize": "20"}
        if sender:
            query["From"] = sender
        answer = await self.call("GET", self.url("Messages.json"), params=query)
        found = answer.get("messages")
        return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []

    async def media(self, message_sid: str, media_sid: str) -> Response:
        """A media file Twilio keeps for a message (Basic auth; Twilio redirects to its storage, where
        :class:`PlatformHTTP` does not carry the credentials along)."""
        url = self.url(f"Messages/{message_sid}/Media/{media_sid}")
        return await self.platform.request("GET", url, check=check, headers=self._auth, redirects=3)

    # --- setup (``connect``) ---

    async def phone_number_sid(self, number: str) -> str | None:
        """The ``PN…`` SID of the account's number ``number``, None when the account has no such number."""
        answer = await self.call("GET", self.url("IncomingPhoneNumbers.json"), params={"PhoneNumber": number})
        numbers = answer.get("incoming_phone_numbers")
        for item in numbers if isinstance(numbers, list) else []:
            if (
                isinstance(item, dict)
                and item.get("phone_number") == number
                and isinstance(item.get("sid"), str)
            ):
                return str(item["sid"])
        return None

    async def set_number_webhook(self, number_sid: str, url: str) -> dict[str, Any]:
        return await self.call(
            "POST",
            self.url(f"IncomingPhoneNumbers/{number_sid}.json"),
            data={"SmsUrl": url, "SmsMethod": "POST"},
        )

    async def set_service_webhook(self, service_sid: str, url: str) -> dict[str, Any]:
        return await self.call(
            "POST",
            f"{self.config.messaging_base_url()}/v1/Services/{service_sid}",
            data={"InboundRequestUrl": url, "InboundMethod": "POST", "UseInboundWebhookOnNumber": "false"},
        )
