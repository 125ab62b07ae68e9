"""Universal messages → Messenger Send API ``message`` objects: a :class:`Renderer` that overrides what
Messenger shows natively. Rendering follows the platform's documented limits and says, in the render
context's notes, what it had to change:

==============  ============================================================================================
text            split over 2000 characters at paragraph, sentence or word boundaries
quick replies   up to 13, titles cut to 20 characters; url/call actions become lines of text
card            button template (text ≤ 640, ≤ 3 buttons) without an image, else a generic template
carousel        generic template, ≤ 10 elements of ≤ 3 buttons; title-only cards are listed as text
list            quick replies when ≤ 13 short items without descriptions, else generic templates of 10 items
media           attachment by URL (``is_reusable``); a caption follows as text
location        text with the place and a map link (the base's default)
template        refused: Messenger has no pre-approved templates; send a text with a message tag instead
channel         ``payloads["messenger"]`` is the Send API ``message`` object (the base's pass-through)
==============  ============================================================================================
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from channelgate.channels.base import SendRefused
from channelgate.channels.meta.render import split_tail
from channelgate.channels.renderer import Renderer
from channelgate.channels.rendering import split_text, truncate
from channelgate.messages import (
    Action,
    CallAction,
    Card,
    Carousel,
    ListItem,
    ListMessage,
    Media,
    ReplyAction,
    Template,
    Text,
    UrlAction,
)

TEXT_MAX = 2000
BUTTON_TEMPLATE_TEXT_MAX = 640
QUICK_REPLIES_MAX = 13
QUICK_REPLY_TITLE_MAX = 20
BUTTON_TITLE_MAX = 20
PAYLOAD_MAX = 1000
BUTTONS_MAX = 3
ELEMENTS_MAX = 10
ELEMENT_TEXT_MAX = 80

Body = dict[str, Any]


class MessengerRenderer(Renderer[Body]):
    """Pure: everything it changes is noted in ``ctx``."""

    channel: ClassVar[str] = "messenger"
    product: ClassVar[str] = "Messenger"
    #: the longest text message (Instagram's renderer, built on this one, sets its own)
    text_max: ClassVar[int] = TEXT_MAX

    # --- primitives ---

    def texts(self, text: str) -> list[Body]:
        parts = split_text(text, self.text_max)
        if len(parts) > 1:
            self.ctx.note(f"text of {len(text)} characters sent as {len(parts)} messages")
        return [{"text": part} for part in parts]

    def passthrough(self, payload: dict[str, Any]) -> Body:
        return payload

    # --- what Messenger shows natively ---

    def text(self, message: Text) -> list[Body]:
        return self.texts(message.text)  # texts() notes a split already

    def media(self, message: Media) -> list[Body]:
        body = {"attachment": {"type": message.kind, "payload": {"url": message.url, "is_reusable": True}}}
        if message.caption:
            self.ctx.note(f"{self.product} attachments have no caption: it follows as a text message")
            return [body, *self.texts(message.caption)]
        return [body]

    def card(self, message: Card) -> list[Body]:
        buttons = self.buttons(message.buttons)
        if message.media is None:
            text = "\n".join(part for part in (message.title, message.description) if part)
            if not buttons:
                return self.texts(text)
            head, tail = split_tail(text, BUTTON_TEMPLATE_TEXT_MAX, self.text_max)
            template = {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "button", "text": tail, "buttons": buttons},
                }
            }
            return [*({"text": part} for part in head), template]
        return [generic([self.element(message.title, message.description, message.media.url, buttons)])]

    def carousel(self, message: Carousel) -> list[Body]:
        cards = message.cards
        if len(cards) > ELEMENTS_MAX:
            self.ctx.note(
                f"{len(cards) - ELEMENTS_MAX} carousel cards dropped ({self.product} shows {ELEMENTS_MAX})"
            )
            cards = cards[:ELEMENTS_MAX]
        elements: list[Body] = []
        bare: list[str] = []
        for card in cards:
            buttons = self.buttons(card.buttons)
            if not (card.description or card.media or buttons):
                bare.append(card.title)  # a generic element needs more than a title
                continue
            elements.append(
                self.element(card.title, card.description, card.media.url if card.media else None, buttons)
            )
        bodies = [generic(elements)] if elements else []
        if bare:
            self.ctx.note("carousel cards with only a title were sent as text")
            bodies += self.texts("\n".join(bare))
        return bodies

    def list_message(self, message: ListMessage) -> list[Body]:
        """A short list is the text with its items as quick replies (the message's own quick replies are
        added after them by :meth:`quick_replies`); a longer one, generic templates of 10 items."""
        text = "\n".join(part for part in (message.header, message.text, message.footer) if part)
        items = message.items
        bodies = self.texts(text)
        short = all(len(i.title) <= QUICK_REPLY_TITLE_MAX and not i.description for i in items)
        if short and len(items) <= QUICK_REPLIES_MAX:
            bodies[-1] = {
                **bodies[-1],
                "quick_replies": self.reply_objects([(i.title, i.payload) for i in items]),
            }
            return bodies
        choose = truncate(self.ctx.gettext("Choose"), BUTTON_TITLE_MAX, self.ctx, "button title")
        for start in range(0, len(items), ELEMENTS_MAX):
            chunk = items[start : start + ELEMENTS_MAX]
            bodies.append(generic([self.list_element(item, choose) for item in chunk]))
        if len(items) > ELEMENTS_MAX:
            self.ctx.note(
                f"list of {len(items)} items sent as {len(bodies) - 1} generic templates "
                f"of up to {ELEMENTS_MAX}"
            )
        return bodies

    def template(self, message: Template) -> list[Body]:
        raise SendRefused(
            f"Messenger has no pre-approved message templates (template {message.name!r}); send a text "
            "with a message tag (options.tag) instead, or a channel-specific message"
        )

    def quick_replies(self, bodies: list[Body], actions: Sequence[Action]) -> list[Body]:
        """Reply actions become quick replies on the last body (after a list's items, when it put them
        there); link and call actions, which quick replies cannot carry, become lines of text."""
        replies = [a for a in actions if isinstance(a, ReplyAction)]
        others = [a for a in actions if not isinstance(a, ReplyAction)]
        bodies = list(bodies)
        placed: list[Body] = []
        if bodies and "quick_replies" in bodies[-1]:
            last = dict(bodies[-1])
            placed = last.pop("quick_replies")
            bodies[-1] = last
        if others:
            self.ctx.note(
                f"{self.product} quick replies only send replies: link and call actions were added as text"
            )
            lines = "\n".join(_action_line(a) for a in others)
            last = bodies[-1] if bodies else {}
            if set(last) == {"text"} and len(last["text"]) + 2 + len(lines) <= self.text_max:
                bodies = [*bodies[:-1], {"text": f"{last['text']}\n\n{lines}"}]
            else:
                bodies = [*bodies, *self.texts(lines)]
        chosen = placed + self.reply_objects(
            [(a.title, a.payload) for a in replies], room=QUICK_REPLIES_MAX - len(placed)
        )
        if chosen:
            bodies[-1] = {**bodies[-1], "quick_replies": chosen}
        return bodies

    # --- pieces ---

    def reply_objects(self, choices: list[tuple[str, str]], room: int = QUICK_REPLIES_MAX) -> list[Body]:
        if len(choices) > room:
            self.ctx.note(
                f"{len(choices) - room} quick replies dropped ({self.product} shows {QUICK_REPLIES_MAX})"
            )
            choices = choices[:room]
        return [
            {
                "content_type": "text",
                "title": truncate(title, QUICK_REPLY_TITLE_MAX, self.ctx, "quick reply title"),
                "payload": truncate(payload, PAYLOAD_MAX, self.ctx, "quick reply payload"),
            }
            for title, payload in choices
        ]

    def button(self, action: Action) -> Body:
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

    def buttons(self, actions: list[Action] | None) -> list[Body]:
        actions = list(actions or [])
        if len(actions) > BUTTONS_MAX:
            self.ctx.note(
                f"{len(actions) - BUTTONS_MAX} buttons dropped ({self.product} shows {BUTTONS_MAX} per card)"
            )
            actions = actions[:BUTTONS_MAX]
        return [self.button(a) for a in actions]

    def element(self, title: str, subtitle: str | None, image_url: str | None, buttons: list[Body]) -> Body:
        element: Body = {"title": truncate(title, ELEMENT_TEXT_MAX, self.ctx, "card title")}
        if subtitle:
            element["subtitle"] = truncate(subtitle, ELEMENT_TEXT_MAX, self.ctx, "card description")
        if image_url:
            element["image_url"] = image_url
        if buttons:
            element["buttons"] = buttons
        return element

    def list_element(self, item: ListItem, choose: str) -> Body:
        button = {
            "type": "postback",
            "title": choose,
            "payload": truncate(item.payload, PAYLOAD_MAX, self.ctx, "payload"),
        }
        return self.element(item.title, item.description, None, [button])


def generic(elements: list[Body]) -> Body:
    return {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": elements}}}


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
