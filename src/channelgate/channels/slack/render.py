"""Universal messages → ``chat.postMessage`` bodies (Block Kit), within Slack's documented limits.

==============  ============================================================================================
text            ``text`` (``&``, ``<``, ``>`` escaped, so a bot repeating ``<!channel>`` cannot ping a
                channel), split over 40,000 characters
quick replies   an ``actions`` block of ≤ 25 buttons under the text (sections of ≤ 3,000 characters); a
                url action is a link button, a call action a line in a ``context`` block
card            a section (``*title*`` and the description), an ``image`` block, the buttons as above
carousel        the cards stacked, ``divider`` between them, ≤ 50 blocks a message (noted)
list            a section per item with its button when items have descriptions, else buttons in
                ``actions`` blocks of 25; the footer in a ``context`` block
media           an image is an ``image`` block (its caption the title); other kinds a link (noted)
location        text with the place and a map link
template        refused: Slack has no pre-approved templates
channel         ``payloads["slack"]`` is the ``chat.postMessage`` body (its ``channel`` is the conversation's)
==============  ============================================================================================

Every message also carries ``text``, which Slack shows in notifications and where blocks cannot be shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from channelgate.channels.base import RenderContext
from channelgate.channels.renderer import Renderer
from channelgate.channels.rendering import split_text, truncate
from channelgate.messages import (
    Action,
    CallAction,
    Card,
    Carousel,
    ListMessage,
    Media,
    ReplyAction,
    UrlAction,
)

Body = dict[str, Any]

#: Slack's documented limits (Block Kit reference; python-slack-sdk ``models/blocks``).
MESSAGE_TEXT_MAX = 40_000
SECTION_TEXT_MAX = 3000
BLOCKS_MAX = 50
ACTIONS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
ALT_TEXT_MAX = 2000
IMAGE_TITLE_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
SUMMARY_MAX = 80


def escape(text: str) -> str:
    """Slack's three control characters escaped (``&amp;``, ``&lt;``, ``&gt;``): the rest is shown as is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escaped_length(text: str) -> int:
    return len(escape(text))


def thread_for(reply_to: str | None, reply_in_thread: bool) -> str | None:
    """The ``thread_ts`` a reply goes to: the thread the user wrote in, or (``reply_in_thread``) a thread
    under their message; None for the conversation itself (and for proactive sends)."""
    if not reply_to:
        return None
    ts, _, thread = reply_to.partition("@")
    if thread:
        return thread
    return ts if reply_in_thread else None


def summarise(body: Body) -> str:
    text = body.get("text")
    if isinstance(text, str) and text:
        return text[:SUMMARY_MAX]
    return f"{len(body.get('blocks') or [])} blocks"


class SlackRenderer(Renderer[Body]):
    channel: ClassVar[str] = "slack"
    product: ClassVar[str] = "Slack"

    def __init__(self, ctx: RenderContext) -> None:
        super().__init__(ctx)
        self._ids = 0

    # --- primitives ---

    def texts(self, text: str) -> list[Body]:
        return [{"text": escape(part)} for part in split_text(text, MESSAGE_TEXT_MAX, escaped_length)]

    def passthrough(self, payload: dict[str, Any]) -> Body:
        return payload

    # --- what Slack shows natively ---

    def media(self, message: Media) -> list[Body]:
        if message.kind != "image" or len(message.url) > URL_MAX:
            return super().media(message)
        label = message.caption or message.filename
        block: Body = {
            "type": "image",
            "image_url": message.url,
            "alt_text": truncate(label or "image", ALT_TEXT_MAX, self.ctx, "image alt text"),
        }
        if label:
            block["title"] = {
                "type": "plain_text",
                "text": truncate(label, IMAGE_TITLE_MAX, self.ctx, "title"),
            }
        return [{"text": escape(label or message.url), "blocks": [block]}]

    def card(self, message: Card) -> list[Body]:
        return self.pack(self.card_blocks(message), message.title)

    def carousel(self, message: Carousel) -> list[Body]:
        self.note_degraded("carousels", "stacked cards")
        blocks: list[Body] = []
        for index, card in enumerate(message.cards):
            if index:
                blocks.append({"type": "divider"})
            blocks += self.card_blocks(card)
        return self.pack(blocks, " / ".join(card.title for card in message.cards))

    def list_message(self, message: ListMessage) -> list[Body]:
        head = "\n".join(escape(part) for part in (message.header, message.text) if part)
        blocks = self.sections(head, escaped=True)
        items = message.items
        if any(item.description for item in items):
            for item in items:
                text = (
                    f"*{escape(item.title)}*\n{escape(item.description)}"
                    if item.description
                    else escape(item.title)
                )
                blocks.append(
                    {
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_MAX, self.ctx)},
                        "accessory": self.button(ReplyAction(title=item.title, payload=item.payload)),
                    }
                )
        else:
            buttons = [self.button(ReplyAction(title=i.title, payload=i.payload)) for i in items]
            for start in range(0, len(buttons), ACTIONS_MAX):
                blocks.append({"type": "actions", "elements": buttons[start : start + ACTIONS_MAX]})
        if message.footer:
            blocks.append(self.context([escape(message.footer)]))
        return self.pack(blocks, message.text)

    def quick_replies(self, bodies: list[Body], actions: Sequence[Action]) -> list[Body]:
        if len(actions) > ACTIONS_MAX:
            self.ctx.note(f"{len(actions)} quick replies: only the first {ACTIONS_MAX} sent (Slack's limit)")
            actions = actions[:ACTIONS_MAX]
        extra = self.action_blocks(actions)
        if not extra:
            return bodies
        last = bodies[-1] if bodies else {"text": ""}
        blocks = list(last.get("blocks") or self.sections(str(last.get("text") or ""), escaped=True))
        if len(blocks) + len(extra) > BLOCKS_MAX:
            fallback = ", ".join(a.title for a in actions)
            return [*bodies, {"text": escape(fallback), "blocks": extra}]
        merged = {**last, "blocks": blocks + extra}
        if not merged.get("text"):
            merged["text"] = escape(", ".join(a.title for a in actions))
        return [*bodies[:-1], merged]

    # --- blocks ---

    def card_blocks(self, card: Card) -> list[Body]:
        text = f"*{escape(card.title)}*"
        if card.description:
            text += f"\n{escape(card.description)}"
        blocks = self.sections(text, escaped=True)
        if card.media is not None:
            if len(card.media.url) <= URL_MAX:
                alt = card.media.alt_text or card.title
                blocks.append(
                    {
                        "type": "image",
                        "image_url": card.media.url,
                        "alt_text": truncate(alt, ALT_TEXT_MAX, self.ctx, "image alt text"),
                    }
                )
            else:
                self.ctx.note(f"image URL over {URL_MAX} characters: sent as a link")
                blocks.append(self.context([escape(card.media.url)]))
        buttons = list(card.buttons or [])
        if len(buttons) > ACTIONS_MAX:
            self.ctx.note(f"{len(buttons)} buttons on a card: only the first {ACTIONS_MAX} sent")
            buttons = buttons[:ACTIONS_MAX]
        return blocks + self.action_blocks(buttons)

    def action_blocks(self, actions: Sequence[Action]) -> list[Body]:
        """Buttons in an ``actions`` block; what a button cannot do (dial, a payload over Slack's 2,000
        characters) becomes a line in a ``context`` block, noted."""
        buttons: list[Body] = []
        lines: list[str] = []
        for action in actions:
            if isinstance(action, CallAction):
                self.note_degraded("call buttons", "text")
                lines.append(
                    escape(
                        self.ctx.gettext("{title}: call {phone}").format(
                            title=action.title, phone=action.phone
                        )
                    )
                )
            elif isinstance(action, ReplyAction) and len(action.payload) > BUTTON_VALUE_MAX:
                self.ctx.note(
                    f"button {action.title!r}: payload over {BUTTON_VALUE_MAX} characters, shown as text"
                )
                lines.append(escape(action.title))
            elif isinstance(action, UrlAction) and len(action.url) > URL_MAX:
                self.ctx.note(f"button {action.title!r}: URL over {URL_MAX} characters, sent as a link")
                lines.append(escape(f"{action.title}: {action.url}"))
            else:
                buttons.append(self.button(action))
        blocks: list[Body] = []
        if buttons:
            blocks.append({"type": "actions", "elements": buttons})
        if lines:
            blocks.append(self.context(lines))
        return blocks

    def button(self, action: ReplyAction | UrlAction) -> Body:
        title = truncate(action.title, BUTTON_TEXT_MAX, self.ctx, "button text")
        button: Body = {
            "type": "button",
            "text": {"type": "plain_text", "text": title, "emoji": True},
            "action_id": self.action_id(),
        }
        if isinstance(action, UrlAction):
            button["url"] = action.url
        else:
            button["value"] = action.payload
        return button

    def action_id(self) -> str:
        """Unique within a message (Slack refuses duplicates), stable for the same render."""
        self._ids += 1
        return f"cg_{self._ids}"

    def sections(self, text: str, *, escaped: bool = False) -> list[Body]:
        """Sections of ≤ 3,000 characters (``text`` already escaped when ``escaped``)."""
        if not text:
            return []
        measure = len if escaped else escaped_length
        parts = split_text(text, SECTION_TEXT_MAX, measure)
        return [
            {"type": "section", "text": {"type": "mrkdwn", "text": part if escaped else escape(part)}}
            for part in parts
        ]

    def context(self, lines: list[str]) -> Body:
        """A ``context`` block of ≤ 10 elements (already escaped lines)."""
        if len(lines) > CONTEXT_ELEMENTS_MAX:
            lines = [*lines[: CONTEXT_ELEMENTS_MAX - 1], "\n".join(lines[CONTEXT_ELEMENTS_MAX - 1 :])]
        return {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": truncate(line, SECTION_TEXT_MAX, self.ctx)} for line in lines
            ],
        }

    def pack(self, blocks: list[Body], fallback: str) -> list[Body]:
        """Blocks in messages of ≤ 50 (a divider never starts or ends one), each with a fallback text."""
        if len(blocks) > BLOCKS_MAX:
            self.ctx.note(
                f"{len(blocks)} blocks sent as {-(-len(blocks) // BLOCKS_MAX)} messages of ≤ {BLOCKS_MAX}"
            )
        bodies: list[Body] = []
        text = escape(truncate(fallback, SECTION_TEXT_MAX))
        for start in range(0, len(blocks), BLOCKS_MAX):
            chunk = blocks[start : start + BLOCKS_MAX]
            while chunk and chunk[0].get("type") == "divider":
                chunk = chunk[1:]
            while chunk and chunk[-1].get("type") == "divider":
                chunk = chunk[:-1]
            if chunk:
                bodies.append({"text": text, "blocks": chunk})
        return bodies
