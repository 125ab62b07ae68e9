"""Facebook Messenger, through a Page and the Messenger Platform's Send API.

Inbound: every ``entry`` and every ``messaging`` event of a webhook, in order. Text, quick-reply taps and
postbacks, attachments (media by CDN URL, location), referrals, opt-ins (a checkbox-plugin opt-in without a
sender is the ``user_ref``'s), reactions, the other documented events (:data:`EVENT_FIELDS`) and
delivery/read receipts (watermarks) become events; the page's own echoes are ignored; anything else is
skipped with its reason logged and counted. Dedup keys are the ``mid`` for messages and postbacks; receipts
have no id, so their key is built from the user and the watermark.

Outbound: ``POST {api_base_url}/me/messages`` with the Page access token in the ``Authorization`` header (not
in ``?access_token=`` as Meta's samples do, so the token never appears in a URL or an access log). Rendering
follows the platform's documented limits and says, in the render context's notes, what it had to change:

==============  ============================================================================================
text            split over 2000 characters at paragraph, sentence or word boundaries
quick replies   up to 13, titles cut to 20 characters; url/call actions become lines of text
card            button template (text ≤ 640, ≤ 3 buttons) without an image, else a generic template
carousel        generic template, ≤ 10 elements of ≤ 3 buttons; title-only cards are listed as text
list            quick replies when ≤ 13 short items without descriptions, else generic templates of 10 items
media           attachment by URL (``is_reusable``); a caption follows as text
location        text with the place and a map link
template        refused: Messenger has no pre-approved templates; send a text with a message tag instead
channel         ``payloads["messenger"]`` is the Send API ``message`` object, wrapped with recipient and type
==============  ============================================================================================

The 24-hour standard messaging window is counted from the user's last message: inside it replies are
``RESPONSE`` and proactive sends ``UPDATE``; outside it a send needs a message tag (``options.tag``) or it is
refused before it is sent, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from channelgate.channels.base import (
    BadRequest,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    InboundEvent,
    InboundMessage,
    Outbound,
    Rejected,
    RenderContext,
    SendRefused,
    SendResult,
    StatusUpdate,
    UserProfile,
    Verified,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.inbound import (
    SkipEvent,
    array,
    each,
    ident,
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
    maps_link,
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
    ListItem,
    ListMessage,
    Location,
    Media,
    ReplyAction,
    Template,
    Text,
    UniversalMessage,
    UrlAction,
)
from channelgate.turns import EventInput, Input, LocationInput, MediaInput, PostbackInput, TextInput, User

TEXT_MAX = 2000
BUTTON_TEMPLATE_TEXT_MAX = 640
QUICK_REPLIES_MAX = 13
QUICK_REPLY_TITLE_MAX = 20
BUTTON_TITLE_MAX = 20
PAYLOAD_MAX = 1000
BUTTONS_MAX = 3
ELEMENTS_MAX = 10
ELEMENT_TEXT_MAX = 80

#: Message tags allowed outside the 24-hour window, with how long after the user's last message they work
#: (None: no limit of their own).
MESSAGE_TAGS: dict[str, float | None] = {
    "HUMAN_AGENT": 7 * DAY,
    "ACCOUNT_UPDATE": None,
    "CONFIRMED_EVENT_UPDATE": None,
    "POST_PURCHASE_UPDATE": None,
}

_MEDIA_KINDS = {"image", "video", "audio", "file", "sticker"}
_GRAPH_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class MessengerConfig(ChannelConfig):
    """``verify_token``: any secret you choose, pasted into the app's webhook settings too.
    ``app_secret``: App settings → Basic → App secret (checks every webhook's signature).
    ``page_access_token``: Messenger → Access Tokens → Generate token, for the Page.
    ``rate_limit``: send calls per second for this Page (default: the channel's 300/s).
    ``page_id``: the Page's id (Page → About → Page transparency, or ``GET /me`` with the page token); when
    set, events for another Page of the same app are skipped, so a shared app secret cannot cross Pages."""

    verify_token: SecretStr
    app_secret: SecretStr | None = None
    page_access_token: SecretStr
    api_base_url: str = DEFAULT_API_BASE_URL
    insecure_no_signature: bool = False
    page_id: str | None = Field(default=None, pattern=r"^[0-9]{1,64}$")

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_base_url": GRAPH_HOSTS}

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return normalise_base_url(value)

    def insecure_settings(self) -> dict[str, str]:
        return meta_insecure_settings(self)


class MessengerChannel(MetaChannel[MessengerConfig]):
    name: ClassVar[str] = "messenger"
    title: ClassVar[str] = "Facebook Messenger"
    Config: ClassVar[type[ChannelConfig]] = MessengerConfig
    # 300 send calls/s per Page for text (Messenger rate-limiting docs, 2026); 10/s for audio and video.
    # 300 calls/s at 100-300 ms each: up to ~90 in flight; the send window opens only as far as needed
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=TEXT_MAX,
        quick_replies_max=QUICK_REPLIES_MAX,
        buttons_max=BUTTONS_MAX,
        send_rate=300.0,
        send_concurrency=128,
    )
    setup_fields: ClassVar[tuple[str, ...]] = ("verify_token",)
    webhook_object: ClassVar[str] = "page"

    def __init__(self, config: MessengerConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.graph = GraphAPI(
            ctx, config.api_base_url, config.page_access_token, "Messenger", "page_access_token"
        )

    # --- inbound (handshake and signature: MetaChannel) ---

    async def start(self) -> None:
        if self.config.page_id is None:
            self.ctx.log.info(
                "messenger %s: page_id is not set, so events for any Page of the app are accepted; set it to "
                "skip events addressed to another Page",
                self.ctx.label,
            )

    def parse(self, request: WebhookRequest, verified: Verified | None = None) -> list[InboundEvent]:
        """Every entry's ``messaging`` events, one at a time (:func:`inbound.each`). An entry for another
        Page is skipped, not refused: Meta has one callback URL per app, so a 4xx would make it redeliver
        events this integration can never accept."""
        events: list[InboundEvent] = []
        for entry in self.webhook_entries(request):
            if not isinstance(entry, dict):
                raise BadRequest("every entry must be an object")
            page = entry.get("id")
            if self.config.page_id is not None and str(page) != self.config.page_id:
                skips_of(request).add(f"entry for page {str(page)[:64]!r}, not this integration's page")
                continue
            messaging = entry.get("messaging") or []
            if not isinstance(messaging, list):
                raise BadRequest("'entry[].messaging' must be a list")
            events.extend(each(request, messaging, parse_event, "messaging"))
        return events

    def ack(self, request: WebhookRequest, events: list[InboundEvent]) -> WebhookResponse:
        return WebhookResponse(200, b"EVENT_RECEIVED")

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        renderer = MessengerRenderer(ctx)
        outbounds: list[Outbound] = []
        for index, message in enumerate(messages):
            envelope = {"recipient": {"id": ctx.user_id}, **messaging_type(message, ctx, index)}
            for body in renderer.message(message):
                outbounds.append(Outbound(body={**envelope, "message": body}, summary=summarise(body)))
        if outbounds and ctx.reply_to is not None and ctx.within(DAY):
            outbounds[:0] = [sender_action(ctx.user_id, "mark_seen"), sender_action(ctx.user_id, "typing_on")]
        return outbounds

    async def send(self, outbound: Outbound) -> SendResult:
        data = await self.graph.call("POST", "/me/messages", json=outbound.body)
        message_id = data.get("message_id") if isinstance(data, dict) else None
        return SendResult(str(message_id) if message_id else None)

    async def user_profile(self, user_id: str) -> UserProfile | None:
        """Name and locale from the User Profile API. ``locale`` needs the ``pages_user_locale`` permission,
        so on a refusal the name alone is asked for; a refusal of that too answers None."""
        if not _GRAPH_ID.fullmatch(user_id):
            return None
        for fields in ("first_name,last_name,locale", "first_name,last_name"):
            try:
                data = await self.graph.call("GET", f"/{user_id}", params={"fields": fields})
            except Rejected as exc:
                self.ctx.log.info(
                    "messenger %s: profile of %s not available: %s", self.ctx.label, user_id, exc.reason
                )
                continue
            if not isinstance(data, dict):
                return None
            name = " ".join(str(data[k]) for k in ("first_name", "last_name") if data.get(k)).strip()
            locale = data.get("locale")
            return UserProfile(name=name or None, locale=str(locale) if locale else None)
        return None


# --- inbound parsing ----------------------------------------------------------------------------------------


def epoch(value: Any) -> float | None:
    """Epoch seconds from Meta's timestamps, which are milliseconds (or, in some samples, seconds)."""
    number = optional_number(value)
    if number is None:
        return None
    return number / 1000 if number > 1e11 else number


def parse_event(event: Any) -> list[InboundEvent]:
    """The events in one ``messaging`` item (a message with several attachments gives several).
    Raises SkipEvent for an item that is not what Messenger documents."""
    event = mapping(event, "messaging item")
    user_id = _user_id(event)
    timestamp = epoch(event.get("timestamp"))
    if isinstance(event.get("message"), dict):
        return _message(event, user_id, timestamp)
    if isinstance(event.get("postback"), dict):
        return [_postback(event, user_id, timestamp)]
    for name in EVENT_FIELDS:
        if event.get(name) not in (None, "", {}):
            return [_happening(event, name, user_id, timestamp)]
    if isinstance(event.get("delivery"), dict):
        return _receipts(event, "delivered", user_id)
    if isinstance(event.get("read"), dict):
        return _receipts(event, "read", user_id)
    other = sorted(k for k in event if k not in ("sender", "recipient", "timestamp"))
    raise SkipEvent(f"no event this channel reads (fields: {', '.join(other)[:200] or 'none'})")


def _user_id(event: dict[str, Any]) -> str:
    """Who the event is from: the PSID, else a ``user_ref``.

    The checkbox plugin and Customer Matching send an opt-in with no ``sender`` at all, only
    ``optin.user_ref``: that ``user_ref`` is the user's identity until they answer (Meta's only way to reach
    them is ``recipient: {"user_ref": ...}``), so it becomes the user id rather than the event being lost.
    An event naming nobody is skipped with that reason (logged and counted), never dropped in silence."""
    sender = obj(event.get("sender"))
    user_id = string(sender.get("id"), "sender.id") or string(sender.get("user_ref"), "sender.user_ref")
    if not user_id:
        user_id = string(obj(event.get("optin")).get("user_ref"), "optin.user_ref")
    if not user_id:
        raise SkipEvent("the event names no sender (no sender.id, sender.user_ref or optin.user_ref)")
    return user_id


def _inbound(
    key: str, user_id: str, input: Input, event: dict[str, Any], mid: str | None, ts: float | None
) -> InboundMessage:
    return InboundMessage(
        dedup_key=key, user=User(id=user_id), input=input, raw=event, platform_message_id=mid, timestamp=ts
    )


def _stamp(event: dict[str, Any], name: str = "timestamp") -> str:
    """A scalar as it was sent (a timestamp, a watermark), for the dedup keys of events without an id."""
    value = event.get(name)
    if isinstance(value, dict | list):
        raise SkipEvent(f"{name} is not a number")
    return str(value)


def _message(event: dict[str, Any], user_id: str, ts: float | None) -> list[InboundEvent]:
    message: dict[str, Any] = event["message"]
    if message.get("is_echo"):
        return []
    mid = string(message.get("mid"), "message.mid") or f"message:{user_id}:{_stamp(event)}"
    text = string(message.get("text"), "message.text")
    quick_reply = message.get("quick_reply")
    if isinstance(quick_reply, dict) and quick_reply.get("payload") is not None:
        payload = string(quick_reply["payload"], "quick_reply.payload") or ""
        return [_inbound(mid, user_id, PostbackInput(payload=payload, title=text), event, mid, ts)]
    inputs: list[Input] = []
    if text:
        inputs.append(TextInput(text=text))
    attachments = [a for a in array(message.get("attachments"), "attachments") if isinstance(a, dict)]
    if any(a.get("type") == "sticker" for a in attachments):
        # Until Aug 2026 a sticker arrives twice: as the new "sticker" and the old "image" attachment.
        attachments = [a for a in attachments if a.get("type") != "image"]
    for attachment in attachments:
        parsed = attachment_input(attachment)
        if parsed is not None:
            inputs.append(parsed)
    return [
        _inbound(mid if i == 0 else f"{mid}#{i}", user_id, item, event, mid, ts)
        for i, item in enumerate(inputs)
    ]


def attachment_input(attachment: dict[str, Any]) -> Input | None:
    kind = string(attachment.get("type"), "attachment.type") or ""
    payload = obj(attachment.get("payload"))
    if kind == "location":
        coordinates = obj(payload.get("coordinates"))
        lat, lon = coordinates.get("lat"), coordinates.get("long")
        if lat is None or lon is None:
            return None
        return LocationInput(
            latitude=number(lat, "coordinates.lat"),
            longitude=number(lon, "coordinates.long"),
            name=string(attachment.get("title"), "attachment.title"),
        )
    if kind in _MEDIA_KINDS:
        if kind == "image" and payload.get("sticker_id"):
            kind = "sticker"
        return MediaInput(kind=kind, url=string(payload.get("url"), "payload.url"))
    if kind == "fallback":  # a shared link
        text = (
            string(payload.get("url"), "payload.url")
            or string(attachment.get("url"), "attachment.url")
            or string(attachment.get("title"), "attachment.title")
        )
        return TextInput(text=text) if text else None
    if kind:
        return EventInput(name="shared", data=attachment)
    return None


def _postback(event: dict[str, Any], user_id: str, ts: float | None) -> InboundMessage:
    postback: dict[str, Any] = event["postback"]
    mid = string(postback.get("mid"), "postback.mid") or f"postback:{user_id}:{_stamp(event)}"
    title = string(postback.get("title"), "postback.title")
    payload = string(postback.get("payload"), "postback.payload")
    if payload is None:  # only the app that sent the button gets its payload; the title is what is left
        payload = title or ""
    return _inbound(mid, user_id, PostbackInput(payload=payload, title=title), event, mid, ts)


#: Documented ``messaging`` events that carry no message: each becomes an ``event`` input named after its
#: field, with the field's object as data (``message_request`` is a bare string: ``{"message_request":
#: "accept"}``). Account linking, game plays, payments and checkout, message requests, handover protocol and
#: feedback are in Meta's webhook reference; without this table they vanished without a log line.
EVENT_FIELDS: tuple[str, ...] = (
    "referral",
    "optin",
    "reaction",
    "account_linking",
    "game_play",
    "payment",
    "pre_checkout",
    "checkout_update",
    "message_request",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "messaging_feedback",
)


def _happening(event: dict[str, Any], name: str, user_id: str, ts: float | None) -> InboundMessage:
    value = event[name]
    if isinstance(value, list):
        raise SkipEvent(f"{name} is a list, not what Messenger documents")
    data: dict[str, Any] = value if isinstance(value, dict) else {name: value}
    key = f"{name}:{user_id}:{_stamp(event)}"
    if name == "reaction":
        mid = string(data.get("mid"), "reaction.mid")
        action = string(data.get("action"), "reaction.action")
        key = f"reaction:{user_id}:{mid}:{action}:{_stamp(event)}"
    return _inbound(key, user_id, EventInput(name=name, data=data), event, None, ts)


def _receipts(event: dict[str, Any], status: str, user_id: str) -> list[InboundEvent]:
    name = "delivery" if status == "delivered" else "read"
    receipt: dict[str, Any] = event[name]
    out: list[InboundEvent] = []
    for mid in array(receipt.get("mids"), f"{name}.mids"):
        mid = ident(mid, f"{name}.mids[]")
        out.append(
            StatusUpdate(
                dedup_key=f"{name}:{mid}",
                user_id=user_id,
                status=status,  # type: ignore[arg-type]
                platform_message_id=mid,
                raw=event,
            )
        )
    watermark = receipt.get("watermark")
    if watermark is not None:
        out.append(
            StatusUpdate(
                dedup_key=f"{name}:{user_id}:{_stamp(receipt, 'watermark')}",
                user_id=user_id,
                status=status,  # type: ignore[arg-type]
                watermark=epoch(number(watermark, f"{name}.watermark")),
                raw=event,
            )
        )
    return out


# --- outbound rendering -------------------------------------------------------------------------------------


def sender_action(user_id: str, action: str) -> Outbound:
    return Outbound(
        body={"recipient": {"id": user_id}, "sender_action": action},
        kind="action",
        best_effort=True,
        summary=action,
    )


def messaging_type(message: UniversalMessage, ctx: RenderContext, index: int) -> dict[str, str]:
    """``messaging_type`` (and ``tag``) for a message, or SendRefused when Messenger would refuse it."""
    if ctx.within(DAY):
        return {"messaging_type": "UPDATE" if ctx.proactive else "RESPONSE"}
    since = _since(ctx)
    tag = ctx.option(message, "tag")
    if not tag:
        raise SendRefused(
            f"message {index + 1}: Messenger's 24-hour window has closed ({since}); a message tag is needed "
            f"(options.tag: {', '.join(MESSAGE_TAGS)})"
        )
    tag = str(tag).upper()
    if tag not in MESSAGE_TAGS:
        raise SendRefused(
            f"message {index + 1}: unknown Messenger message tag {tag!r} (allowed: {', '.join(MESSAGE_TAGS)})"
        )
    limit = MESSAGE_TAGS[tag]
    if limit is not None and not ctx.within(limit):
        raise SendRefused(
            f"message {index + 1}: the {tag} tag only works up to {int(limit // DAY)} days after the user's "
            f"last message ({since})"
        )
    return {"messaging_type": "MESSAGE_TAG", "tag": tag}


def _since(ctx: RenderContext) -> str:
    if ctx.last_inbound_at is None:
        return "the user has not written yet"
    hours = (ctx.now - ctx.last_inbound_at) / 3600
    return (
        f"the user last wrote {hours:.0f} hours ago"
        if hours < 72
        else f"the user last wrote {hours / 24:.0f} days ago"
    )


def summarise(message: dict[str, Any]) -> str:
    if "text" in message:
        text = str(message["text"])
        return text if len(text) <= 60 else text[:59] + "…"
    attachment = message.get("attachment")
    if isinstance(attachment, dict):
        payload = obj(attachment.get("payload"))
        if attachment.get("type") == "template":
            kind = payload.get("template_type")
            count = len(payload.get("elements") or payload.get("buttons") or [])
            return f"[{kind} template, {count} {'elements' if kind == 'generic' else 'buttons'}]"
        return f"[{attachment.get('type')}] {payload.get('url', '')}".strip()
    return "[message]"


class MessengerRenderer:
    """Universal messages → Send API ``message`` objects. Pure: everything it changes is noted in ``ctx``."""

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx

    def message(self, message: UniversalMessage) -> list[dict[str, Any]]:
        if isinstance(message, ChannelSpecific):
            return self.channel_specific(message)
        if isinstance(message, Template):
            raise SendRefused(
                f"Messenger has no pre-approved message templates (template {message.name!r}); send a text "
                "with a message tag (options.tag) instead, or a channel-specific message"
            )
        if isinstance(message, Text):
            bodies = self.texts(message.text)
        elif isinstance(message, Media):
            bodies = self.media(message)
        elif isinstance(message, Card):
            bodies = self.card(message)
        elif isinstance(message, Carousel):
            bodies = self.carousel(message)
        elif isinstance(message, ListMessage):
            return self.list_message(message)
        elif isinstance(message, Location):
            bodies = self.texts(self.location_text(message))
        else:  # pragma: no cover - the union is exhaustive
            raise SendRefused(f"unsupported message type {type(message).__name__}")
        return self.with_quick_replies(bodies, message.quick_replies)

    # --- pieces ---

    def texts(self, text: str) -> list[dict[str, Any]]:
        parts = split_text(text, TEXT_MAX)
        if len(parts) > 1:
            self.ctx.note(f"text of {len(text)} characters sent as {len(parts)} messages")
        return [{"text": part} for part in parts]

    def with_quick_replies(
        self, bodies: list[dict[str, Any]], actions: Sequence[Action] | None
    ) -> list[dict[str, Any]]:
        if not actions:
            return bodies
        replies = [a for a in actions if isinstance(a, ReplyAction)]
        others = [a for a in actions if not isinstance(a, ReplyAction)]
        if others:
            self.ctx.note(
                "Messenger quick replies only send replies: link and call actions were added as text"
            )
            lines = "\n".join(_action_line(a) for a in others)
            last = bodies[-1] if bodies else {}
            if set(last) == {"text"} and len(last["text"]) + 2 + len(lines) <= TEXT_MAX:
                bodies = [*bodies[:-1], {"text": f"{last['text']}\n\n{lines}"}]
            else:
                bodies = [*bodies, *self.texts(lines)]
        if replies:
            bodies[-1] = {
                **bodies[-1],
                "quick_replies": self.quick_replies([(a.title, a.payload) for a in replies]),
            }
        return bodies

    def quick_replies(self, choices: list[tuple[str, str]]) -> list[dict[str, Any]]:
        if len(choices) > QUICK_REPLIES_MAX:
            self.ctx.note(
                f"{len(choices) - QUICK_REPLIES_MAX} quick replies dropped "
                f"(Messenger shows {QUICK_REPLIES_MAX})"
            )
            choices = choices[:QUICK_REPLIES_MAX]
        return [
            {
                "content_type": "text",
                "title": truncate(title, QUICK_REPLY_TITLE_MAX, self.ctx, "quick reply title"),
                "payload": truncate(payload, PAYLOAD_MAX, self.ctx, "quick reply payload"),
            }
            for title, payload in choices
        ]

    def button(self, action: Action) -> dict[str, Any]:
        title = truncate(action.title, BUTTON_TITLE_MAX, self.ctx, "button title")
        if isinstance(action, UrlAction):
            return {"type": "web_url", "url": action.url, "title": title}
        if isinstance(action, CallAction):
            return {"type": "phone_number", "title": title, "payload": phone_number(action.phone)}
        return {
            "type": "postback",
            "title": title,
            "payload": truncate(action.payload, PAYLOAD_MAX, self.ctx, "payload"),
        }

    def buttons(self, actions: list[Action] | None) -> list[dict[str, Any]]:
        actions = list(actions or [])
        if len(actions) > BUTTONS_MAX:
            self.ctx.note(
                f"{len(actions) - BUTTONS_MAX} buttons dropped (Messenger shows {BUTTONS_MAX} per card)"
            )
            actions = actions[:BUTTONS_MAX]
        return [self.button(a) for a in actions]

    def element(
        self, title: str, subtitle: str | None, image_url: str | None, buttons: list[dict[str, Any]]
    ) -> dict[str, Any]:
        element: dict[str, Any] = {"title": truncate(title, ELEMENT_TEXT_MAX, self.ctx, "card title")}
        if subtitle:
            element["subtitle"] = truncate(subtitle, ELEMENT_TEXT_MAX, self.ctx, "card description")
        if image_url:
            element["image_url"] = image_url
        if buttons:
            element["buttons"] = buttons
        return element

    @staticmethod
    def generic(elements: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "attachment": {"type": "template", "payload": {"template_type": "generic", "elements": elements}}
        }

    # --- message types ---

    def media(self, media: Media) -> list[dict[str, Any]]:
        body = {"attachment": {"type": media.kind, "payload": {"url": media.url, "is_reusable": True}}}
        if media.caption:
            self.ctx.note("Messenger attachments have no caption: it follows as a text message")
            return [body, *self.texts(media.caption)]
        return [body]

    def card(self, card: Card) -> list[dict[str, Any]]:
        buttons = self.buttons(card.buttons)
        if card.media is None:
            text = "\n".join(part for part in (card.title, card.description) if part)
            if not buttons:
                return self.texts(text)
            head, tail = split_tail(text, BUTTON_TEMPLATE_TEXT_MAX, TEXT_MAX)
            template = {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "button", "text": tail, "buttons": buttons},
                }
            }
            return [*({"text": part} for part in head), template]
        return [self.generic([self.element(card.title, card.description, card.media.url, buttons)])]

    def carousel(self, carousel: Carousel) -> list[dict[str, Any]]:
        cards = carousel.cards
        if len(cards) > ELEMENTS_MAX:
            self.ctx.note(
                f"{len(cards) - ELEMENTS_MAX} carousel cards dropped (Messenger shows {ELEMENTS_MAX})"
            )
            cards = cards[:ELEMENTS_MAX]
        elements: list[dict[str, Any]] = []
        bare: list[str] = []
        for card in cards:
            buttons = self.buttons(card.buttons)
            if not (card.description or card.media or buttons):
                bare.append(card.title)  # a generic element needs more than a title
                continue
            elements.append(
                self.element(card.title, card.description, card.media.url if card.media else None, buttons)
            )
        bodies = [self.generic(elements)] if elements else []
        if bare:
            self.ctx.note("carousel cards with only a title were sent as text")
            bodies += self.texts("\n".join(bare))
        return bodies

    def list_message(self, message: ListMessage) -> list[dict[str, Any]]:
        text = "\n".join(part for part in (message.header, message.text, message.footer) if part)
        items = message.items
        extra = [(a.title, a.payload) for a in message.quick_replies or [] if isinstance(a, ReplyAction)]
        short = all(len(i.title) <= QUICK_REPLY_TITLE_MAX and not i.description for i in items)
        if short and len(items) <= QUICK_REPLIES_MAX:
            others = [a for a in message.quick_replies or [] if not isinstance(a, ReplyAction)]
            bodies = self.texts(text)
            if others:
                bodies = self.with_quick_replies(bodies, others)
            bodies[-1] = {
                **bodies[-1],
                "quick_replies": self.quick_replies([(i.title, i.payload) for i in items] + extra),
            }
            return bodies
        bodies = self.texts(text)
        choose = truncate(self.ctx.gettext("Choose"), BUTTON_TITLE_MAX, self.ctx, "button title")
        for start in range(0, len(items), ELEMENTS_MAX):
            chunk = items[start : start + ELEMENTS_MAX]
            bodies.append(self.generic([self.list_element(item, choose) for item in chunk]))
        if len(items) > ELEMENTS_MAX:
            self.ctx.note(
                f"list of {len(items)} items sent as {len(bodies) - 1} generic templates "
                f"of up to {ELEMENTS_MAX}"
            )
        return self.with_quick_replies(bodies, message.quick_replies)

    def list_element(self, item: ListItem, choose: str) -> dict[str, Any]:
        button = {
            "type": "postback",
            "title": choose,
            "payload": truncate(item.payload, PAYLOAD_MAX, self.ctx, "payload"),
        }
        return self.element(item.title, item.description, None, [button])

    @staticmethod
    def location_text(location: Location) -> str:
        lines = [line for line in (location.name, location.address) if line]
        lines.append(maps_link(location.latitude, location.longitude))
        return "\n".join(lines)

    def channel_specific(self, message: ChannelSpecific) -> list[dict[str, Any]]:
        payload = message.payloads.get("messenger")
        if payload is not None:
            return [dict(payload)]
        if message.fallback is not None:
            return self.message(message.fallback)
        self.ctx.note("channel-specific message without a messenger payload or fallback: skipped")
        return []


def _action_line(action: Action) -> str:
    if isinstance(action, UrlAction):
        return f"{action.title}: {action.url}"
    if isinstance(action, CallAction):
        return f"{action.title}: {phone_number(action.phone)}"
    return action.title


def phone_number(phone: str) -> str:
    """E.164 from E.164 or an RFC 3966 ``tel:`` URI (Messenger's call button wants ``+`` and digits)."""
    number = phone.strip()
    if number.lower().startswith("tel:"):
        number = number[4:]
    number = number.split(";", 1)[0]
    return re.sub(r"[\s().-]", "", number)
