"""Universal messages → Messages API parameters, each body ``{"To": …, "Body": …, "MediaUrl": [...]}``.

SMS shows text and (as MMS) media; everything with buttons becomes a numbered text menu whose choices the
user answers by number or title (``menus.py`` maps the answer back to the postback):

==============  ============================================================================================
text            ``Body``, split at 1,600 characters (Twilio's limit; it bills each 160 GSM-7 / 70 UCS-2
                characters as a segment)
media           MMS: ``MediaUrl`` with the caption as ``Body`` (a caption over 1,600 follows as text)
card            title, description and its buttons as numbered choices (links and calls as lines), the
                image as ``MediaUrl``
carousel        one such message per card, numbered on across the cards
list            the text with its items as numbered choices; descriptions in brackets
location        the name, address and a map link (the toolkit's default)
template        a Content API template when the name is its ``HX…`` SID (``ContentSid``, the parameters
                as ``ContentVariables`` 1, 2, …); any other name is refused
channel         ``payloads["twilio"]``: Messages API parameters (``ContentSid``, ``MediaUrl``…), ``To`` set
quick replies   numbered choices after the message, in the same SMS when they fit
==============  ============================================================================================

Choices are numbered across the whole reply (two lists in one reply never share a number), and the reply's
last body carries the menu as ``_menu`` for ``send`` to store (an empty menu clears the last one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from channelgate.channels.base import RenderContext, SendRefused
from channelgate.channels.renderer import Renderer
from channelgate.channels.rendering import action_as_text, split_text
from channelgate.channels.twilio.menus import Menu
from channelgate.messages import (
    Action,
    Card,
    Carousel,
    ListMessage,
    Media,
    ReplyAction,
    Template,
    UniversalMessage,
)

#: Twilio's ``Body`` limit, in characters.
TEXT_MAX = 1600
#: ``MediaUrl`` values per message.
MEDIA_MAX = 10
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
#: Messages API parameters a channel-specific payload may set (``To`` is the conversation's; the sender
#: and status callback are the integration's).
PASSTHROUGH = frozenset(
    {"Body", "MediaUrl", "ContentSid", "ContentVariables", "ValidityPeriod", "SendAsMms", "ShortenUrls",
     "SmartEncoded", "PersistentAction", "Attempt", "ProvideFeedback", "ForceDelivery", "ContentRetention",
     "AddressRetention", "RiskCheck", "ScheduleType", "SendAt", "MaxPrice"}
)  # fmt: skip

Body = dict[str, Any]


class TwilioRenderer(Renderer[Body]):
    channel: ClassVar[str] = "twilio"
    product: ClassVar[str] = "SMS"

    def __init__(self, ctx: RenderContext) -> None:
        super().__init__(ctx)
        #: the choices offered so far in this reply, numbered from 1
        self.menu: Menu = []

    def body(self, **params: Any) -> Body:
        return {"To": self.ctx.user_id, **params}

    # --- the primitives ---

    def texts(self, text: str) -> list[Body]:
        return [self.body(Body=part) for part in split_text(text, TEXT_MAX)]

    def passthrough(self, payload: dict[str, Any]) -> Body:
        unknown = sorted(set(payload) - PASSTHROUGH)
        if unknown:
            raise SendRefused(
                f"a channel-specific twilio payload holds Messages API parameters; not {', '.join(unknown)} "
                "(To, From and StatusCallback are the integration's)"
            )
        return self.body(**payload)

    # --- what SMS/MMS shows ---

    def media(self, message: Media) -> list[Body]:
        caption = message.caption or ""
        if len(caption) <= TEXT_MAX:
            return [self.body(MediaUrl=[message.url], **({"Body": caption} if caption else {}))]
        self.ctx.note(f"caption over {TEXT_MAX} characters sent as text after the {message.kind}")
        return [self.body(MediaUrl=[message.url]), *self.texts(caption)]

    def card(self, message: Card) -> list[Body]:
        return self.card_bodies(message, prompt=True)

    def card_bodies(self, card: Card, *, prompt: bool) -> list[Body]:
        lines = [card.title, *([card.description] if card.description else [])]
        lines += self.choices(card.buttons or [], prompt=prompt)
        bodies = self.texts("\n".join(lines))
        if card.media is not None:
            bodies[0] = {**bodies[0], "MediaUrl": [card.media.url]}
        return bodies

    def carousel(self, message: Carousel) -> list[Body]:
        self.note_degraded("carousels", "one message per card, choices numbered across them")
        last = len(message.cards) - 1
        return [b for i, card in enumerate(message.cards) for b in self.card_bodies(card, prompt=i == last)]

    def list_message(self, message: ListMessage) -> list[Body]:
        self.note_degraded("lists", "a numbered text menu")
        lines = [part for part in (message.header, message.text) if part]
        for item in message.items:
            number = self.choose(item.title, item.payload)
            lines.append(f"{number}. {item.title}" + (f" ({item.description})" if item.description else ""))
        if message.footer:
            lines.append(message.footer)
        lines.append(self.ctx.gettext("Reply with the number of your choice."))
        return self.texts("\n".join(lines))

    def template(self, message: Template) -> list[Body]:
        """A Content API template, named by its SID; other names are refused (the toolkit's default)."""
        if not CONTENT_SID.fullmatch(message.name):
            return super().template(message)
        params = message.parameters or []
        if len(params) == 1 and isinstance(params[0], dict):
            variables = {str(k): v for k, v in params[0].items()}
        else:
            variables = {
                str(i): p if isinstance(p, str) else orjson.dumps(p).decode() for i, p in enumerate(params, 1)
            }
        body = self.body(ContentSid=message.name)
        if variables:
            body["ContentVariables"] = orjson.dumps(variables).decode()
        return [body]

    def quick_replies(self, bodies: list[Body], actions: Sequence[Action]) -> list[Body]:
        self.note_degraded("quick replies", "a numbered text menu")
        text = "\n".join(self.choices(actions, prompt=True))
        if not text:
            return bodies
        last = bodies[-1] if bodies else None
        if last is not None and "ContentSid" not in last:
            joined = f"{last['Body']}\n{text}" if last.get("Body") else text
            if len(joined) <= TEXT_MAX:
                return [*bodies[:-1], {**last, "Body": joined}]
        return [*bodies, *self.texts(text)]

    # --- choices ---

    def choose(self, title: str, payload: str) -> int:
        """Offer a choice; its number in this reply."""
        self.menu.append((title, payload))
        return len(self.menu)

    def choices(self, actions: Sequence[Action], *, prompt: bool) -> list[str]:
        """Buttons as lines: reply actions numbered (and offered), links and calls as they are."""
        lines: list[str] = []
        numbered = False
        for action in actions:
            if isinstance(action, ReplyAction):
                lines.append(f"{self.choose(action.title, action.payload)}. {action.title}")
                numbered = True
            else:
                lines.append(action_as_text(action, self.ctx.gettext))
        if numbered and prompt:
            lines.append(self.ctx.gettext("Reply with the number of your choice."))
        return lines


def render(messages: Sequence[UniversalMessage], ctx: RenderContext) -> list[Body]:
    """The reply's bodies; the last carries the reply's menu (``_menu``, empty when it offered none)."""
    renderer = TwilioRenderer(ctx)
    bodies = renderer.render_all(messages)
    for index, body in enumerate(bodies):
        media = body.get("MediaUrl")
        if isinstance(media, list) and len(media) > MEDIA_MAX:
            ctx.note(f"{len(media) - MEDIA_MAX} media dropped: an MMS carries {MEDIA_MAX}")
            bodies[index] = {**body, "MediaUrl": media[:MEDIA_MAX]}
    if bodies:
        bodies[-1] = {**bodies[-1], "_menu": [list(item) for item in renderer.menu]}
    return bodies


def summarise(body: Body) -> str:
    """A short text for transcripts and logs."""
    text = str(body.get("Body") or "")
    media = body.get("MediaUrl")
    if body.get("ContentSid"):
        return f"[template {body['ContentSid']}]"
    if media:
        first = media[0] if isinstance(media, list) and media else media
        return f"[MMS] {first} {text}".strip()[:120]
    return text if len(text) <= 60 else text[:59] + "…"
