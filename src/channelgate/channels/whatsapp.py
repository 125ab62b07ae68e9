"""WhatsApp Business, through Meta's Cloud API.

Inbound: ``entry[].changes[].value`` of the ``messages`` field. Every message type becomes an input (text,
media by id, location, shared contacts, reply-button and list taps, template quick-reply buttons, reactions,
flows, system notices, edits and revokes, call permission replies; a type it does not know arrives as an
``unsupported`` event carrying all the message's fields), ``statuses[]`` become message statuses,
``errors[]`` are logged. Users are identified
by their phone number (``wa_id``/``from``) when the payload has one, else by the business-scoped user id
(``user_id``, Meta's BSUID of 2026, e.g. ``US.13491208655302741918``), so users with a username and no visible
number work too. Webhooks for another phone number of the same app are ignored. Dedup keys: the wamid for
messages and ``{wamid}:{status}`` for statuses. Media is never passed to the bot as a URL (downloading it
needs the access token): the bot gets the media id and fetches it through the gateway
(:meth:`download_media`).

Outbound: ``POST {api_base_url}/{phone_number_id}/messages`` with ``Authorization: Bearer``. Rendering:

==============  ============================================================================================
text            ≤ 4096 characters per message, ``preview_url`` when it contains a link
quick replies   ≤ 3 reply actions → reply buttons (title ≤ 20, id ≤ 256, body ≤ 1024); more → a list (≤ 10
                rows); a single link → a CTA URL button; other links and calls → lines of text
card            interactive message with an image header, ``*title*`` and description as body, its buttons
                as above; without buttons an image with a caption (or a text)
carousel        one message per card, in order
list            interactive list (≤ 10 rows per message: longer lists are sent as several; button label from
                ``list.button`` or "Choose"; row title ≤ 24, description ≤ 72)
media           by link (image, video, audio, document); audio has no caption, so it follows as text
location        location message
template        template with language (``en-US`` → ``en_US``) and parameters (plain values fill the body)
channel         ``payloads["whatsapp"]``: the message object without ``messaging_product``/``to``
==============  ============================================================================================

Before a reply the user's message is marked as read with a typing indicator (best effort). With
``options.quote`` the first payload of a message quotes the user's message (``context.message_id``).

The 24-hour customer service window: outside it only templates can be sent. A message with
``options.template_fallback`` is replaced by that template; without one it is refused before sending. Inside
the window the fallback template rides along as ``Outbound.fallback``, sent if the API still answers 131047.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from pydantic import Field, SecretStr, field_validator

from channelgate.channels.base import (
    BadRequest,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    InboundEvent,
    InboundMessage,
    MediaContent,
    Outbound,
    Rejected,
    RenderContext,
    SendRefused,
    SendResult,
    StatusUpdate,
    Verified,
    WebhookRequest,
)
from channelgate.channels.inbound import (
    SkipEvent,
    each,
    load_json,
    mapping,
    number,
    optional_number,
    skips_of,
    string,
)
from channelgate.channels.meta import (
    DAY,
    DEFAULT_API_BASE_URL,
    GRAPH_HOSTS,
    GraphAPI,
    MetaChannel,
    meta_insecure_settings,
    normalise_base_url,
    obj,
    split_tail,
)
from channelgate.channels.rendering import split_text, truncate
from channelgate.messages import (
    Action,
    CallAction,
    Card,
    Carousel,
    ChannelSpecific,
    ListMessage,
    Location,
    Media,
    ReplyAction,
    Template,
    Text,
    UniversalMessage,
    UrlAction,
    dump_message,
)
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

TEXT_MAX = 4096
BODY_MAX = 1024
CAPTION_MAX = 1024
HEADER_MAX = 60
FOOTER_MAX = 60
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_MAX = 20
ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200

_URL_IN_TEXT = re.compile(r"https?://\S", re.IGNORECASE)
_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9.]+$")
_MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_MEDIA_TYPES = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "document": "file",
    "sticker": "sticker",
}
#: Where the Cloud API's media download URLs point (``lookaside.fbsbx.com`` today).
_MEDIA_HOSTS = ("fbsbx.com", "facebook.com", "fbcdn.net", "whatsapp.net")
_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}
_SEND_TYPES = {"image": "image", "video": "video", "audio": "audio", "file": "document"}
_ENVELOPE_KEYS = frozenset({"messaging_product", "to", "recipient"})
_COMPONENT_TYPES = frozenset(
    {"header", "body", "footer", "button", "buttons", "carousel", "limited_time_offer"}
)


class WhatsAppConfig(ChannelConfig):
    """``verify_token``: any secret you choose, pasted into the app's webhook settings too.
    ``app_secret``: App settings → Basic → App secret (checks every webhook's signature).
    ``access_token``: a System User token with ``whatsapp_business_messaging``.
    ``phone_number_id``: WhatsApp → API Setup → Phone number ID (not the phone number itself).
    ``business_account_id``: the WhatsApp Business Account id; when set, other accounts' webhooks are ignored.
    ``rate_limit``: messages per second for this phone number (Cloud API default throughput: 80)."""

    verify_token: SecretStr
    app_secret: SecretStr | None = None
    access_token: SecretStr
    phone_number_id: str = Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")
    api_base_url: str = DEFAULT_API_BASE_URL
    business_account_id: str | None = None
    insecure_no_signature: bool = False
    rate_limit: float = Field(default=80.0, gt=0)

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_base_url": GRAPH_HOSTS}

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return normalise_base_url(value)

    def insecure_settings(self) -> dict[str, str]:
        return meta_insecure_settings(self)


class WhatsAppChannel(MetaChannel[WhatsAppConfig]):
    name: ClassVar[str] = "whatsapp"
    title: ClassVar[str] = "WhatsApp Business"
    Config: ClassVar[type[ChannelConfig]] = WhatsAppConfig
    # The Cloud API takes up to 1,000 messages/s per number on its higher tier; at 100-300 ms a call that
    # needs a few hundred calls in flight. The send window opens only as far as rate x latency asks.
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=TEXT_MAX,
        quick_replies_max=ROWS_MAX,
        buttons_max=BUTTONS_MAX,
        send_rate=80.0,
        send_concurrency=256,
    )
    setup_fields: ClassVar[tuple[str, ...]] = ("verify_token",)
    webhook_object: ClassVar[str] = "whatsapp_business_account"

    def __init__(self, config: WhatsAppConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.graph = GraphAPI(ctx, config.api_base_url, config.access_token, "WhatsApp", "access_token")

    # --- inbound (handshake and signature: MetaChannel) ---

    def parse(self, request: WebhookRequest, verified: Verified | None = None) -> list[InboundEvent]:
        """Every entry's changes, one platform event at a time (:func:`inbound.each`). Changes for another
        phone number or account are skipped with a reason, not refused: Meta has one callback URL per app."""
        events: list[InboundEvent] = []
        for entry in self.webhook_entries(request):
            if not isinstance(entry, dict) or not isinstance(entry.get("changes") or [], list):
                raise BadRequest("every entry must be an object with a 'changes' list")
            account = self.config.business_account_id
            if account and str(entry.get("id")) != account:
                self.ctx.log.info(
                    "whatsapp %s: ignored a webhook for account %s", self.ctx.label, str(entry.get("id"))[:64]
                )
                continue
            for change in entry.get("changes") or []:
                if isinstance(change, dict):
                    events.extend(self._change(request, change))
        return events

    def _change(self, request: WebhookRequest, change: dict[str, Any]) -> list[InboundEvent]:
        value = change.get("value")
        if change.get("field") != "messages" or not isinstance(value, dict):
            return []
        number = obj(value.get("metadata")).get("phone_number_id")
        if str(number) != self.config.phone_number_id:
            # fail closed: a change that does not name this integration's number is not for it
            skips_of(request).add(
                f"change for phone number id {str(number)[:64]!r}, not {self.config.phone_number_id}"
            )
            return []
        for error in array_or_empty(value.get("errors")):
            self.ctx.log.warning("whatsapp %s: platform error %s", self.ctx.label, describe_error(error))
        contacts = [c for c in array_or_empty(value.get("contacts")) if isinstance(c, dict)]

        def message(item: Any) -> list[InboundEvent]:
            item = mapping(item, "message")
            parsed = parse_message(item, contacts)
            if parsed is None:
                raise SkipEvent(f"message {str(item.get('id'))[:128]} has no sender id")
            for error in array_or_empty(item.get("errors")):
                self.ctx.log.warning("whatsapp %s: message error %s", self.ctx.label, describe_error(error))
            return [parsed]

        def status(item: Any) -> list[InboundEvent]:
            update = parse_status(mapping(item, "status"), contacts)
            return [update] if update is not None else []

        return [
            *each(request, array_or_empty(value.get("messages")), message, "messages"),
            *each(request, array_or_empty(value.get("statuses")), status, "statuses"),
        ]

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        renderer = WhatsAppRenderer(ctx)
        in_window = ctx.within(DAY)
        outbounds: list[Outbound] = []
        fallbacks_used: set[bytes] = set()
        for index, message in enumerate(messages):
            fallback: Template | None = ctx.option(message, "template_fallback")
            key = _template_key(fallback)
            contents = self._window_contents(renderer, message, in_window)
            if contents is None:
                if fallback is None:
                    raise SendRefused(
                        f"message {index + 1}: WhatsApp's 24-hour customer service window has closed "
                        f"({_since(ctx)}); only templates can be sent (set options.template_fallback)"
                    )
                if key in fallbacks_used:
                    ctx.note(f"message {index + 1}: window closed, its fallback template was already sent")
                    continue
                fallbacks_used.add(key)
                ctx.note(f"message {index + 1}: window closed, sent template {fallback.name!r} instead")
                contents, fallback = [renderer.template(fallback)], None
            fallback_body = None
            if fallback is not None and key not in fallbacks_used:
                fallbacks_used.add(key)
                fallback_body = renderer.envelope(renderer.template(fallback))
            quote = ctx.reply_to if ctx.option(message, "quote") else None
            for i, content in enumerate(contents):
                body = renderer.envelope(content)
                if i == 0 and quote:
                    body["context"] = {"message_id": quote}
                outbounds.append(
                    Outbound(
                        body=body, fallback=fallback_body if i == 0 else None, summary=summarise(content)
                    )
                )
        if outbounds and ctx.reply_to is not None:
            outbounds.insert(0, mark_read(ctx.reply_to))
        return outbounds

    @staticmethod
    def _window_contents(
        renderer: WhatsAppRenderer, message: UniversalMessage, in_window: bool
    ) -> list[dict[str, Any]] | None:
        """The message's contents, or None when the window is closed and they are not all templates."""
        if not in_window and not isinstance(message, Template | ChannelSpecific):
            return None  # not even rendered: its degradation notes would describe nothing that is sent
        contents = renderer.message(message)
        if not in_window and any(c.get("type") != "template" for c in contents):
            return None
        return contents

    async def send(self, outbound: Outbound) -> SendResult:
        data = await self.graph.call("POST", f"/{self.config.phone_number_id}/messages", json=outbound.body)
        messages = data.get("messages") if isinstance(data, dict) else None
        if (
            isinstance(messages, list)
            and messages
            and isinstance(messages[0], dict)
            and messages[0].get("id")
        ):
            return SendResult(str(messages[0]["id"]))
        return SendResult(None)

    async def download_media(self, media_id: str) -> MediaContent:
        """``GET /{media_id}`` for a short-lived URL, then download it with the access token (which therefore
        only goes to Meta's own hosts over HTTPS, or to the configured API host). Raises a SendError subclass
        when Graph refuses, or Rejected for an id or URL that cannot be one of Meta's."""
        if not _MEDIA_ID.fullmatch(media_id):
            raise Rejected(f"{media_id!r} is not a WhatsApp media id")
        info = await self.graph.call("GET", f"/{media_id}")
        url = info.get("url") if isinstance(info, dict) else None
        if not isinstance(url, str) or not self._trusted_media_url(url):
            raise Rejected(f"Graph API gave no usable download URL for media {media_id}")
        response = await self.graph.request("GET", url)
        mime = (info.get("mime_type") if isinstance(info, dict) else None) or response.headers.get(
            "content-type"
        )
        return MediaContent(content=response.content, mime_type=str(mime or "application/octet-stream"))

    def _trusted_media_url(self, url: str) -> bool:
        """Whether the access token may follow ``url``: Meta's media hosts over HTTPS, or the API's own
        origin (a simulator or proxy configured as ``api_base_url``)."""
        parts, api = urlsplit(url), urlsplit(self.config.api_base_url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and any(host == d or host.endswith("." + d) for d in _MEDIA_HOSTS):
            return True
        return (parts.scheme, parts.netloc) == (api.scheme, api.netloc)


# --- inbound parsing ----------------------------------------------------------------------------------------


def describe_error(error: Any) -> str:
    """A WhatsApp ``errors[]`` item as one human line."""
    if not isinstance(error, dict):
        return str(error)
    data = obj(error.get("error_data"))
    text = f"{error.get('code')}: {error.get('title') or error.get('message') or 'error'}"
    details = data.get("details")
    return f"{text} ({details})" if details else text


def array_or_empty(value: Any) -> list[Any]:
    """A list the payload documents, or nothing: errors, contacts, messages and statuses are read this way,
    so that one malformed part does not cost the others."""
    return value if isinstance(value, list) else []


#: A message's envelope: who sent it, its id and when, which the turn carries in its own fields.
_ENVELOPE_FIELDS = frozenset({"from", "from_user_id", "id", "timestamp"})


def _sender(message: dict[str, Any], contacts: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """The user id (phone number when there is one, else BSUID) and the contact of that sender.

    The profile name is taken only from a contact whose ``wa_id`` (or ``user_id``) is the sender's: a webhook
    can carry a contact that is someone else (pywa's ``revoke`` sample names ``972987654321`` for another
    sender), and a name taken from it would be shown, and stored, as the wrong person's. A lone contact stands
    in only when the message names no sender at all, since it is then the only source of the id."""
    phone = string(message.get("from"), "from")
    bsuid = string(message.get("from_user_id"), "from_user_id")
    contact: dict[str, Any] = {}
    for candidate in contacts:
        if (phone and candidate.get("wa_id") == phone) or (bsuid and candidate.get("user_id") == bsuid):
            contact = candidate
            break
    else:
        if len(contacts) == 1 and not phone and not bsuid:
            contact = contacts[0]
    user_id = (
        phone
        or string(contact.get("wa_id"), "contacts[].wa_id")
        or bsuid
        or string(contact.get("user_id"), "contacts[].user_id")
    )
    return user_id, contact


def parse_message(message: dict[str, Any], contacts: list[dict[str, Any]]) -> InboundMessage | None:
    """One message, or None when it names no sender. Raises SkipEvent for fields of the wrong type."""
    user_id, contact = _sender(message, contacts)
    wamid = string(message.get("id"), "message id")
    if not user_id or not wamid:
        return None
    profile = obj(contact.get("profile"))
    name = string(profile.get("name"), "profile.name") or string(profile.get("username"), "profile.username")
    return InboundMessage(
        dedup_key=wamid,
        user=User(id=user_id, name=name),
        input=message_input(message),
        raw=message,
        platform_message_id=wamid,
        timestamp=optional_number(message.get("timestamp")),
    )


def message_input(message: dict[str, Any]) -> Input:
    kind = string(message.get("type"), "type") or ""
    body = obj(message.get(kind))
    if kind == "text":
        return TextInput(text=string(body.get("body"), "text.body") or "")
    if kind in _MEDIA_TYPES:
        return MediaInput(
            kind=_MEDIA_TYPES[kind],
            media_id=string(body.get("id"), f"{kind}.id"),
            mime_type=string(body.get("mime_type"), f"{kind}.mime_type"),
            caption=string(body.get("caption"), f"{kind}.caption"),
        )
    if kind == "location":
        return LocationInput(
            latitude=number(body.get("latitude", 0), "location.latitude"),
            longitude=number(body.get("longitude", 0), "location.longitude"),
            name=string(body.get("name"), "location.name"),
            address=string(body.get("address"), "location.address"),
        )
    if kind == "interactive":
        return _interactive_input(body)
    if kind == "button":  # a quick-reply button of a template
        text = string(body.get("text"), "button.text")
        return PostbackInput(payload=string(body.get("payload"), "button.payload") or text or "", title=text)
    if kind == "reaction":
        return EventInput(
            name="reaction", data={"message_id": body.get("message_id"), "emoji": body.get("emoji")}
        )
    if kind == "contacts":
        return EventInput(name="contacts", data={"contacts": message.get("contacts") or []})
    if kind == "request_welcome":
        return EventInput(name="welcome_request")
    if kind in ("system", "order", "edit", "revoke"):
        # edit: {original_message_id, message: the new content}; revoke: {original_message_id}
        return EventInput(name=kind, data=body)
    # A type this gateway does not read (or WhatsApp's own "unsupported", with its errors): every field of the
    # message but the envelope (sender, id, timestamp: on the turn already), so the bot loses nothing.
    fields = {k: v for k, v in message.items() if k not in _ENVELOPE_FIELDS}
    return EventInput(name="unsupported", data={"type": kind, **fields})


def _interactive_input(body: dict[str, Any]) -> Input:
    kind = string(body.get("type"), "interactive.type")
    reply = obj(body.get(str(kind)))
    if kind in ("button_reply", "list_reply"):
        return PostbackInput(
            payload=string(reply.get("id"), f"{kind}.id") or "", title=string(reply.get("title"), "title")
        )
    if kind == "nfm_reply":  # a WhatsApp Flow's answer
        text = string(reply.get("response_json"), "nfm_reply.response_json") or "{}"
        try:
            response = load_json(text, "nfm_reply.response_json")
        except BadRequest as exc:
            if "not valid JSON" not in exc.reason:
                raise SkipEvent(exc.reason) from None
            response = {"response_json": text}
        return EventInput(
            name="flow_reply",
            data={"name": string(reply.get("name"), "nfm_reply.name"), "response": response},
        )
    if kind == "call_permission_reply":  # the user's answer to a call permission request
        return EventInput(name="call_permission_reply", data=reply)
    return EventInput(name="unsupported", data={"type": f"interactive/{kind}", "interactive": body})


def parse_status(status: dict[str, Any], contacts: list[dict[str, Any]]) -> StatusUpdate | None:
    sent_status = string(status.get("status"), "status.status")
    name = _STATUSES.get(str(sent_status))
    wamid = string(status.get("id"), "status.id")
    if name is None or not wamid:
        return None
    user_id = string(status.get("recipient_id"), "recipient_id") or string(
        status.get("recipient_user_id"), "recipient_user_id"
    )
    if not user_id and len(contacts) == 1:
        user_id = string(contacts[0].get("wa_id"), "wa_id") or string(contacts[0].get("user_id"), "user_id")
    reason = None
    if name == "failed":
        reason = "; ".join(describe_error(e) for e in array_or_empty(status.get("errors"))) or "failed"
    return StatusUpdate(
        dedup_key=f"{wamid}:{sent_status}",
        user_id=user_id or "",
        status=name,  # type: ignore[arg-type]
        platform_message_id=wamid,
        reason=reason,
        raw=status,
    )


# --- outbound rendering -------------------------------------------------------------------------------------


def mark_read(message_id: str) -> Outbound:
    body = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id,
        "typing_indicator": {"type": "text"},
    }
    return Outbound(body=body, kind="action", best_effort=True, summary="mark read, typing")


def whatsapp_language(code: str) -> str:
    """WhatsApp's template language code for a BCP 47 or POSIX locale: ``en-US`` → ``en_US``."""
    parts = [p for p in re.split(r"[-_]", code.strip()) if p]
    if not parts:
        return code
    language = parts[0].lower()
    region = next((p.upper() for p in parts[1:] if len(p) == 2 and p.isalpha()), None)
    script = next((p.title() for p in parts[1:] if len(p) == 4), None)
    if language == "zh" and region is None and script is not None:
        region = {"Hans": "CN", "Hant": "TW"}.get(script)
    return f"{language}_{region}" if region else language


def _template_key(template: Template | None) -> bytes:
    """Identical fallback templates are sent (or attached) once per render."""
    if template is None:
        return b""
    return orjson.dumps(dump_message(template), option=orjson.OPT_SORT_KEYS)


def _since(ctx: RenderContext) -> str:
    if ctx.last_inbound_at is None:
        return "the user has not written yet"
    return f"the user last wrote {(ctx.now - ctx.last_inbound_at) / 3600:.0f} hours ago"


def summarise(content: dict[str, Any]) -> str:
    kind = str(content.get("type"))
    body = obj(content.get(kind))
    if kind == "text":
        text = str(body.get("body", ""))
        return text if len(text) <= 60 else text[:59] + "…"
    if kind == "interactive":
        return (
            f"[interactive {body.get('type')}] {str((body.get('body') or {}).get('text', ''))[:40]}".strip()
        )
    if kind == "template":
        return f"[template {body.get('name')}]"
    return f"[{kind}]"


class WhatsAppRenderer:
    """Universal messages → Cloud API message contents (without the envelope). Pure; notes what it changed."""

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx

    def envelope(self, content: dict[str, Any]) -> dict[str, Any]:
        user = self.ctx.user_id
        base: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
        base["recipient" if _BSUID.fullmatch(user) else "to"] = user
        return {**base, **{k: v for k, v in content.items() if k not in _ENVELOPE_KEYS}}

    def message(self, message: UniversalMessage) -> list[dict[str, Any]]:
        if isinstance(message, Text):
            return self.text(message.text, message.quick_replies)
        if isinstance(message, Media):
            return self.media(message)
        if isinstance(message, Card):
            return self.card(message)
        if isinstance(message, Carousel):
            return self.carousel(message)
        if isinstance(message, ListMessage):
            return self.list_message(message)
        if isinstance(message, Location):
            return self.follow_up([self.location(message)], message.quick_replies)
        if isinstance(message, Template):
            if message.quick_replies:
                self.ctx.note("a template's buttons are part of the approved template: quick_replies ignored")
            return [self.template(message)]
        if isinstance(message, ChannelSpecific):
            return self.channel_specific(message)
        raise SendRefused(f"unsupported message type {type(message).__name__}")  # pragma: no cover

    # --- pieces ---

    def texts(self, text: str) -> list[dict[str, Any]]:
        parts = split_text(text, TEXT_MAX)
        if len(parts) > 1:
            self.ctx.note(f"text of {len(text)} characters sent as {len(parts)} messages")
        return [self.text_content(part) for part in parts]

    @staticmethod
    def text_content(text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"body": text}
        if _URL_IN_TEXT.search(text):
            content["preview_url"] = True
        return {"type": "text", "text": content}

    def text(self, text: str, actions: list[Action] | None) -> list[dict[str, Any]]:
        if not actions:
            return self.texts(text)
        return self.choices(text, actions)

    def choices(
        self,
        text: str,
        actions: list[Action],
        header: dict[str, Any] | None = None,
        footer: str | None = None,
    ) -> list[dict[str, Any]]:
        """``text`` with ``actions`` as the best interactive message WhatsApp offers for them."""
        replies = [a for a in actions if isinstance(a, ReplyAction)]
        urls = [a for a in actions if isinstance(a, UrlAction)]
        calls = [a for a in actions if isinstance(a, CallAction)]
        cta = urls[0] if len(urls) == 1 and not replies else None
        others: list[Action] = [*urls, *calls]
        lines = [_action_line(a) for a in others if a is not cta]
        if lines:
            self.ctx.note(
                "WhatsApp buttons only send replies or open one link: other actions were added as text"
            )
            text = "\n\n".join([text, "\n".join(lines)])
        if not replies and cta is None:
            return self.plain(text, header)
        head, tail = split_tail(text, BODY_MAX, TEXT_MAX)
        contents = [self.text_content(part) for part in head]
        interactive: dict[str, Any] = {"body": {"text": tail}}
        if footer:
            interactive["footer"] = {"text": truncate(footer, FOOTER_MAX, self.ctx, "footer")}
        if cta is not None:
            interactive = {"type": "cta_url", **self._with_header(interactive, header)}
            interactive["action"] = {
                "name": "cta_url",
                "parameters": {
                    "display_text": truncate(cta.title, BUTTON_TITLE_MAX, self.ctx, "button title"),
                    "url": cta.url,
                },
            }
        elif len(replies) <= BUTTONS_MAX:
            interactive = {"type": "button", **self._with_header(interactive, header)}
            interactive["action"] = {"buttons": [self.reply_button(a) for a in replies]}
        else:
            if header is not None and header.get("type") != "text":
                contents.insert(0, self.header_as_message(header))
                header = None
            interactive = {"type": "list", **self._with_header(interactive, header)}
            rows = [(a.payload, a.title, None) for a in replies]
            interactive["action"] = self.list_action(self.ctx.gettext("Choose"), rows[:ROWS_MAX])
            if len(rows) > ROWS_MAX:
                self.ctx.note(f"{len(rows) - ROWS_MAX} choices dropped (a WhatsApp list shows {ROWS_MAX})")
        contents.append({"type": "interactive", "interactive": interactive})
        return contents

    @staticmethod
    def _with_header(interactive: dict[str, Any], header: dict[str, Any] | None) -> dict[str, Any]:
        return {"header": header, **interactive} if header is not None else interactive

    def plain(self, text: str, header: dict[str, Any] | None) -> list[dict[str, Any]]:
        """``text`` without buttons: as a caption of the header's media when it fits, else as text."""
        if header is None or header.get("type") == "text":
            return self.texts(text)
        media = self.header_as_message(header)
        kind = media["type"]
        if len(text) <= CAPTION_MAX:
            return [{"type": kind, kind: {**media[kind], "caption": text}}]
        return [media, *self.texts(text)]

    @staticmethod
    def header_as_message(header: dict[str, Any]) -> dict[str, Any]:
        kind = str(header["type"])
        return {"type": kind, kind: dict(header[kind])}

    def reply_button(self, action: ReplyAction) -> dict[str, Any]:
        return {
            "type": "reply",
            "reply": {
                "id": truncate(action.payload, BUTTON_ID_MAX, self.ctx, "button id"),
                "title": truncate(action.title, BUTTON_TITLE_MAX, self.ctx, "button title"),
            },
        }

    def list_action(self, button: str, rows: Sequence[tuple[str, str, str | None]]) -> dict[str, Any]:
        out = []
        for payload, title, description in rows:
            row = {
                "id": truncate(payload, ROW_ID_MAX, self.ctx, "row id"),
                "title": truncate(title, ROW_TITLE_MAX, self.ctx, "row title"),
            }
            if description:
                row["description"] = truncate(description, ROW_DESCRIPTION_MAX, self.ctx, "row description")
            out.append(row)
        return {
            "button": truncate(button, LIST_BUTTON_MAX, self.ctx, "list button"),
            "sections": [{"rows": out}],
        }

    def follow_up(self, contents: list[dict[str, Any]], actions: list[Action] | None) -> list[dict[str, Any]]:
        """``contents``, then ``actions`` in a message of their own (for types that cannot carry buttons)."""
        if not actions:
            return contents
        self.ctx.note("quick replies sent in a message of their own")
        return [*contents, *self.choices(self.ctx.gettext("Choose"), actions)]

    # --- message types ---

    def media(self, media: Media) -> list[dict[str, Any]]:
        kind = _SEND_TYPES[media.kind]
        obj: dict[str, Any] = {"link": media.url}
        if kind == "document" and media.filename:
            obj["filename"] = media.filename
        if media.quick_replies and kind != "audio":
            header = {"type": kind, kind: obj}
            return self.choices(media.caption or self.ctx.gettext("Choose"), media.quick_replies, header)
        contents = [{"type": kind, kind: obj}]
        if media.caption and kind == "audio":
            self.ctx.note("WhatsApp audio has no caption: it follows as a text message")
            contents += self.texts(media.caption)
        elif media.caption:
            obj["caption"] = truncate(media.caption, CAPTION_MAX, self.ctx, "caption")
        return self.follow_up(contents, media.quick_replies)

    def card_text(self, card: Card) -> str:
        return "\n".join(part for part in (f"*{card.title}*", card.description) if part)

    def card(self, card: Card) -> list[dict[str, Any]]:
        header = {"type": "image", "image": {"link": card.media.url}} if card.media else None
        actions = [*(card.buttons or []), *(card.quick_replies or [])]
        text = self.card_text(card)
        if not actions:
            return self.plain(text, header)
        return self.choices(text, actions, header)

    def carousel(self, carousel: Carousel) -> list[dict[str, Any]]:
        self.ctx.note(f"carousel of {len(carousel.cards)} cards sent as one message per card")
        contents = [content for card in carousel.cards for content in self.card(card)]
        return self.follow_up(contents, carousel.quick_replies)

    def list_message(self, message: ListMessage) -> list[dict[str, Any]]:
        button = message.button or self.ctx.gettext("Choose")
        rows = [(item.payload, item.title, item.description) for item in message.items]
        head, tail = split_tail(message.text, BODY_MAX, TEXT_MAX)
        contents = [self.text_content(part) for part in head]
        chunks = [rows[i : i + ROWS_MAX] for i in range(0, len(rows), ROWS_MAX)]
        if len(chunks) > 1:
            self.ctx.note(f"list of {len(rows)} items sent as {len(chunks)} lists of up to {ROWS_MAX}")
        for chunk in chunks:
            interactive: dict[str, Any] = {"type": "list"}
            if message.header:
                interactive["header"] = {
                    "type": "text",
                    "text": truncate(message.header, HEADER_MAX, self.ctx, "header"),
                }
            interactive["body"] = {"text": tail}
            if message.footer:
                interactive["footer"] = {"text": truncate(message.footer, FOOTER_MAX, self.ctx, "footer")}
            interactive["action"] = self.list_action(button, chunk)
            contents.append({"type": "interactive", "interactive": interactive})
        return self.follow_up(contents, message.quick_replies)

    @staticmethod
    def location(location: Location) -> dict[str, Any]:
        obj: dict[str, Any] = {"latitude": location.latitude, "longitude": location.longitude}
        if location.name:
            obj["name"] = location.name
        if location.address:
            obj["address"] = location.address
        return {"type": "location", "location": obj}

    def template(self, template: Template) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "name": template.name,
            "language": {"code": whatsapp_language(template.language)},
        }
        components = template_components(template.parameters or [])
        if components:
            obj["components"] = components
        return {"type": "template", "template": obj}

    def channel_specific(self, message: ChannelSpecific) -> list[dict[str, Any]]:
        payload = message.payloads.get("whatsapp")
        if payload is not None:
            return [dict(payload)]
        if message.fallback is not None:
            return self.message(message.fallback)
        self.ctx.note("channel-specific message without a whatsapp payload or fallback: skipped")
        return []


def template_components(parameters: list[Any]) -> list[dict[str, Any]]:
    """Template components from a template's parameters: component objects (``{"type": "header", ...}``) pass
    through, other values fill the body's parameters in order (objects such as ``{"type": "currency", ...}``
    as they are, plain values as text)."""
    components: list[dict[str, Any]] = []
    body: list[dict[str, Any]] = []
    for value in parameters:
        if isinstance(value, dict) and value.get("type") in _COMPONENT_TYPES:
            components.append(value)
        elif isinstance(value, dict):
            body.append(value)
        else:
            body.append({"type": "text", "text": str(value)})
    if body:
        components.insert(0, {"type": "body", "parameters": body})
    return components


def _action_line(action: Action) -> str:
    if isinstance(action, UrlAction):
        return f"{action.title}: {action.url}"
    if isinstance(action, CallAction):
        return f"{action.title}: {action.phone.removeprefix('tel:')}"
    return action.title
