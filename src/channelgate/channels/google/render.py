"""Universal messages → Google's agent-message content, shared by GBM and RBM.

Both products describe a message the same way: ``text``, a ``richCard`` (a ``standaloneCard`` or a
``carouselCard`` of 2 to 10 cards), media, and ``suggestions`` (suggested replies and actions: open a URL,
dial a number). :class:`AgentRenderer` is the toolkit's :class:`Renderer` for that model: it overrides the
types Google shows natively (text, media, card, carousel, list as chips, location as a map suggestion, quick
replies as suggestion chips), applies the platform limits (truncate or degrade, every change noted in the
render context) and leaves the rest to the base. The channels' subclasses override only where the two
products differ (which media a message may carry and how it is wrapped, a card's orientation, how a map and
a phone number are offered).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, assert_never

from channelgate.channels.renderer import Renderer, maps_link
from channelgate.channels.rendering import split_text, truncate
from channelgate.messages import (
    Action,
    CallAction,
    Card,
    CardMedia,
    Carousel,
    ListMessage,
    Location,
    Media,
    ReplyAction,
    Template,
    Text,
    UrlAction,
)

# --- the agent-message limits (GBM REST reference and RBM protos; see docs/channels/gbm.md) -----------------

TEXT_MAX = 3072
SUGGESTION_TEXT_MAX = 25
POSTBACK_MAX = 2048
CARD_TITLE_MAX = 200
CARD_DESCRIPTION_MAX = 2000
CARD_SUGGESTIONS_MAX = 4
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10

_HEIGHTS = {"short": "SHORT", "medium": "MEDIUM", "tall": "TALL"}


@dataclass(slots=True)
class Rendered:
    """One agent message's content (``text``/``richCard``/media plus ``suggestions``), and its summary for
    the transcript."""

    content: dict[str, Any]
    summary: str


class AgentRenderer(Renderer[Rendered]):
    """The shared agent-message renderer; a channel sets ``channel``, ``product`` and the limits below."""

    #: suggestion chips one message may carry
    suggestions_max: ClassVar[int]
    #: whether card media may carry ``altText``
    alt_text: ClassVar[bool] = False

    # --- what a product must say ---

    @abc.abstractmethod
    def media_content(self, info: dict[str, Any]) -> dict[str, Any]:
        """A message carrying the file ``info`` (``fileUrl``...): the products wrap it differently."""

    # --- the toolkit's primitives ---

    def texts(self, text: str) -> list[Rendered]:
        parts = split_text(text, TEXT_MAX)
        if len(parts) > 1:
            self.ctx.note(
                f"text of {len(text)} characters split into {len(parts)} messages of at most {TEXT_MAX}"
            )
        return [Rendered({"text": part}, short(part)) for part in parts]

    def passthrough(self, payload: dict[str, Any]) -> Rendered:
        return Rendered(dict(payload), f"{self.channel} payload")

    # --- the types Google shows natively ---

    def text(self, message: Text) -> list[Rendered]:
        return self.texts(message.text)  # the split is noted in texts(), with the limit

    def media(self, message: Media) -> list[Rendered]:
        body = Rendered(
            self.media_content({"fileUrl": message.url, "forceRefresh": False}),
            f"{message.kind}: {message.url}",
        )
        if not message.caption:
            return [body]
        self.ctx.note(f"{message.kind} caption sent as a separate text message")
        return [body, *self.texts(message.caption)]

    def card(self, message: Card) -> list[Rendered]:
        """A standalone card; buttons beyond the card's four become chips under it (the card's quick
        replies follow them)."""
        overflow: list[Action] = []
        content = self.card_content(message, overflow, where=f"card {message.title!r}")
        body: dict[str, Any] = {"richCard": {"standaloneCard": self.standalone(content)}}
        if overflow:
            self.ctx.note(
                f"card {message.title!r}: {len(overflow)} buttons beyond {CARD_SUGGESTIONS_MAX} moved to "
                "suggestion chips under the card"
            )
            body["suggestions"] = self.suggestions(overflow, self.suggestions_max, "card chips")
        return [Rendered(body, f"card: {message.title}")]

    def carousel(self, message: Carousel) -> list[Rendered]:
        cards = list(message.cards)
        if len(cards) < CAROUSEL_MIN:
            self.ctx.note("a carousel needs 2 to 10 cards: its one card was sent as a standalone card")
            return self.render(cards[0])  # with the card's own quick replies; the carousel's follow them
        ignored = sum(len(card.quick_replies or []) for card in cards)
        if ignored:
            self.ctx.note(f"{ignored} quick replies set on carousel cards ignored: set them on the carousel")
        chunks = carousel_chunks(cards)
        if len(chunks) > 1:
            self.ctx.note(
                f"carousel of {len(cards)} cards split into {len(chunks)} carousels of at most {CAROUSEL_MAX}"
            )
        bodies = []
        for chunk in chunks:
            contents = [self.card_content(c, None, where=f"carousel card {c.title!r}") for c in chunk]
            carousel = {"cardWidth": "MEDIUM", "cardContents": contents}
            bodies.append(Rendered({"richCard": {"carouselCard": carousel}}, f"carousel: {len(chunk)} cards"))
        return bodies

    def list_message(self, message: ListMessage) -> list[Rendered]:
        """No list picker on Google: the items become suggestion chips (title, payload), leaving room for
        the message's quick replies; descriptions and items beyond the chips stay readable as numbered
        lines in the text."""
        items: list[Action] = [ReplyAction(title=item.title, payload=item.payload) for item in message.items]
        room = max(self.suggestions_max - len(message.quick_replies or []), 0)
        lines = [line for line in (message.header, message.text) if line]
        if len(items) > room or any(item.description for item in message.items):
            for i, item in enumerate(message.items, 1):
                lines.append(f"{i}. {item.title}" + (f": {item.description}" if item.description else ""))
        if len(items) > room:
            self.ctx.note(
                f"list of {len(items)} items: {room} fit as suggestion chips, all are listed in the text"
            )
        if message.footer:
            lines.append(message.footer)
        content: dict[str, Any] = {"text": truncate("\n".join(lines), TEXT_MAX, self.ctx, "list text")}
        chips = self.suggestions(items[:room], room, "list chips")
        if chips:
            content["suggestions"] = chips
        return [Rendered(content, short(message.text))]

    def location(self, message: Location) -> list[Rendered]:
        coordinates = f"{message.latitude:.6f}, {message.longitude:.6f}"
        lines = [line for line in (message.name, message.address) if line] or [coordinates]
        content: dict[str, Any] = {
            "text": truncate("\n".join(lines), TEXT_MAX, self.ctx, "location text"),
            "suggestions": [self.map_suggestion(message)],
        }
        self.ctx.note(f"location sent as text with a map suggestion ({self.product} has no location message)")
        return [Rendered(content, f"location: {message.name or coordinates}")]

    def template(self, message: Template) -> list[Rendered]:
        """Skipped with a note, not refused: the rest of the reply still goes (the behaviour before the
        toolkit, which the channels' tests keep)."""
        self.ctx.note(f"template {message.name!r} skipped: {self.product} has no message templates")
        return []

    def quick_replies(self, bodies: list[Rendered], actions: Sequence[Action]) -> list[Rendered]:
        """Suggestion chips on the last message, after any chips it already has (a card's overflow
        buttons, a list's items, a location's map), within the product's limit."""
        if not bodies:
            self.ctx.note(f"{len(actions)} quick replies dropped: the message they belong to was skipped")
            return bodies
        last = bodies[-1].content
        existing = list(last.get("suggestions") or [])
        chips = self.suggestions(actions, self.suggestions_max - len(existing), "quick replies")
        if chips:
            last["suggestions"] = [*existing, *chips]
        return bodies

    # --- parts the products share, and the hooks where they differ ---

    def standalone(self, content: dict[str, Any]) -> dict[str, Any]:
        """A ``standaloneCard`` around one card's content."""
        return {"cardContent": content}

    def card_content(self, card: Card, overflow: list[Action] | None, *, where: str) -> dict[str, Any]:
        """One card's ``cardContent``. Buttons beyond four go to ``overflow``, or are dropped with a note
        when there is nowhere to put them (a carousel card)."""
        content: dict[str, Any] = {"title": truncate(card.title, CARD_TITLE_MAX, self.ctx, f"{where} title")}
        if card.description:
            content["description"] = truncate(
                card.description, CARD_DESCRIPTION_MAX, self.ctx, f"{where} description"
            )
        if card.media is not None:
            content["media"] = self.card_media(card.media)
        buttons = list(card.buttons or [])
        if len(buttons) > CARD_SUGGESTIONS_MAX:
            extra = buttons[CARD_SUGGESTIONS_MAX:]
            if overflow is not None:
                overflow.extend(extra)
            else:
                self.ctx.note(f"{where}: {len(extra)} buttons beyond {CARD_SUGGESTIONS_MAX} dropped")
        if buttons:
            content["suggestions"] = self.suggestions(
                buttons[:CARD_SUGGESTIONS_MAX], CARD_SUGGESTIONS_MAX, where
            )
        return content

    def card_media(self, media: CardMedia) -> dict[str, Any]:
        info: dict[str, Any] = {"fileUrl": media.url, "forceRefresh": False}
        if media.alt_text and self.alt_text:
            info["altText"] = media.alt_text
        return {"height": _HEIGHTS.get(media.height or "medium", "MEDIUM"), "contentInfo": info}

    def suggestions(self, actions: Sequence[Action], limit: int, where: str) -> list[dict[str, Any]]:
        actions = list(actions)
        if len(actions) > limit:
            self.ctx.note(f"{where}: {len(actions)} suggestions, only {limit} fit; the rest were dropped")
            actions = actions[: max(limit, 0)]
        return [self.suggestion(action) for action in actions]

    def suggestion(self, action: Action) -> dict[str, Any]:
        text = truncate(action.title, SUGGESTION_TEXT_MAX, self.ctx, f"suggestion {action.title!r} text")
        match action:
            case ReplyAction():
                return {"reply": {"text": text, "postbackData": self.postback(action.payload)}}
            case UrlAction():
                postback = self.postback(f"url:{action.url}")
                return {
                    "action": {"text": text, "postbackData": postback, "openUrlAction": {"url": action.url}}
                }
            case CallAction():
                phone = self.dial_number(action.phone)
                postback = self.postback(f"call:{phone}")
                return {
                    "action": {"text": text, "postbackData": postback, "dialAction": {"phoneNumber": phone}}
                }
            case _:
                assert_never(action)

    def dial_number(self, phone: str) -> str:
        """A dialable number: the ``tel:`` prefix removed (Google takes numbers, not URIs)."""
        phone = phone.strip()
        return phone[4:] if phone.lower().startswith("tel:") else phone

    def map_suggestion(self, message: Location) -> dict[str, Any]:
        """The suggestion that shows a location: a maps link (a product with a native map action
        overrides it)."""
        url = maps_link(message.latitude, message.longitude)
        return {"action": {**self.map_action(message), "openUrlAction": {"url": url}}}

    def map_action(self, message: Location) -> dict[str, Any]:
        """The text and postback of a map suggestion."""
        title = truncate(
            self.ctx.gettext("View on map"), SUGGESTION_TEXT_MAX, self.ctx, "map suggestion text"
        )
        return {
            "text": title,
            "postbackData": self.postback(f"location:{message.latitude},{message.longitude}"),
        }

    def postback(self, payload: str) -> str:
        if len(payload) <= POSTBACK_MAX:
            return payload
        self.ctx.note(f"postback data of {len(payload)} characters truncated to {POSTBACK_MAX}")
        return payload[:POSTBACK_MAX]


def carousel_chunks(cards: list[Card]) -> list[list[Card]]:
    """Cards in carousels of at most 10, never leaving a last carousel of one card (Google needs 2)."""
    chunks = [cards[i : i + CAROUSEL_MAX] for i in range(0, len(cards), CAROUSEL_MAX)]
    if len(chunks) > 1 and len(chunks[-1]) < CAROUSEL_MIN:
        chunks[-1].insert(0, chunks[-2].pop())
    return chunks


def e164_dial_number(phone: str) -> str:
    """An E.164 number from a ``tel:`` URI or RFC 3966 form: the visual separators (``-``, ``.``, spaces,
    parentheses) removed."""
    return re.sub(r"[\s().-]", "", phone)


def short(text: str, limit: int = 100) -> str:
    """The first line of ``text``, bounded: a transcript summary."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
