"""The agent-message limits: what rendering truncates or degrades, always with a note, and the result is
something Google accepts (checked with the simulator's validators)."""

from __future__ import annotations

from typing import Any

import pytest

from channelgate.channels.base import Outbound
from channelgate.messages import (
    Card,
    CardMedia,
    Carousel,
    ListItem,
    ListMessage,
    ReplyAction,
    Text,
    UniversalMessage,
)
from channelgate.testing.google import check_gbm_message, check_rbm_message

from .kit import MSISDN, gbm_channel, rbm_channel, render_context


def render(channel: str, messages: list[UniversalMessage]) -> tuple[list[dict[str, Any]], list[str]]:
    """The content of each message sent, validated as Google would, and the render notes."""
    if channel == "gbm":
        ctx = render_context()
        outbounds = gbm_channel().render(messages, ctx)
        bodies = [o.body["message"] for o in outbounds if o.kind == "message"]
        for body in bodies:
            check_gbm_message(body)
        return bodies, ctx.notes
    ctx = render_context(MSISDN)
    outbounds: list[Outbound] = rbm_channel().render(messages, ctx)
    bodies = [o.body["agentMessage"]["contentMessage"] for o in outbounds if o.kind == "message"]
    for body in bodies:
        check_rbm_message({"contentMessage": body})
    return bodies, ctx.notes


def replies(n: int, prefix: str = "Option") -> list[ReplyAction]:
    return [ReplyAction(title=f"{prefix} {i}", payload=f"p{i}") for i in range(n)]


CHANNELS = pytest.mark.parametrize("channel", ["gbm", "rbm"])


@CHANNELS
def test_long_text_is_split_at_3072_characters(channel: str) -> None:
    text = ("Lorem ipsum dolor sit amet. " * 300).strip()
    bodies, notes = render(channel, [Text(text=text, quick_replies=replies(1))])
    assert len(bodies) == 3
    assert all(len(b["text"]) <= 3072 for b in bodies)
    assert "suggestions" in bodies[-1] and all("suggestions" not in b for b in bodies[:-1])
    assert notes == [f"text of {len(text)} characters split into 3 messages of at most 3072"]


@pytest.mark.parametrize(("channel", "limit"), [("gbm", 13), ("rbm", 11)])
def test_suggestions_beyond_the_limit_are_dropped_with_a_note(channel: str, limit: int) -> None:
    bodies, notes = render(channel, [Text(text="pick", quick_replies=replies(15))])
    assert len(bodies[0]["suggestions"]) == limit
    assert notes == [f"quick replies: 15 suggestions, only {limit} fit; the rest were dropped"]


@CHANNELS
def test_suggestion_text_is_truncated_to_25_characters(channel: str) -> None:
    long = ReplyAction(title="A very long suggestion title indeed", payload="p")
    bodies, notes = render(channel, [Text(text="pick", quick_replies=[long])])
    text = bodies[0]["suggestions"][0]["reply"]["text"]
    assert len(text) == 25 and text.endswith("…")
    assert any("truncated to 25" in n for n in notes)


@CHANNELS
def test_postback_data_is_truncated_to_2048_characters(channel: str) -> None:
    bodies, notes = render(
        channel, [Text(text="pick", quick_replies=[ReplyAction(title="Go", payload="x" * 3000)])]
    )
    assert len(bodies[0]["suggestions"][0]["reply"]["postbackData"]) == 2048
    assert notes == ["postback data of 3000 characters truncated to 2048"]


@CHANNELS
def test_card_title_and_description_are_truncated(channel: str) -> None:
    card = Card(title="T" * 250, description="D" * 2500)
    bodies, notes = render(channel, [card])
    content = bodies[0]["richCard"]["standaloneCard"]["cardContent"]
    assert (len(content["title"]), len(content["description"])) == (200, 2000)
    assert len(notes) == 2


@CHANNELS
def test_card_buttons_beyond_four_become_chips_under_the_card(channel: str) -> None:
    card = Card(title="Menu", buttons=replies(6, "Dish"), quick_replies=replies(1, "Help"))
    bodies, notes = render(channel, [card])
    content = bodies[0]["richCard"]["standaloneCard"]["cardContent"]
    assert [s["reply"]["text"] for s in content["suggestions"]] == ["Dish 0", "Dish 1", "Dish 2", "Dish 3"]
    assert [s["reply"]["text"] for s in bodies[0]["suggestions"]] == ["Dish 4", "Dish 5", "Help 0"]
    assert notes == ["card 'Menu': 2 buttons beyond 4 moved to suggestion chips under the card"]


@CHANNELS
def test_carousel_card_buttons_beyond_four_are_dropped_with_a_note(channel: str) -> None:
    carousel = Carousel(cards=[Card(title="A", buttons=replies(5)), Card(title="B")])
    bodies, notes = render(channel, [carousel])
    assert len(bodies[0]["richCard"]["carouselCard"]["cardContents"][0]["suggestions"]) == 4
    assert notes == ["carousel card 'A': 1 buttons beyond 4 dropped"]


@CHANNELS
def test_carousel_of_one_card_is_a_standalone_card(channel: str) -> None:
    bodies, notes = render(channel, [Carousel(cards=[Card(title="Only")], quick_replies=replies(1))])
    assert "standaloneCard" in bodies[0]["richCard"]
    assert bodies[0]["suggestions"][0]["reply"]["text"] == "Option 0"
    assert notes == ["a carousel needs 2 to 10 cards: its one card was sent as a standalone card"]


@pytest.mark.parametrize(("cards", "sizes"), [(10, [10]), (11, [9, 2]), (21, [10, 9, 2]), (25, [10, 10, 5])])
@CHANNELS
def test_big_carousels_are_split_without_a_lone_card(channel: str, cards: int, sizes: list[int]) -> None:
    carousel = Carousel(cards=[Card(title=f"Card {i}") for i in range(cards)], quick_replies=replies(1))
    bodies, notes = render(channel, [carousel])
    assert [len(b["richCard"]["carouselCard"]["cardContents"]) for b in bodies] == sizes
    titles = [c["title"] for b in bodies for c in b["richCard"]["carouselCard"]["cardContents"]]
    assert titles == [f"Card {i}" for i in range(cards)]
    assert "suggestions" in bodies[-1]
    assert bool(notes) == (len(sizes) > 1)


@CHANNELS
def test_tall_media_stays_valid_in_carousels(channel: str) -> None:
    carousel = Carousel(
        cards=[
            Card(title="A", media=CardMedia(url="https://x.example/a.png", height="tall")),
            Card(title="B", media=CardMedia(url="https://x.example/b.png", height="short")),
        ]
    )
    bodies, _ = render(channel, [carousel])
    card = bodies[0]["richCard"]["carouselCard"]
    assert card["cardWidth"] == "MEDIUM"
    assert [c["media"]["height"] for c in card["cardContents"]] == ["TALL", "SHORT"]


@pytest.mark.parametrize(("channel", "limit"), [("gbm", 13), ("rbm", 11)])
def test_long_list_keeps_every_item_readable(channel: str, limit: int) -> None:
    items = [ListItem(title=f"Item {i}", payload=f"i{i}") for i in range(20)]
    bodies, notes = render(channel, [ListMessage(text="Choose", items=items)])
    assert len(bodies[0]["suggestions"]) == limit
    assert "20. Item 19" in bodies[0]["text"]
    assert notes == [f"list of 20 items: {limit} fit as suggestion chips, all are listed in the text"]


def test_gbm_fallback_is_bounded() -> None:
    cards = [Card(title="T" * 200, description="D" * 2000) for _ in range(3)]
    bodies, _ = render("gbm", [Carousel(cards=cards)])
    assert len(bodies[0]["fallback"]) == 3072
