"""The Meta renderers are toolkit :class:`Renderer` subclasses: dispatch is the base's exhaustive match,
each overrides only what its platform shows natively, and WhatsApp's quick replies are placed once."""

from __future__ import annotations

from metakit import WA_ID, render_ctx

from channelgate.channels.messenger.render import MessengerRenderer
from channelgate.channels.renderer import Renderer
from channelgate.channels.whatsapp.render import WhatsAppRenderer
from channelgate.messages import parse_message


def test_both_renderers_use_the_base_dispatch() -> None:
    for cls in (MessengerRenderer, WhatsAppRenderer):
        assert issubclass(cls, Renderer)
        assert cls.render is Renderer.render
    assert MessengerRenderer.location is Renderer.location  # Messenger has no location message: the default
    assert MessengerRenderer.channel_specific is Renderer.channel_specific


def test_whatsapp_places_a_texts_quick_replies_in_its_buttons_once() -> None:
    renderer = WhatsAppRenderer(render_ctx(WA_ID))
    message = parse_message(
        {"type": "text", "text": "Pick", "quick_replies": [{"type": "reply", "title": "A", "payload": "a"}]}
    )
    [content] = renderer.render(message)
    assert content["interactive"]["action"]["buttons"][0]["reply"] == {"id": "a", "title": "A"}


def test_whatsapp_quick_replies_after_a_location_follow_in_a_message_of_their_own() -> None:
    ctx = render_ctx(WA_ID)
    location = {"type": "location", "latitude": 1.0, "longitude": 2.0}
    replies = [{"type": "reply", "title": "A", "payload": "a"}]
    place, choices = WhatsAppRenderer(ctx).render(parse_message({**location, "quick_replies": replies}))
    assert place["type"] == "location" and choices["type"] == "interactive"
    assert "quick replies sent in a message of their own" in ctx.notes


def test_a_carousels_quick_replies_follow_even_when_a_card_placed_its_own() -> None:
    replies = [{"type": "reply", "title": "A", "payload": "a"}]
    card = {"type": "card", "title": "T", "quick_replies": [{"type": "reply", "title": "B", "payload": "b"}]}
    message = parse_message({"type": "carousel", "cards": [card], "quick_replies": replies})
    *_, last = WhatsAppRenderer(render_ctx(WA_ID)).render(message)
    assert last["interactive"]["action"]["buttons"][0]["reply"] == {"id": "a", "title": "A"}
