"""Universal messages → Instagram Send API ``message`` objects: Messenger's renderer (the Send API bodies are
the same) with Instagram's limits, and the envelope Messenger's Send API calls share (``recipient``,
``messaging_type``, the read mark and typing indicator before a reply).

==============  ============================================================================================
text            split over 1000 characters at paragraph, sentence or word boundaries
quick replies   up to 13 text quick replies, titles cut to 20 characters; url/call actions become text
card            generic template (title and subtitle ≤ 80, ≤ 3 web_url/postback buttons); a title alone is
                text; call buttons (Instagram has none) follow as text
carousel        generic template of ≤ 10 elements; title-only cards are listed as text
list            quick replies when ≤ 13 short items without descriptions, else generic templates of 10
media           image, video and audio by URL; a file is sent as its link (Instagram sends no documents);
                a caption follows as text
location        text with the place and a map link
template        refused: Instagram has no pre-approved templates; use the HUMAN_AGENT tag within 7 days
channel         ``payloads["instagram"]`` is the Send API ``message`` object
==============  ============================================================================================

The 24-hour window: replies are ``RESPONSE``, proactive sends ``UPDATE``; outside it only a human agent may
answer, up to 7 days after the user's last message (``options.tag: HUMAN_AGENT``); anything else is refused
before it is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from channelgate.channels.base import Outbound, RenderContext
from channelgate.channels.messenger import envelope
from channelgate.channels.messenger.render import Body, MessengerRenderer, generic
from channelgate.channels.meta.render import DAY
from channelgate.channels.renderer import Renderer
from channelgate.messages import Action, CallAction, Card, Carousel, Media, Template, UniversalMessage

TEXT_MAX = 1000
#: the only message tag Instagram takes: a person answering, up to 7 days after the user's last message
MESSAGE_TAGS: dict[str, float | None] = {"HUMAN_AGENT": 7 * DAY}
MEDIA_KINDS = frozenset({"image", "video", "audio"})


class InstagramRenderer(MessengerRenderer):
    """Pure: everything it changes is noted in ``ctx``."""

    channel: ClassVar[str] = "instagram"
    product: ClassVar[str] = "Instagram"
    text_max: ClassVar[int] = TEXT_MAX

    def media(self, message: Media) -> list[Body]:
        if message.kind not in MEDIA_KINDS:
            return Renderer.media(self, message)  # the link, noted
        body: Body = {"attachment": {"type": message.kind, "payload": {"url": message.url}}}
        if message.caption:
            self.ctx.note("Instagram attachments have no caption: it follows as a text message")
            return [body, *self.texts(message.caption)]
        return [body]

    def card(self, message: Card) -> list[Body]:
        """A generic template (Instagram has no button template); a card with only a title is text."""
        buttons = self.buttons(message.buttons)
        image = message.media.url if message.media else None
        if not (message.description or image or buttons):
            return self.texts(message.title) + self.call_lines(message.buttons)
        element = self.element(message.title, message.description, image, buttons)
        return [generic([element]), *self.call_lines(message.buttons)]

    def carousel(self, message: Carousel) -> list[Body]:
        calls = [a for card in message.cards for a in card.buttons or []]
        return super().carousel(message) + self.call_lines(calls)

    def template(self, message: Template) -> list[Body]:
        return Renderer.template(self, message)

    def buttons(self, actions: list[Action] | None) -> list[Body]:
        """Instagram's generic template takes web_url and postback buttons only: call buttons are left out
        here and sent as text by :meth:`call_lines`."""
        kept: list[Action] = [a for a in actions or [] if not isinstance(a, CallAction)]
        return super().buttons(kept)

    def call_lines(self, actions: Sequence[Action] | None) -> list[Body]:
        calls = [a for a in actions or [] if isinstance(a, CallAction)]
        if not calls:
            return []
        self.note_degraded("call buttons", "text")
        return self.texts("\n".join(f"{a.title}: {a.phone}" for a in calls))


def render(messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
    """The Send API calls for a reply: Messenger's envelope with Instagram's renderer and tag."""
    return envelope.render(messages, ctx, renderer_class=InstagramRenderer, tags=MESSAGE_TAGS)
