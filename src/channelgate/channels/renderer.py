"""The renderer base every channel builds on: one method per universal message type.

A platform shows some message types natively and not others. Rather than each channel writing its own
``isinstance`` ladder (and each deciding differently what an unknown type means), a channel subclasses
:class:`Renderer` and overrides only the types its platform shows natively. Every other type degrades to
text through the defaults here, and every degradation is noted in the :class:`RenderContext`, never silent.

The shape follows Rasa's ``OutputChannel`` (one send method per content type, each defaulting to text) and
Botpress messaging's one small renderer per content type. :meth:`Renderer.render` dispatches with a
``match`` whose last case is ``assert_never``: adding a type to ``UniversalMessage`` without a method here
is a type error, not a message silently dropped at run time.

A channel implements two primitives, :meth:`Renderer.texts` (plain text split to the platform's limits) and
:meth:`Renderer.passthrough` (a channel-specific payload as the platform takes it); everything else has a
default built on them.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar, assert_never

from channelgate.channels.base import RenderContext, SendRefused
from channelgate.channels.rendering import action_as_text, numbered_choices, reply_actions
from channelgate.messages import (
    Action,
    Card,
    Carousel,
    ChannelSpecific,
    ListMessage,
    Location,
    Media,
    Template,
    Text,
    UniversalMessage,
)

BodyT = TypeVar("BodyT")


def maps_link(latitude: float, longitude: float) -> str:
    """A map link any phone opens (Google's documented cross-platform Maps URL)."""
    return f"https://www.google.com/maps/search/?api=1&query={latitude},{longitude}"


class Renderer(abc.ABC, Generic[BodyT]):
    """Universal messages → a platform's payloads (``BodyT``: usually the JSON of one send call).

    Pure: the same messages and context always give the same bodies. Create one per ``render`` call.
    """

    #: the channel name whose entry of a :class:`ChannelSpecific` message's ``payloads`` is passed through
    channel: ClassVar[str]
    #: the platform's name in notes ("Messenger cannot show ...")
    product: ClassVar[str]

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx

    # --- what a channel must implement ---

    @abc.abstractmethod
    def texts(self, text: str) -> list[BodyT]:
        """Plain text, split into as many bodies as the platform's text limit requires."""

    @abc.abstractmethod
    def passthrough(self, payload: dict[str, Any]) -> BodyT:
        """A channel-specific payload, as the bot wrote it for this platform."""

    # --- dispatch ---

    def render_all(self, messages: Iterable[UniversalMessage]) -> list[BodyT]:
        """Every message's bodies, in order."""
        bodies: list[BodyT] = []
        for message in messages:
            bodies += self.render(message)
        return bodies

    def render(self, message: UniversalMessage) -> list[BodyT]:
        """One message's bodies, with its quick replies attached (except to a pass-through payload)."""
        match message:
            case Text():
                bodies = self.text(message)
            case Media():
                bodies = self.media(message)
            case Card():
                bodies = self.card(message)
            case Carousel():
                bodies = self.carousel(message)
            case ListMessage():
                bodies = self.list_message(message)
            case Location():
                bodies = self.location(message)
            case Template():
                bodies = self.template(message)
            case ChannelSpecific():
                return self.channel_specific(message)
            case _:
                assert_never(message)
        if message.quick_replies:
            bodies = self.quick_replies(bodies, message.quick_replies)
        return bodies

    # --- one method per type; each default degrades to text and says so ---

    def text(self, message: Text) -> list[BodyT]:
        parts = self.texts(message.text)
        if len(parts) > 1:
            self.ctx.note(f"text of {len(message.text)} characters sent as {len(parts)} messages")
        return parts

    def media(self, message: Media) -> list[BodyT]:
        self.note_degraded(f"{message.kind} attachments", "a link")
        label = message.caption or message.filename
        return self.texts(f"{label}\n{message.url}" if label else message.url)

    def card(self, message: Card) -> list[BodyT]:
        self.note_degraded("cards", "text")
        return self.texts(self.card_text(message))

    def carousel(self, message: Carousel) -> list[BodyT]:
        self.note_degraded("carousels", "text")
        return self.texts("\n\n".join(self.card_text(card) for card in message.cards))

    def list_message(self, message: ListMessage) -> list[BodyT]:
        self.note_degraded("lists", "a numbered text menu")
        titles = [
            f"{item.title} ({item.description})" if item.description else item.title for item in message.items
        ]
        head = "\n".join(part for part in (message.header, message.text) if part)
        text = numbered_choices(head, titles, self.ctx)
        return self.texts(f"{text}\n{message.footer}" if message.footer else text)

    def location(self, message: Location) -> list[BodyT]:
        lines = [line for line in (message.name, message.address) if line]
        lines.append(maps_link(message.latitude, message.longitude))
        return self.texts("\n".join(lines))

    def template(self, message: Template) -> list[BodyT]:
        """Templates are pre-approved by a platform; a text standing in for one could break its rules
        (a closed window), so the default refuses visibly instead of degrading."""
        raise SendRefused(
            f"{self.product} has no pre-approved message templates (template {message.name!r}); send a text "
            "or a channel-specific message instead"
        )

    def channel_specific(self, message: ChannelSpecific) -> list[BodyT]:
        payload = message.payloads.get(self.channel)
        if payload is not None:
            return [self.passthrough(dict(payload))]
        if message.fallback is not None:
            return self.render(message.fallback)
        self.ctx.note(f"channel-specific message without a {self.channel} payload or fallback: skipped")
        return []

    def quick_replies(self, bodies: list[BodyT], actions: Sequence[Action]) -> list[BodyT]:
        """Attach a message's quick replies to its bodies. Default: a numbered text menu after them (the
        bot gets the number or the title back as text)."""
        self.note_degraded("quick replies", "a numbered text menu")
        replies = reply_actions(actions)
        others = [a for a in actions if a not in replies]
        text = numbered_choices("", [a.title for a in replies], self.ctx) if replies else ""
        lines = [action_as_text(a, self.ctx.gettext) for a in others]
        return [*bodies, *self.texts("\n".join(part for part in (text, *lines) if part))]

    # --- helpers for subclasses ---

    def note_degraded(self, what: str, into: str) -> None:
        self.ctx.note(f"{self.product} cannot show {what}: sent as {into}")

    def card_text(self, card: Card) -> str:
        """A card as text: title, description, image link and its buttons as lines."""
        lines = [card.title]
        if card.description:
            lines.append(card.description)
        if card.media is not None:
            lines.append(card.media.url)
        lines += [action_as_text(a, self.ctx.gettext) for a in card.buttons or []]
        return "\n".join(lines)
