"""A Twilio Programmable Messaging simulator on a real HTTP server, for channelgate's tests and for bot
developers without a Twilio account.

* The REST API as Twilio serves it, HTTP Basic ``AccountSid:AuthToken`` (else 401, code 20003):
  ``POST|GET /2010-04-01/Accounts/{AC}/Messages.json`` (send, list), ``GET …/Messages/{MM}/Media/{ME}``,
  ``GET …/IncomingPhoneNumbers.json?PhoneNumber=…``, ``POST …/IncomingPhoneNumbers/{PN}.json``
  (``SmsUrl``), and the Messaging Services API's ``POST /v1/Services/{MG}`` (``InboundRequestUrl``).
* Sends are checked against the documented limits (:func:`validate`): ``To`` in E.164 (21211), a sender
  the account owns (21606/21705), a body or media (21602/21619), ``Body`` ≤ 1,600 characters (21617),
  ≤ 10 ``MediaUrl`` of http(s) (21623/21620), a valid ``StatusCallback`` (21609); recipients who texted STOP
  (``sim.unsubscribed``: 21610) and landlines (``sim.landlines``: 21614). Refusals are Twilio's error body
  ``{"code", "message", "more_info", "status"}`` and are kept in ``sim.rejected``.
* Failures on demand: ``sim.fail_next(1, status=429)`` (code 20429, ``Retry-After``), 5xx; with
  ``accepted=True`` the message is created and the answer still fails, as when a response is lost.
* Webhooks as Twilio sends them: :meth:`TwilioSimulator.incoming` builds an incoming message's form
  (media as ``NumMedia``/``MediaUrl{n}``/``MediaContentType{n}``), :meth:`deliver` signs it with
  ``X-Twilio-Signature`` over the URL it calls and posts it to the number's ``SmsUrl``; the TwiML answer is
  read as Twilio reads it (``<Message>`` verbs become messages, in ``sim.twiml``; a non-TwiML answer is
  recorded in ``sim.webhook_errors``, as Twilio's debugger would). :meth:`status_callback` posts a
  delivery status to a sent message's ``StatusCallback``.

Why one module of ~500 lines: the validation rules, the REST resources and the webhook side are one
simulated platform, read together when a test fails (like ``graph.py`` and ``telegram.py``).
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
import httpx
from defusedxml import DefusedXmlException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channelgate.channels.twilio.signature import HEADER, signature
from channelgate.testing.arrivals import Arrivals

BODY_MAX = 1600
MEDIA_MAX = 10
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
API = "/2010-04-01/Accounts/{account}"


class TwilioError(Exception):
    """A request Twilio refuses: its error code, HTTP status and message."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def segments(body: str) -> int:
    """SMS segments a body is billed as: 160 GSM-7 characters (153 when split), else 70 UCS-2 (67)."""
    if not body:
        return 1
    gsm = all(32 <= ord(c) < 127 or c in "\n\r" for c in body)
    single, part = (160, 153) if gsm else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // part)


# --- validation --------------------------------------------------------------------------------------------


def validate(params: Mapping[str, Sequence[str]], senders: set[str], services: set[str]) -> None:
    """Raise TwilioError as the Messages API would for a create with ``params`` (repeated names listed)."""

    def one(name: str) -> str:
        values = params.get(name) or []
        return values[0] if values else ""

    to = one("To")
    if not to:
        raise TwilioError(21604, "A 'To' phone number is required.")
    if not E164.fullmatch(to.removeprefix("whatsapp:")):
        raise TwilioError(21211, f"The 'To' number {to} is not a valid phone number.")
    sender, service = one("From"), one("MessagingServiceSid")
    if not sender and not service:
        raise TwilioError(21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
    if sender and sender not in senders:
        raise TwilioError(21606, f"The From phone number {sender} is not a valid, SMS-capable phone number.")
    if service and service not in services:
        raise TwilioError(21705, "The Messaging Service Sid is invalid.")
    body, media, content = one("Body"), list(params.get("MediaUrl") or []), one("ContentSid")
    if not body and not media and not content:
        raise TwilioError(21619, "A text message body or media urls must be specified.")
    if len(body) > BODY_MAX:
        raise TwilioError(21617, "The concatenated message body exceeds the 1600 character limit.")
    if len(media) > MEDIA_MAX:
        raise TwilioError(21623, "Number of media files exceeds allowed limit.")
    if any(not m.startswith(("https://", "http://")) for m in media):
        raise TwilioError(21620, "Invalid media URL(s).")
    callback = one("StatusCallback")
    if callback and not callback.startswith(("https://", "http://")):
        raise TwilioError(21609, "Invalid StatusCallback URL.")


# --- the simulator -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Sent:
    """A message the simulator created (through the REST API)."""

    sid: str
    params: dict[str, Any]
    at: float
    status: str = "queued"

    @property
    def body(self) -> str:
        return str(self.params.get("Body", ""))

    @property
    def media(self) -> list[str]:
        return list(self.params.get("MediaUrl", []))


@dataclass(frozen=True, slots=True)
class TwimlMessage:
    """A ``<Message>`` of a webhook's TwiML answer: what Twilio texted back."""

    to: str
    body: str
    media: list[str]


@dataclass(slots=True)
class _Failure:
    status: int
    code: int
    retry_after: float | None
    accepted: bool


@dataclass(eq=False)
class TwilioSimulator:
    """The simulated account; ``.app`` is the Starlette app serving its REST API."""

    account_sid: str = "AC" + "5ef8732a3c49700934481addd5ce1659"
    auth_token: str = "simulated-auth-token-0123456789ab"  # noqa: S105 - a simulator's value
    phone_number: str = "+15005550006"
    phone_number_sid: str = "PN" + "2a0747eba6abf96b7e3c3ff0b4530f6e"
    messaging_service_sid: str = "MG" + "2172dd2db502e20dd981ef0d67850e1a"
    #: messages created through the REST API, in order
    sent: list[Sent] = field(default_factory=list, repr=False)
    #: messages Twilio sent from the webhooks' TwiML answers
    twiml: list[TwimlMessage] = field(default_factory=list, repr=False)
    #: creates refused by validation: ``{"params", "code", "message"}``
    rejected: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: answers Twilio could not use (not 2xx, not TwiML): what its debugger would show
    webhook_errors: list[str] = field(default_factory=list, repr=False)
    #: numbers that texted STOP (21610) and numbers that cannot take SMS (21614)
    unsubscribed: set[str] = field(default_factory=set, repr=False)
    landlines: set[str] = field(default_factory=set, repr=False)
    #: media users sent, by media SID: (message SID, bytes, content type)
    media: dict[str, tuple[str, bytes, str]] = field(default_factory=dict, repr=False)
    #: create attempts answered (accepted or not), with their HTTP status
    attempts: list[int] = field(default_factory=list, repr=False)
    #: the last form delivered, for redelivery
    last_delivery: list[tuple[str, str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.number = {"sid": self.phone_number_sid, "phone_number": self.phone_number, "sms_url": "",
                       "sms_method": "POST"}  # fmt: skip
        self.service = {
            "sid": self.messaging_service_sid,
            "inbound_request_url": None,
            "inbound_method": "POST",
        }
        self._failures: deque[_Failure] = deque()
        self._arrivals = Arrivals()
        prefix = API.format(account="{account}")
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/Messages.json", self._messages, methods=["GET", "POST"]),
                Route(f"{prefix}/Messages/{{message}}/Media/{{media}}", self._media, methods=["GET"]),
                Route(f"{prefix}/IncomingPhoneNumbers.json", self._numbers, methods=["GET"]),
                Route(
                    f"{prefix}/IncomingPhoneNumbers/{{number}}.json", self._update_number, methods=["POST"]
                ),
                Route("/v1/Services/{service}", self._update_service, methods=["POST"]),
            ]
        )

    # --- test controls ---

    def fail_next(
        self, n: int = 1, *, status: int = 500, code: int | None = None, retry_after: float | None = None,
        accepted: bool = False,
    ) -> None:  # fmt: skip
        """Answer the next ``n`` creates with ``status`` (429: code 20429 and ``Retry-After``). With
        ``accepted`` the message is created anyway: the answer is what fails (a lost response)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        default = {429: 20429, 401: 20003, 503: 20503}.get(status, 20500)
        self._failures.extend(_Failure(status, code or default, retry_after, accepted) for _ in range(n))

    async def wait_for_sends(self, n: int, timeout: float = 5.0) -> list[Sent]:  # noqa: ASYNC109
        """Wait until at least ``n`` messages were created through the REST API."""
        await self._arrivals.until(lambda: len(self.sent), n, timeout)
        return list(self.sent)

    def add_media(self, content: bytes, content_type: str, message_sid: str | None = None) -> str:
        """Media a user sent; its URL as Twilio puts it in ``MediaUrl{n}`` (under ``base_url``)."""
        media_sid = sid("ME")
        self.media[media_sid] = (message_sid or sid("MM"), content, content_type)
        return media_sid

    # --- webhooks, as Twilio sends them ---

    def incoming(
        self, sender: str, body: str = "", *, media: Sequence[tuple[str, str]] = (), to: str | None = None,
        message_sid: str | None = None, **extra: str,
    ) -> list[tuple[str, str]]:  # fmt: skip
        """An incoming message's form, in Twilio's field order; ``media`` as (url, content type) pairs."""
        message = message_sid or sid("MM" if media else "SM")
        fields = [
            ("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", message), ("NumMedia", str(len(media))),
            ("ToCity", ""), ("FromZip", ""), ("SmsSid", message), ("FromState", ""),
            ("SmsStatus", "received"),
            ("FromCity", ""), ("Body", body), ("FromCountry", "US"), ("To", to or self.phone_number),
            ("ToZip", ""), ("NumSegments", str(segments(body))), ("MessageSid", message),
            ("AccountSid", self.account_sid), ("From", sender), ("ApiVersion", "2010-04-01"),
        ]  # fmt: skip
        for n, (url, kind) in enumerate(media):
            fields += [(f"MediaContentType{n}", kind), (f"MediaUrl{n}", url)]
        return fields + list(extra.items())

    def media_url(self, base_url: str, media_sid: str) -> str:
        message_sid = self.media[media_sid][0]
        return f"{base_url}{API.format(account=self.account_sid)}/Messages/{message_sid}/Media/{media_sid}"

    @property
    def webhook_url(self) -> str:
        return str(self.service["inbound_request_url"] or self.number["sms_url"] or "")

    async def deliver(
        self, form: Sequence[tuple[str, str]], url: str | None = None, *, signed: bool = True,
        token: str | None = None, client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:  # fmt: skip
        """POST ``form`` to ``url`` (default: the number's or service's webhook) signed as Twilio signs it
        (``token``: sign with another Auth Token; ``signed=False``: no signature). A 200 answer is read
        as TwiML."""
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook is set: connect the integration first, or pass url")
        self.last_delivery = list(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "I-Twilio-Idempotency-Token": sid("")}
        if signed:
            headers[HEADER] = signature(token or self.auth_token, target, form)
        async with _client(client) as http:
            response = await http.post(target, content=urlencode(list(form)).encode(), headers=headers)
        sender = dict(form).get("From", "")
        if response.status_code != 200:
            self.webhook_errors.append(f"11200 HTTP retrieval failure: HTTP {response.status_code}")
        else:
            self._read_twiml(response, sender)
        return response

    async def status_callback(
        self,
        message: Sent,
        status: str,
        *,
        error_code: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        """Post a status of ``message`` to its ``StatusCallback``, signed."""
        url = str(message.params.get("StatusCallback", ""))
        message.status = status
        form = [("SmsSid", message.sid), ("SmsStatus", status), ("MessageStatus", status),
                ("To", str(message.params.get("To", ""))), ("MessageSid", message.sid),
                ("AccountSid", self.account_sid), ("From", self.sender_of(message)),
                ("ApiVersion", "2010-04-01")]  # fmt: skip
        if error_code:
            form.append(("ErrorCode", error_code))
        async with _client(client) as http:
            return await http.post(
                url,
                content=urlencode(form).encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    HEADER: signature(self.auth_token, url, form),
                },
            )

    def _read_twiml(self, response: httpx.Response, sender: str) -> None:
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        if not response.content.strip():
            return
        if kind not in ("text/xml", "application/xml"):
            self.webhook_errors.append(f"12300 Invalid Content-Type: {kind}")
            return
        try:
            root = SafeET.fromstring(response.content, forbid_dtd=True)
        except (ParseError, DefusedXmlException) as exc:
            self.webhook_errors.append(f"12100 Document parse failure: {exc}")
            return
        if root.tag != "Response":
            self.webhook_errors.append(f"12100 Document parse failure: root <{root.tag}>")
            return
        for verb in root:
            if verb.tag != "Message":
                self.webhook_errors.append(f"12200 Schema validation warning: <{verb.tag}>")
                continue
            body_el = verb.find("Body")
            body = (body_el.text or "") if body_el is not None else (verb.text or "").strip()
            media = [m.text or "" for m in verb.findall("Media")]
            if len(body) > BODY_MAX or len(media) > MEDIA_MAX or not (body or media):
                self.webhook_errors.append("14107 Message verb over its limits or empty")
                continue
            self.twiml.append(TwimlMessage(verb.get("to") or sender, body, media))
        self._wake()

    # --- the REST API ---

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.encode(), self.account_sid.encode()) and hmac.compare_digest(
            password.encode(), self.auth_token.encode()
        )

    @staticmethod
    def _error(
        code: int, message: str, status: int = 400, headers: Mapping[str, str] | None = None
    ) -> Response:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status}  # fmt: skip
        return JSONResponse(body, status_code=status, headers=dict(headers or {}))

    async def _guard(self, request: Request) -> Response | None:
        if (
            not self._authorized(request)
            or request.path_params.get("account", self.account_sid) != self.account_sid
        ):
            return self._error(20003, "Authenticate", 401)
        return None

    async def _form(self, request: Request) -> dict[str, list[str]]:
        params: dict[str, list[str]] = {}
        for name, value in parse_qsl((await request.body()).decode(), keep_blank_values=True):
            params.setdefault(name, []).append(value)
        return params

    async def _messages(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            return self._list(request)
        params = await self._form(request)
        failure = self._failures.popleft() if self._failures else None
        if failure is not None and not failure.accepted:
            self.attempts.append(failure.status)
            headers = (
                {"Retry-After": str(int(failure.retry_after))} if failure.retry_after is not None else None
            )
            return self._error(failure.code, "Simulated failure", failure.status, headers)
        try:
            validate(params, {self.phone_number}, {self.messaging_service_sid})
            to = params["To"][0]
            if to in self.unsubscribed:
                raise TwilioError(21610, "Attempt to send to unsubscribed recipient")
            if to in self.landlines:
                raise TwilioError(21614, f"'To' number {to} is not a valid mobile number")
        except TwilioError as exc:
            self.attempts.append(exc.status)
            self.rejected.append({"params": params, "code": exc.code, "message": exc.message})
            return self._error(exc.code, exc.message, exc.status)
        flat: dict[str, Any] = {k: (v if k == "MediaUrl" else v[0]) for k, v in params.items()}
        message = Sent(sid("MM" if flat.get("MediaUrl") else "SM"), flat, time.time())
        self.sent.append(message)
        self._wake()
        if failure is not None:  # created, but the answer is lost
            self.attempts.append(failure.status)
            return self._error(
                failure.code, "Simulated failure after the message was created", failure.status
            )
        self.attempts.append(201)
        return JSONResponse(self._resource(message), status_code=201)

    def _list(self, request: Request) -> Response:
        to, sender = request.query_params.get("To"), request.query_params.get("From")
        size = int(request.query_params.get("PageSize", "50") or 50)
        found = [m for m in reversed(self.sent) if (not to or m.params.get("To") == to)
                 and (not sender or self.sender_of(m) == sender)][:size]  # fmt: skip
        return JSONResponse({"messages": [self._resource(m) for m in found], "page": 0, "page_size": size})

    def sender_of(self, message: Sent) -> str:
        """The number a message went from (a Messaging Service picks its number: the simulator has one)."""
        return str(message.params.get("From") or self.phone_number)

    def _resource(self, message: Sent) -> dict[str, Any]:
        p = message.params
        status = "accepted" if p.get("MessagingServiceSid") and message.status == "queued" else message.status
        return {
            "sid": message.sid, "account_sid": self.account_sid, "to": p.get("To"),
            "from": self.sender_of(message),
            "messaging_service_sid": p.get("MessagingServiceSid"), "body": p.get("Body", ""),
            "status": status,
            "num_media": str(len(message.media)), "num_segments": str(segments(message.body)),
            "direction": "outbound-api", "api_version": "2010-04-01", "price": None, "error_code": None,
            "error_message": None, "date_created": formatdate(message.at, usegmt=True),
            "date_updated": formatdate(message.at, usegmt=True), "date_sent": None,
            "uri": f"{API.format(account=self.account_sid)}/Messages/{message.sid}.json",
        }  # fmt: skip

    async def _media(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        item = self.media.get(request.path_params["media"])
        if item is None or item[0] != request.path_params["message"]:
            return self._error(20404, "The requested resource was not found", 404)
        return Response(item[1], media_type=item[2])

    async def _numbers(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        wanted = request.query_params.get("PhoneNumber")
        found = [dict(self.number)] if wanted in (None, self.phone_number) else []
        return JSONResponse({"incoming_phone_numbers": found, "page": 0})

    async def _update_number(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        if request.path_params["number"] != self.phone_number_sid:
            return self._error(20404, "The requested resource was not found", 404)
        params = {k: v[0] for k, v in (await self._form(request)).items()}
        url = params.get("SmsUrl")
        if url is not None and url and urlsplit(url).scheme not in ("http", "https"):
            return self._error(21502, "SmsUrl is not valid")
        method = params.get("SmsMethod", self.number["sms_method"]).upper()
        if method not in ("GET", "POST"):
            return self._error(21503, "SmsMethod is not valid")
        self.number.update(sms_url=url if url is not None else self.number["sms_url"], sms_method=method)
        return JSONResponse(dict(self.number))

    async def _update_service(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(20003, "Authenticate", 401)
        if request.path_params["service"] != self.messaging_service_sid:
            return self._error(20404, "The requested resource was not found", 404)
        params = {k: v[0] for k, v in (await self._form(request)).items()}
        if "InboundRequestUrl" in params:
            self.service["inbound_request_url"] = params["InboundRequestUrl"] or None
        if "InboundMethod" in params:
            self.service["inbound_method"] = params["InboundMethod"].upper()
        return JSONResponse(dict(self.service))

    def _wake(self) -> None:
        self._arrivals.arrived()


class _client:
    """The given client, or one of our own for the call."""

    def __init__(self, client: httpx.AsyncClient | None) -> None:
        self.given = client
        self.own: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        if self.given is not None:
            return self.given
        self.own = httpx.AsyncClient(timeout=20)
        return self.own

    async def __aexit__(self, *exc: object) -> None:
        if self.own is not None:
            await self.own.aclose()


def main(host: str = "127.0.0.1", port: int = 9093) -> None:
    """Serve a simulator (credentials from ``TWILIO_SIM_ACCOUNT_SID``, ``_AUTH_TOKEN``, ``_PHONE_NUMBER``)
    until interrupted."""
    import uvicorn

    sim = TwilioSimulator(
        account_sid=os.environ.get("TWILIO_SIM_ACCOUNT_SID", TwilioSimulator.account_sid),
        auth_token=os.environ.get("TWILIO_SIM_AUTH_TOKEN", TwilioSimulator.auth_token),
        phone_number=os.environ.get("TWILIO_SIM_PHONE_NUMBER", TwilioSimulator.phone_number),
    )
    print(
        f"Twilio simulator on http://{host}:{port} (api_base_url), account_sid={sim.account_sid}, "
        f"from_number={sim.phone_number}"
    )
    uvicorn.run(sim.app, host=host, port=port, log_level="info")
