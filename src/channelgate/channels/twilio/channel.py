"""SMS and MMS through Twilio Programmable Messaging: a Twilio number (or Messaging Service) whose incoming
messages Twilio posts to the callback URL, signed with the account's Auth Token; replies sent in the
webhook's TwiML answer when the bot is quick, else through the Messages REST API.

* ``config.py``: the account and the sender.
* ``signature.py``: ``X-Twilio-Signature`` over the URL Twilio called and the form (``authenticate``).
* ``inbound.py``: the form as events: messages, media, opt-outs, status callbacks (``parse``).
* ``menus.py``: numbered text menus, and the user's answer back to the postback (``check_replay``).
* ``render.py``: universal messages as Messages API parameters, on the toolkit's ``Renderer``.
* ``twiml.py``: the passive reply, ``<Response><Message>…``.
* ``api.py``: the REST API and its error codes, through the toolkit's ``PlatformAPI``.
* ``once.py``: no second text after a send whose outcome is unknown (Twilio has no idempotency key).

:meth:`TwilioChannel.connect` is setup step 3 done by API (the number's ``SmsUrl``, or the Messaging
Service's ``InboundRequestUrl``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar
from urllib.parse import urlencode

from channelgate.channels.base import (
    BadRequest,
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Connection,
    Forbidden,
    InboundEvent,
    MediaContent,
    Outbound,
    Rejected,
    RenderContext,
    SendError,
    SendResult,
    Unauthorized,
    Verified,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.inbound import each, skips_of
from channelgate.channels.twilio import menus, twiml
from channelgate.channels.twilio.api import TwilioAPI
from channelgate.channels.twilio.config import TwilioConfig
from channelgate.channels.twilio.inbound import Form, decode_form, parse_form
from channelgate.channels.twilio.once import SendOnce, same_message
from channelgate.channels.twilio.render import TEXT_MAX, render, summarise
from channelgate.channels.twilio.signature import HEADER, valid
from channelgate.messages import UniversalMessage

#: where ``authenticate`` leaves the form in ``WebhookRequest.notes`` for ``passive_reply``
_NOTE = "twilio.form"
_MEDIA_ID = re.compile(r"^([A-Z]{2}[0-9a-fA-F]{32})-(ME[0-9a-fA-F]{32})$")


class TwilioChannel(Channel[TwilioConfig]):
    name: ClassVar[str] = "twilio"
    title: ClassVar[str] = "Twilio SMS"
    Config: ClassVar[type[ChannelConfig]] = TwilioConfig
    # a US long code sends one segment a second (Twilio queues the rest per sender, error 21611 when full)
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=TEXT_MAX, quick_replies_max=100, buttons_max=100, send_rate=1.0, send_concurrency=8
    )
    #: Twilio waits 15 s for the answer (error 11205 after that); a third of it leaves room for the network
    passive_reply_budget: float | None = 5.0

    def __init__(self, config: TwilioConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.api = TwilioAPI(config, ctx.http, ctx.health)
        self.once = SendOnce(ctx.kv)
        #: menu writes started by passive replies (kept so they are not collected, awaited at stop)
        self._writes: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    # --- inbound ---

    def signed_url(self, request: WebhookRequest) -> str:
        """The URL Twilio called, as it signed it: the callback URL (from ``public_url``) and the query
        string as it came (else rebuilt from the parsed query)."""
        query = request.notes.get("query_string")
        if not isinstance(query, str):
            query = urlencode(list(request.query.items()))
        return f"{self.ctx.callback_url}?{query}" if query else self.ctx.callback_url

    def authenticate(self, request: WebhookRequest) -> Verified:
        """The signature over the URL and every form field, compared in constant time (missing: 401,
        wrong: 403); the decoded form travels on to ``check_replay`` and ``parse``."""
        given = request.header(HEADER)
        if not given:
            raise Unauthorized(f"missing {HEADER} header")
        url = self.signed_url(request)
        json_body = "bodySHA256=" in url
        form = Form([]) if json_body else decode_form(request.body)
        token = self.config.auth_token.get_secret_value()
        if not valid(token, url, form.pairs, given, request.body):
            raise Forbidden(
                f"{HEADER} does not match: signed with another Auth Token, or for another URL than "
                f"{self.ctx.callback_url} (public_url must be the URL Twilio calls)"
            )
        if json_body:
            raise BadRequest("a JSON webhook is not a Programmable Messaging webhook")
        request.notes[_NOTE] = form
        return Verified(request.body, content=form)

    async def check_replay(self, request: WebhookRequest, verified: Verified) -> None:
        """Twilio signs no timestamp (a replay is answered once by the dedup on ``MessageSid``). This async
        step, the one before parsing, reads the numbered menu the sender was last offered."""
        form = _form(verified)
        text = form.fields.get("Body", "")
        if form.status is None and form.sender and text.strip() and len(text) <= menus.CHOICE_MAX:
            form.menu = menus.decode(await self.ctx.kv.get(menus.store_key(form.sender)))

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        skips = skips_of(request)
        return each(request, [_form(verified)], lambda form: parse_form(form, skips.add), "webhook")

    def ack(self, request: WebhookRequest, events: list[InboundEvent]) -> WebhookResponse:
        return WebhookResponse(200, twiml.EMPTY, media_type=twiml.MEDIA_TYPE)

    def passive_reply(
        self, request: WebhookRequest, outbounds: list[Outbound]
    ) -> tuple[WebhookResponse, int]:
        """The reply's first payloads as ``<Message>`` verbs of the TwiML answer, as long as they are plain
        texts and media to the sender; the rest go through the REST API."""
        form = request.notes.get(_NOTE)
        if not isinstance(form, Form) or not form.sender:
            return self.ack(request, []), 0
        carried = []
        for outbound in outbounds[: twiml.MESSAGES_MAX]:
            if outbound.kind != "message" or not twiml.carriable(outbound.body, form.sender):
                break
            carried.append(outbound.body)
        for body in carried:
            if "_menu" in body:
                self._remember_later(form.sender, menus.from_body(body["_menu"]))
        if not carried:
            return self.ack(request, []), 0
        return WebhookResponse(200, twiml.response(carried), media_type=twiml.MEDIA_TYPE), len(carried)

    def _remember_later(self, user_id: str, menu: menus.Menu) -> None:
        """Store a passively sent menu (``passive_reply`` cannot wait): the write finishes long before the
        user has the SMS, let alone answers it."""
        task = asyncio.get_running_loop().create_task(menus.remember(self.ctx.kv, user_id, menu))
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.ctx.log.warning(
                "twilio %s: a menu could not be stored (%s): a numbered answer to it reaches the bot as text",
                self.ctx.label,
                type(task.exception()).__name__,
            )

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        return [Outbound(body=b, summary=summarise(b)) for b in render(messages, ctx)]

    def sender(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.config.from_number:
            out["From"] = self.config.from_number
        if self.config.messaging_service_sid:
            out["MessagingServiceSid"] = self.config.messaging_service_sid
        return out

    async def send(self, outbound: Outbound) -> SendResult:
        """``POST Messages.json`` with the sender and the status callback, once (``once.py``); then the
        reply's menu is stored for the user's answer."""
        params = dict(outbound.body)
        menu = params.pop("_menu", None)
        params.update(self.sender(), StatusCallback=self.ctx.callback_url)
        sid = await self._earlier(params)
        if sid is None:
            await self.once.begin(params)
            try:
                answer = await self.api.create_message(params)
            except SendError as exc:
                await self.once.failed(params, exc)
                raise
            sid = answer.get("sid") if isinstance(answer.get("sid"), str) else None
        await self.once.known(params)
        if menu is not None:
            await menus.remember(self.ctx.kv, str(params.get("To", "")), menus.from_body(menu))
        return SendResult(platform_message_id=sid)

    async def _earlier(self, params: dict[str, Any]) -> str | None:
        """The message an earlier attempt of this send created, when its outcome was unknown."""
        since = await self.once.pending_since(params)
        if since is None:
            return None
        for resource in await self.api.messages_to(str(params["To"]), self.config.from_number):
            if same_message(resource, params, since) and isinstance(resource.get("sid"), str):
                self.ctx.log.info(
                    "twilio %s: an earlier attempt created %s; not sent again",
                    self.ctx.label,
                    resource["sid"],
                )
                return str(resource["sid"])
        return None

    async def download_media(self, media_id: str) -> MediaContent:
        """An MMS's media (``MM…-ME…`` from the media input), fetched with the account's credentials."""
        found = _MEDIA_ID.fullmatch(media_id)
        if found is None:
            raise Rejected(f"{media_id!r} is not a Twilio media id (MM…-ME…)")
        response = await self.api.media(found.group(1), found.group(2))
        mime = response.headers.get("content-type", "").split(";")[0].strip() or "application/octet-stream"
        return MediaContent(response.content, mime)

    # --- setup, step 3 ---

    async def connect(self) -> Connection:
        """Point the sender's incoming-message webhook at the callback URL: the Messaging Service's
        ``InboundRequestUrl`` when one is configured, else the number's ``SmsUrl`` (found by number), then
        check what Twilio answered. Raises the SendError Twilio's answer means (wrong credentials…)."""
        url = self.ctx.callback_url
        service = self.config.messaging_service_sid
        if service:
            answer = await self.api.set_service_webhook(service, url)
            target = answer.get("inbound_request_url") or "?"
            return Connection(target == url, f"Messaging Service {service}: incoming messages go to {target}")
        number = self.config.from_number or ""
        number_sid = await self.api.phone_number_sid(number)
        if number_sid is None:
            return Connection(False, f"the account has no phone number {number}.\n{self.setup_steps()}")
        answer = await self.api.set_number_webhook(number_sid, url)
        done = answer.get("sms_url") == url and str(answer.get("sms_method", "POST")).upper() == "POST"
        return Connection(
            done, f"{number} ({number_sid}): incoming messages go to {answer.get('sms_url') or '?'} (POST)"
        )

    def setup_steps(self) -> str:
        url = self.ctx.callback_url
        if self.config.messaging_service_sid:
            return (
                f"Twilio Console → Messaging → Services → {self.config.messaging_service_sid} → Integration: "
                f'choose "Send a webhook", Request URL {url}, method HTTP POST'
            )
        return (
            f"Twilio Console → Phone Numbers → Manage → Active numbers → {self.config.from_number} → "
            f'Messaging Configuration: "A message comes in": Webhook, URL {url}, HTTP POST'
        )


def _form(verified: Verified) -> Form:
    if not isinstance(verified.content, Form):
        raise TypeError("a Twilio webhook is parsed after authenticate, which decodes its form")
    return verified.content
