"""Universal messages → Bot API calls, each body ``{"method": "sendMessage", "chat_id": …, …parameters}``.

==============  ============================================================================================
text            ``sendMessage``, split at 4,096 characters (paragraph, sentence, then word boundaries)
media           ``sendPhoto`` / ``sendVideo`` / ``sendAudio`` / ``sendDocument`` by URL; a caption over
                1,024 characters follows as text
card            a photo with the title and description as its caption (or a text without an image) and
                its buttons as an inline keyboard
carousel        one such message per card (Telegram has no carousel)
list            the text with one inline button per item; item descriptions become lines of the text
location        ``sendVenue`` with a name and an address, else ``sendLocation`` (and the one given as text)
template        refused: Telegram has no pre-approved templates
channel         ``payloads["telegram"]``: ``{"method": "sendPoll", …}``, sent as it is (``chat_id`` added)
quick replies   an inline keyboard on the last message; with ``options.keyboard: "reply"`` a one-time reply
                keyboard instead (a tap then comes back as the title, as text)
==============  ============================================================================================

Buttons: a reply becomes ``callback_data`` (mapped through the store beyond 64 bytes, ``callbacks.py``), a
link a ``url`` button; Telegram has no call button, so a call action becomes a line of text. Telegram shows
at most about 100 buttons a message; more are dropped, with a note. Texts are sent without ``parse_mode``:
what the bot wrote is shown as it is, never read as markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from channelgate.channels.base import RenderContext, SendRefused
from channelgate.channels.renderer import Renderer
from channelgate.channels.rendering import action_as_text, split_text, truncate
from channelgate.channels.telegram.callbacks import callback_data
from channelgate.messages import (
    Action,
    CallAction,
    Card,
    Carousel,
    ListMessage,
    Location,
    Media,
    ReplyAction,
    UniversalMessage,
    UrlAction,
)

TEXT_MAX = 4096
CAPTION_MAX = 1024
#: Buttons per message (PTB's InlineKeyboardMarkupLimit, not in the Bot API text) and per row.
BUTTONS_MAX = 100
ROW_MAX = 3
#: Labels up to this long share a row; longer ones get a row each (Telegram cuts labels that do not fit).
SHORT_LABEL = 12

_SEND = {"image": ("sendPhoto", "photo"), "video": ("sendVideo", "video"), "audio": ("sendAudio", "audio"),
         "file": ("sendDocument", "document")}  # fmt: skip
_CHAT_NUMBER = re.compile(r"^-?[0-9]{1,20}$")

Body = dict[str, Any]
Button = dict[str, Any]


def chat_ref(chat_id: str) -> int | str:
    """``chat_id`` as the Bot API takes it: the number, or an ``@channelusername``."""
    return int(chat_id) if _CHAT_NUMBER.fullmatch(chat_id) else chat_id


class TelegramRenderer(Renderer[Body]):
    channel: ClassVar[str] = "telegram"
    product: ClassVar[str] = "Telegram"

    def __init__(self, ctx: RenderContext) -> None:
        super().__init__(ctx)
        self.chat_id = chat_ref(ctx.user_id)
        self._message: UniversalMessage | None = None
        #: mapped callback data → payload, for the bodies whose keyboards use them
        self._mapped: dict[str, str] = {}

    def body(self, method: str, **params: Any) -> Body:
        return {"method": method, "chat_id": self.chat_id, **params}

    # --- the primitives ---

    def texts(self, text: str) -> list[Body]:
        return [self.body("sendMessage", text=part) for part in split_text(text, TEXT_MAX)]

    def passthrough(self, payload: dict[str, Any]) -> Body:
        method = payload.get("method")
        if not isinstance(method, str) or not method:
            raise SendRefused(
                'a channel-specific telegram payload names its Bot API method: {"method": "sendPoll", ...}'
            )
        return {"chat_id": self.chat_id, **payload}

    def render(self, message: UniversalMessage) -> list[Body]:
        self._message = message
        bodies = super().render(message)
        quote = self.ctx.reply_to
        if bodies and quote is not None and quote.isdigit() and self.ctx.option(message, "quote"):
            bodies[0] = {
                **bodies[0],
                "reply_parameters": {"message_id": int(quote), "allow_sending_without_reply": True},
            }
        return bodies

    # --- what Telegram shows natively ---

    def media(self, message: Media) -> list[Body]:
        method, field = _SEND[message.kind]
        body = self.body(method, **{field: message.url})
        caption = message.caption
        if caption and len(caption) <= CAPTION_MAX:
            return [{**body, "caption": caption}]
        if caption:
            self.ctx.note(f"caption over {CAPTION_MAX} characters sent as text after the {message.kind}")
            return [body, *self.texts(caption)]
        return [body]

    def card(self, message: Card) -> list[Body]:
        rows, lines = self.keyboard(message.buttons or [])
        text = "\n".join([message.title, *([message.description] if message.description else []), *lines])
        if message.media is not None and len(text) <= CAPTION_MAX:
            bodies = [self.body("sendPhoto", photo=message.media.url, caption=text)]
        elif message.media is not None:
            self.ctx.note(f"card text over {CAPTION_MAX} characters sent as text after its image")
            bodies = [self.body("sendPhoto", photo=message.media.url), *self.texts(text)]
        else:
            bodies = self.texts(text)
        return self.attach(bodies, rows)

    def carousel(self, message: Carousel) -> list[Body]:
        self.note_degraded("carousels", "one message per card")
        return [body for card in message.cards for body in self.card(card)]

    def list_message(self, message: ListMessage) -> list[Body]:
        lines = [f"• {i.title}: {i.description}" for i in message.items if i.description]
        text = "\n".join(p for p in (message.header, message.text, *lines, message.footer) if p)
        items = list(message.items)
        if len(items) > BUTTONS_MAX:
            self.ctx.note(
                f"{len(items) - BUTTONS_MAX} list items dropped (Telegram shows {BUTTONS_MAX} buttons)"
            )
            items = items[:BUTTONS_MAX]
        rows = [[self.button(ReplyAction(title=i.title, payload=i.payload))] for i in items]
        return self.attach(self.texts(text), rows)

    def location(self, message: Location) -> list[Body]:
        where = {"latitude": message.latitude, "longitude": message.longitude}
        if message.name and message.address:
            return [self.body("sendVenue", **where, title=message.name, address=message.address)]
        label = message.name or message.address
        return [self.body("sendLocation", **where), *(self.texts(label) if label else [])]

    def quick_replies(self, bodies: list[Body], actions: Sequence[Action]) -> list[Body]:
        if not bodies:
            bodies = self.texts(self.ctx.gettext("Choose"))
        if self._message is not None and self.ctx.option(self._message, "keyboard") == "reply":
            return self.reply_keyboard(bodies, actions)
        rows, lines = self.keyboard(actions)
        if lines:
            bodies = [*bodies, *self.texts("\n".join(lines))]
        return self.attach(bodies, rows)

    # --- keyboards ---

    def button(self, action: ReplyAction | UrlAction) -> Button:
        if isinstance(action, UrlAction):
            return {"text": action.title, "url": action.url}
        data, mapped = callback_data(action.payload)
        if mapped is not None:
            self._mapped[data] = mapped
        return {"text": action.title, "callback_data": data}

    def keyboard(self, actions: Sequence[Action]) -> tuple[list[list[Button]], list[str]]:
        """Inline keyboard rows for the actions Telegram has buttons for, and lines of text for the others
        (call actions)."""
        buttons = [self.button(a) for a in actions if isinstance(a, ReplyAction | UrlAction)]
        lines = [action_as_text(a, self.ctx.gettext) for a in actions if isinstance(a, CallAction)]
        if lines:
            self.ctx.note("Telegram has no call buttons: call actions were sent as text")
        if len(buttons) > BUTTONS_MAX:
            self.ctx.note(f"{len(buttons) - BUTTONS_MAX} buttons dropped (Telegram shows {BUTTONS_MAX})")
            buttons = buttons[:BUTTONS_MAX]
        return rows_of(buttons), lines

    def attach(self, bodies: list[Body], rows: list[list[Button]]) -> list[Body]:
        """The keyboard on the last body (added to the one it may have), with the mapped callback data it
        uses, which ``send`` stores before sending."""
        if not rows or not bodies:
            return bodies
        last = dict(bodies[-1])
        markup = last.get("reply_markup")
        existing = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        keyboard = [*existing, *rows]
        if sum(len(r) for r in keyboard) > BUTTONS_MAX:
            self.ctx.note(f"quick replies dropped: Telegram shows {BUTTONS_MAX} buttons a message")
            return bodies
        last["reply_markup"] = {"inline_keyboard": keyboard}
        used = {b["callback_data"] for r in keyboard for b in r if b.get("callback_data") in self._mapped}
        if used:
            last["_callbacks"] = {data: self._mapped[data] for data in sorted(used)}
        return [*bodies[:-1], last]

    def reply_keyboard(self, bodies: list[Body], actions: Sequence[Action]) -> list[Body]:
        """A one-time reply keyboard: the tapped title comes back as the user's text."""
        titles = [a.title for a in actions if isinstance(a, ReplyAction)][:BUTTONS_MAX]
        others = [action_as_text(a, self.ctx.gettext) for a in actions if not isinstance(a, ReplyAction)]
        if others:
            self.ctx.note("a reply keyboard only sends its titles: link and call actions were sent as text")
            bodies = [*bodies, *self.texts("\n".join(others))]
        rows = rows_of([{"text": truncate(t, TEXT_MAX, self.ctx, "button title")} for t in titles])
        last = {
            **bodies[-1],
            "reply_markup": {"keyboard": rows, "resize_keyboard": True, "one_time_keyboard": True},
        }
        return [*bodies[:-1], last]


def rows_of(buttons: list[Button]) -> list[list[Button]]:
    """Short labels share rows of up to three; a long label gets its own row."""
    rows: list[list[Button]] = []
    for button in buttons:
        short = len(button["text"]) <= SHORT_LABEL
        if (
            rows
            and short
            and len(rows[-1]) < ROW_MAX
            and all(len(b["text"]) <= SHORT_LABEL for b in rows[-1])
        ):
            rows[-1].append(button)
        else:
            rows.append([button])
    return rows


def summarise(body: Body) -> str:
    """A short text for transcripts and logs."""
    method = str(body.get("method", ""))
    text = str(body.get("text") or body.get("caption") or "")
    if method == "sendMessage":
        return text if len(text) <= 60 else text[:59] + "…"
    target = body.get("photo") or body.get("video") or body.get("audio") or body.get("document") or ""
    return f"[{method}] {target or text}".strip()[:120]
