"""Universal messages → WhatsApp Cloud API message contents (without the envelope): a :class:`Renderer`
that overrides every type, since WhatsApp shows each natively in some form. Rendering:

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

Quick replies are WhatsApp buttons, so a text, a card or a captioned image carries them itself (its type
method places them, see :meth:`WhatsAppRenderer.placed`); after the other types they follow in a message of
their own (:meth:`WhatsAppRenderer.quick_replies`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from channelgate.channels.base import RenderContext
from channelgate.channels.meta.render import split_tail
from channelgate.channels.renderer import Renderer
from channelgate.channels.rendering import split_text, truncate
from channelgate.messages import (
    Action,
    CallAction,
    Card,
    Carousel,
    ListMessage,
    Location,
    Media,
    ReplyAction,
    Template,
    Text,
    UrlAction,
)

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
_SEND_TYPES = {"image": "image", "video": "video", "audio": "audio", "file": "document"}
_COMPONENT_TYPES = frozenset(
    {"header", "body", "footer", "button", "buttons", "carousel", "limited_time_offer"}
)

Content = dict[str, Any]


class WhatsAppRenderer(Renderer[Content]):
    """Pure; notes what it changed."""

    channel: ClassVar[str] = "whatsapp"
    product: ClassVar[str] = "WhatsApp"

    def __init__(self, ctx: RenderContext) -> None:
        super().__init__(ctx)
        self._placed: Sequence[Action] | None = None

    # --- primitives ---

    def texts(self, text: str) -> list[Content]:
        parts = split_text(text, TEXT_MAX)
        if len(parts) > 1:
            self.ctx.note(f"text of {len(text)} characters sent as {len(parts)} messages")
        return [text_content(part) for part in parts]

    def passthrough(self, payload: dict[str, Any]) -> Content:
        return payload

    # --- quick replies: in the message itself when it can carry buttons, else a message of their own ---

    def placed(self, actions: Sequence[Action] | None, contents: list[Content]) -> list[Content]:
        """``contents`` carry the message's quick replies already (or, for a template, ignore them):
        :meth:`quick_replies` must not add them again."""
        self._placed = actions
        return contents

    def quick_replies(self, bodies: list[Content], actions: Sequence[Action]) -> list[Content]:
        if actions is self._placed:
            self._placed = None
            return bodies
        return self.follow_up(bodies, actions)

    def follow_up(self, contents: list[Content], actions: Sequence[Action] | None) -> list[Content]:
        """``contents``, then ``actions`` in a message of their own (for types that cannot carry buttons)."""
        if not actions:
            return contents
        self.ctx.note("quick replies sent in a message of their own")
        return [*contents, *self.choices(self.ctx.gettext("Choose"), actions)]

    # --- message types ---

    def text(self, message: Text) -> list[Content]:
        if not message.quick_replies:
            return self.texts(message.text)  # texts() notes a split already
        return self.placed(message.quick_replies, self.choices(message.text, message.quick_replies))

    def media(self, message: Media) -> list[Content]:
        kind = _SEND_TYPES[message.kind]
        media: Content = {"link": message.url}
        if kind == "document" and message.filename:
            media["filename"] = message.filename
        if message.quick_replies and kind != "audio":
            header = {"type": kind, kind: media}
            text = message.caption or self.ctx.gettext("Choose")
            return self.placed(message.quick_replies, self.choices(text, message.quick_replies, header))
        contents = [{"type": kind, kind: media}]
        if message.caption and kind == "audio":
            self.ctx.note("WhatsApp audio has no caption: it follows as a text message")
            contents += self.texts(message.caption)
        elif message.caption:
            media["caption"] = truncate(message.caption, CAPTION_MAX, self.ctx, "caption")
        return contents

    def card(self, message: Card) -> list[Content]:
        header = {"type": "image", "image": {"link": message.media.url}} if message.media else None
        actions = [*(message.buttons or []), *(message.quick_replies or [])]
        text = "\n".join(part for part in (f"*{message.title}*", message.description) if part)
        if not actions:
            return self.plain(text, header)
        return self.placed(message.quick_replies, self.choices(text, actions, header))

    def carousel(self, message: Carousel) -> list[Content]:
        self.ctx.note(f"carousel of {len(message.cards)} cards sent as one message per card")
        contents: list[Content] = []
        for card in message.cards:
            contents += self.card(card)
            self._placed = None  # a card's own quick replies are placed; the carousel's follow
        return contents

    def list_message(self, message: ListMessage) -> list[Content]:
        button = message.button or self.ctx.gettext("Choose")
        rows = [(item.payload, item.title, item.description) for item in message.items]
        head, tail = split_tail(message.text, BODY_MAX, TEXT_MAX)
        contents = [text_content(part) for part in head]
        chunks = [rows[i : i + ROWS_MAX] for i in range(0, len(rows), ROWS_MAX)]
        if len(chunks) > 1:
            self.ctx.note(f"list of {len(rows)} items sent as {len(chunks)} lists of up to {ROWS_MAX}")
        for chunk in chunks:
            interactive: Content = {"type": "list"}
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
        return contents

    def location(self, message: Location) -> list[Content]:
        location: Content = {"latitude": message.latitude, "longitude": message.longitude}
        if message.name:
            location["name"] = message.name
        if message.address:
            location["address"] = message.address
        return [{"type": "location", "location": location}]

    def template(self, message: Template) -> list[Content]:
        if message.quick_replies:
            self.ctx.note("a template's buttons are part of the approved template: quick_replies ignored")
        return self.placed(message.quick_replies, [template_content(message)])

    # --- pieces ---

    def choices(
        self,
        text: str,
        actions: Sequence[Action],
        header: Content | None = None,
        footer: str | None = None,
    ) -> list[Content]:
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
        contents = [text_content(part) for part in head]
        interactive: Content = {"body": {"text": tail}}
        if footer:
            interactive["footer"] = {"text": truncate(footer, FOOTER_MAX, self.ctx, "footer")}
        if cta is not None:
            interactive = {"type": "cta_url", **_with_header(interactive, header)}
            interactive["action"] = {
                "name": "cta_url",
                "parameters": {
                    "display_text": truncate(cta.title, BUTTON_TITLE_MAX, self.ctx, "button title"),
                    "url": cta.url,
                },
            }
        elif len(replies) <= BUTTONS_MAX:
            interactive = {"type": "button", **_with_header(interactive, header)}
            interactive["action"] = {"buttons": [self.reply_button(a) for a in replies]}
        else:
            if header is not None and header.get("type") != "text":
                contents.insert(0, header_as_message(header))
                header = None
            interactive = {"type": "list", **_with_header(interactive, header)}
            rows = [(a.payload, a.title, None) for a in replies]
            interactive["action"] = self.list_action(self.ctx.gettext("Choose"), rows[:ROWS_MAX])
            if len(rows) > ROWS_MAX:
                self.ctx.note(f"{len(rows) - ROWS_MAX} choices dropped (a WhatsApp list shows {ROWS_MAX})")
        contents.append({"type": "interactive", "interactive": interactive})
        return contents

    def plain(self, text: str, header: Content | None) -> list[Content]:
        """``text`` without buttons: as a caption of the header's media when it fits, else as text."""
        if header is None or header.get("type") == "text":
            return self.texts(text)
        media = header_as_message(header)
        kind = media["type"]
        if len(text) <= CAPTION_MAX:
            return [{"type": kind, kind: {**media[kind], "caption": text}}]
        return [media, *self.texts(text)]

    def reply_button(self, action: ReplyAction) -> Content:
        return {
            "type": "reply",
            "reply": {
                "id": truncate(action.payload, BUTTON_ID_MAX, self.ctx, "button id"),
                "title": truncate(action.title, BUTTON_TITLE_MAX, self.ctx, "button title"),
            },
        }

    def list_action(self, button: str, rows: Sequence[tuple[str, str, str | None]]) -> Content:
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


def text_content(text: str) -> Content:
    content: Content = {"body": text}
    if _URL_IN_TEXT.search(text):
        content["preview_url"] = True
    return {"type": "text", "text": content}


def _with_header(interactive: Content, header: Content | None) -> Content:
    return {"header": header, **interactive} if header is not None else interactive


def header_as_message(header: Content) -> Content:
    kind = str(header["type"])
    return {"type": kind, kind: dict(header[kind])}


def template_content(template: Template) -> Content:
    content: Content = {
        "name": template.name,
        "language": {"code": whatsapp_language(template.language)},
    }
    components = template_components(template.parameters or [])
    if components:
        content["components"] = components
    return {"type": "template", "template": content}


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


def template_components(parameters: list[Any]) -> list[Content]:
    """Template components from a template's parameters: component objects (``{"type": "header", ...}``) pass
    through, other values fill the body's parameters in order (objects such as ``{"type": "currency", ...}``
    as they are, plain values as text)."""
    components: list[Content] = []
    body: list[Content] = []
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
