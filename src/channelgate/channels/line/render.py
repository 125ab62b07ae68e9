"""Universal messages → LINE message objects, then grouped into send calls of at most five.

==============  ============================================================================================
text            ``text``, split at 5,000 characters (paragraph, sentence, then word boundaries)
media           an image as ``image`` (HTTPS URL, also its preview); video and audio need a preview image
                and a duration the universal message does not have, and bots cannot send files: those,
                and any non-HTTPS URL, are sent as a link; a caption follows as text
card            a Flex bubble: the image as its hero, title and description, up to 4 buttons
carousel        a Flex carousel of up to 12 such bubbles
list            the text (descriptions as lines) with one quick reply per item, up to 13; longer lists
                are a numbered text menu
location        ``location`` (title and address are required: the name, the address or the coordinates)
template        refused: LINE has no pre-approved templates
channel         ``payloads["line"]`` is a LINE message object (``{"type": "imagemap", ...}``), sent as it is
quick replies   ``quickReply`` on the message, up to 13 postback items; link and call actions cannot be quick
                replies in LINE and follow as lines of text
==============  ============================================================================================

Buttons: a reply is a ``postback`` action (its title comes back as the user's visible text, the payload
as the postback's ``data``, at most 300 characters), a link a ``uri`` action, a call a ``uri`` action on
``tel:``. Labels are cut to 20 characters, the limit of template and quick-reply actions. Everything cut,
dropped or degraded is noted in the render context.

:func:`calls` groups one reply's message objects into send calls: at most five messages a call (reply and
push both take 1-5), and a message with quick replies ends its call, since LINE only shows the quick
replies of a call's last message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from channelgate.channels.base import RenderContext, SendRefused
from channelgate.channels.renderer import Renderer
from channelgate.channels.rendering import action_as_text, split_text, truncate
from channelgate.messages import (
    Action,
    CallAction,
    Card,
    Carousel,
    ListMessage,
    Location,
    Media,
    ReplyAction,
    UrlAction,
)

TEXT_MAX = 5000
MESSAGES_PER_CALL = 5
QUICK_REPLIES_MAX = 13
BUBBLES_MAX = 12
BUTTONS_MAX = 4
LABEL_MAX = 20
POSTBACK_DATA_MAX = 300
DISPLAY_TEXT_MAX = 300
ALT_TEXT_MAX = 400
IMAGE_URL_MAX = 2000
URI_MAX = 1000
LOCATION_TEXT_MAX = 100
_ASPECT = {"short": "2:1", "medium": "20:13", "tall": "1:1"}
_PHONE = re.compile(r"[\s().-]")

Body = dict[str, Any]


def https(url: str, limit: int = IMAGE_URL_MAX) -> bool:
    """Whether LINE takes ``url`` for an image: HTTPS and at most ``limit`` characters."""
    return url.lower().startswith("https://") and len(url) <= limit


class LineRenderer(Renderer[Body]):
    channel: ClassVar[str] = "line"
    product: ClassVar[str] = "LINE"

    def __init__(self, ctx: RenderContext) -> None:
        super().__init__(ctx)

    # --- the primitives ---

    def texts(self, text: str) -> list[Body]:
        return [{"type": "text", "text": part} for part in split_text(text, TEXT_MAX)]

    def passthrough(self, payload: dict[str, Any]) -> Body:
        if not isinstance(payload.get("type"), str) or not payload["type"]:
            raise SendRefused('a channel-specific line payload is a LINE message object: {"type": ..., ...}')
        return payload

    # --- what LINE shows natively ---

    def media(self, message: Media) -> list[Body]:
        if message.kind == "image" and https(message.url):
            body: Body = {"type": "image", "originalContentUrl": message.url, "previewImageUrl": message.url}
            return [body, *(self.texts(message.caption) if message.caption else [])]
        why = {
            "image": "an image URL that is not HTTPS (or longer than 2,000 characters)",
            "video": "videos without a preview image",
            "audio": "audio without its duration",
            "file": "files sent by a bot",
        }[message.kind]
        self.note_degraded(why, "a link")
        label = message.caption or message.filename
        return self.texts(f"{label}\n{message.url}" if label else message.url)

    def card(self, message: Card) -> list[Body]:
        return [self.flex(self.bubble(message), message.title)]

    def carousel(self, message: Carousel) -> list[Body]:
        cards = list(message.cards)
        if len(cards) > BUBBLES_MAX:
            self.ctx.note(f"{len(cards) - BUBBLES_MAX} carousel cards dropped (LINE shows {BUBBLES_MAX})")
            cards = cards[:BUBBLES_MAX]
        contents = {"type": "carousel", "contents": [self.bubble(card) for card in cards]}
        return [self.flex(contents, ", ".join(card.title for card in cards))]

    def list_message(self, message: ListMessage) -> list[Body]:
        replies = [a for a in message.quick_replies or [] if isinstance(a, ReplyAction)]
        if len(message.items) + len(replies) > QUICK_REPLIES_MAX:
            return super().list_message(message)
        lines = [f"• {item.title}: {item.description}" for item in message.items if item.description]
        text = "\n".join(p for p in (message.header, message.text, *lines, message.footer) if p)
        items = [self.quick_item(ReplyAction(title=i.title, payload=i.payload)) for i in message.items]
        return self.with_items(self.texts(text), items)

    def location(self, message: Location) -> list[Body]:
        where = f"{message.latitude}, {message.longitude}"
        title = message.name or message.address or where
        return [
            {
                "type": "location",
                "title": truncate(title, LOCATION_TEXT_MAX, self.ctx, "location title"),
                "address": truncate(
                    message.address or where, LOCATION_TEXT_MAX, self.ctx, "location address"
                ),
                "latitude": message.latitude,
                "longitude": message.longitude,
            }
        ]

    def quick_replies(self, bodies: list[Body], actions: Sequence[Action]) -> list[Body]:
        others = [a for a in actions if not isinstance(a, ReplyAction)]
        if others:
            self.ctx.note("LINE quick replies cannot open links or dial: those actions were sent as text")
            bodies = [*bodies, *self.texts("\n".join(action_as_text(a, self.ctx.gettext) for a in others))]
        items = [self.quick_item(a) for a in actions if isinstance(a, ReplyAction)]
        if not items:
            return bodies
        if not bodies:
            bodies = self.texts(self.ctx.gettext("Choose"))
        return self.with_items(bodies, items)

    # --- pieces ---

    def with_items(self, bodies: list[Body], items: list[Body]) -> list[Body]:
        """``bodies`` with quick-reply ``items`` added to the last one's (at most 13 in all)."""
        last = dict(bodies[-1])
        existing = (
            last.get("quickReply", {}).get("items", []) if isinstance(last.get("quickReply"), dict) else []
        )
        merged = [*existing, *items]
        if len(merged) > QUICK_REPLIES_MAX:
            self.ctx.note(
                f"{len(merged) - QUICK_REPLIES_MAX} quick replies dropped (LINE shows {QUICK_REPLIES_MAX})"
            )
            merged = merged[:QUICK_REPLIES_MAX]
        last["quickReply"] = {"items": merged}
        return [*bodies[:-1], last]

    def quick_item(self, action: ReplyAction) -> Body:
        return {"type": "action", "action": self.action(action)}

    def label(self, title: str) -> str:
        return truncate(title, LABEL_MAX, self.ctx, "button label")

    def action(self, action: Action) -> Body:
        """A LINE action for a button or quick reply."""
        if isinstance(action, UrlAction):
            return {
                "type": "uri",
                "label": self.label(action.title),
                "uri": truncate(action.url, URI_MAX, self.ctx, "link"),
            }
        if isinstance(action, CallAction):
            phone = _PHONE.sub("", action.phone.strip().removeprefix("tel:").split(";", 1)[0])
            return {"type": "uri", "label": self.label(action.title), "uri": f"tel:{phone}"}
        return {
            "type": "postback",
            "label": self.label(action.title),
            "data": truncate(action.payload, POSTBACK_DATA_MAX, self.ctx, "postback data"),
            "displayText": truncate(action.title, DISPLAY_TEXT_MAX, self.ctx, "button text"),
        }

    def bubble(self, card: Card) -> Body:
        """A Flex bubble: hero image, title and description, buttons in the footer."""
        texts: list[Body] = [
            {"type": "text", "text": card.title, "weight": "bold", "size": "lg", "wrap": True}
        ]
        if card.description:
            texts.append(
                {"type": "text", "text": card.description, "size": "sm", "color": "#666666", "wrap": True}
            )
        bubble: Body = {"type": "bubble"}
        if card.media is not None:
            if https(card.media.url):
                bubble["hero"] = {
                    "type": "image",
                    "url": card.media.url,
                    "size": "full",
                    "aspectRatio": _ASPECT.get(card.media.height or "medium", "20:13"),
                    "aspectMode": "cover",
                }
            else:
                self.note_degraded("card images that are not HTTPS", "a link in the card")
                texts.append({"type": "text", "text": card.media.url, "size": "xs", "wrap": True})
        bubble["body"] = {"type": "box", "layout": "vertical", "spacing": "sm", "contents": texts}
        buttons = list(card.buttons or [])
        if len(buttons) > BUTTONS_MAX:
            self.ctx.note(f"{len(buttons) - BUTTONS_MAX} buttons dropped (LINE cards show {BUTTONS_MAX})")
            buttons = buttons[:BUTTONS_MAX]
        if buttons:
            bubble["footer"] = {
                "type": "box",
                "layout": "vertical",
                "spacing": "sm",
                "contents": [
                    {"type": "button", "style": "link", "height": "sm", "action": self.action(b)}
                    for b in buttons
                ],
            }
        return bubble

    def flex(self, contents: Body, alt_text: str) -> Body:
        """A Flex message; ``altText`` is what notifications and chat lists show."""
        return {"type": "flex", "altText": alt_text[:ALT_TEXT_MAX], "contents": contents}


def calls(messages: list[Body]) -> list[list[Body]]:
    """One reply's message objects grouped into send calls: at most five each, and a message with quick
    replies last in its call (LINE shows only the last message's quick replies)."""
    groups: list[list[Body]] = []
    current: list[Body] = []
    for message in messages:
        current.append(message)
        if len(current) == MESSAGES_PER_CALL or "quickReply" in message:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def summarise(messages: list[Body]) -> str:
    """A short text for transcripts and logs: the first message, and how many follow."""
    first = messages[0] if messages else {}
    kind = str(first.get("type", ""))
    text = str(
        first.get("text")
        or first.get("altText")
        or first.get("originalContentUrl")
        or first.get("title")
        or ""
    )
    head = text if kind == "text" else f"[{kind}] {text}".strip()
    head = head if len(head) <= 60 else head[:59] + "…"
    return head + (f" (+{len(messages) - 1} more)" if len(messages) > 1 else "")
