"""Rendering of every universal message type, table-driven, for GBM and RBM; and what each channel wraps
around the shared content (message ids, representative, fallback, typing and read events, windows)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from channelgate.channels.base import Outbound, SendRefused
from channelgate.messages import (
    CallAction,
    Card,
    CardMedia,
    Carousel,
    ChannelSpecific,
    ListItem,
    ListMessage,
    Location,
    Media,
    ReplyAction,
    Template,
    Text,
    UniversalMessage,
    UrlAction,
)
from channelgate.testing.google import check_gbm_message, check_rbm_message

from .kit import MSISDN, gbm_channel, rbm_channel, render_context

IMG = "https://cdn.example.com/shoes.jpg"
VIDEO = "https://cdn.example.com/clip.mp4"
YES = ReplyAction(title="Yes", payload="yes")
SITE = UrlAction(title="Site", url="https://example.com")
CALL = CallAction(title="Call", phone="tel:+12223334444")

S_YES = {"reply": {"text": "Yes", "postbackData": "yes"}}
S_SITE = {
    "action": {
        "text": "Site",
        "postbackData": "url:https://example.com",
        "openUrlAction": {"url": "https://example.com"},
    }
}
S_CALL = {
    "action": {
        "text": "Call",
        "postbackData": "call:+12223334444",
        "dialAction": {"phoneNumber": "+12223334444"},
    }
}
INFO = {"fileUrl": IMG, "forceRefresh": False}
CARD_CONTENT = {
    "title": "Shoes",
    "description": "Red, size 42",
    "media": {"height": "TALL", "contentInfo": {**INFO, "altText": "red shoes"}},
    "suggestions": [S_YES, S_SITE],
}
CARD = Card(
    title="Shoes",
    description="Red, size 42",
    media=CardMedia(url=IMG, alt_text="red shoes", height="tall"),
    buttons=[YES, SITE],
    quick_replies=[CALL],
)
MAPS = "https://www.google.com/maps/search/?api=1&query=48.8584,2.2945"

# (id, message, GBM contents, RBM contents, a note rendering must make or None)
CASES: list[tuple[str, UniversalMessage, list[dict[str, Any]], list[dict[str, Any]], str | None]] = [
    ("text", Text(text="Hello"), [{"text": "Hello"}], [{"text": "Hello"}], None),
    (
        "text+quick replies",
        Text(text="Pick", quick_replies=[YES, SITE, CALL]),
        [{"text": "Pick", "suggestions": [S_YES, S_SITE, S_CALL]}],
        [{"text": "Pick", "suggestions": [S_YES, S_SITE, S_CALL]}],
        None,
    ),
    (
        "image",
        Media(kind="image", url=IMG, quick_replies=[YES]),
        [{"image": {"contentInfo": INFO}, "suggestions": [S_YES]}],
        [{"contentInfo": INFO, "suggestions": [S_YES]}],
        None,
    ),
    (
        "image+caption",
        Media(kind="image", url=IMG, caption="Look"),
        [{"image": {"contentInfo": INFO}}, {"text": "Look"}],
        [{"contentInfo": INFO}, {"text": "Look"}],
        "caption sent as a separate text",
    ),
    (
        "video",
        Media(kind="video", url=VIDEO),
        [{"text": VIDEO}],
        [{"contentInfo": {"fileUrl": VIDEO, "forceRefresh": False}}],
        None,  # only GBM degrades; checked below
    ),
    (
        "file",
        Media(kind="file", url="https://cdn.example.com/a.pdf", filename="Invoice"),
        [{"text": "Invoice\nhttps://cdn.example.com/a.pdf"}],
        [{"contentInfo": {"fileUrl": "https://cdn.example.com/a.pdf", "forceRefresh": False}}],
        None,
    ),
    (
        "card",
        CARD,
        [{"richCard": {"standaloneCard": {"cardContent": CARD_CONTENT}}, "suggestions": [S_CALL]}],
        [
            {
                "richCard": {
                    "standaloneCard": {
                        "cardOrientation": "VERTICAL",
                        "cardContent": {**CARD_CONTENT, "media": {"height": "TALL", "contentInfo": INFO}},
                    }
                },
                "suggestions": [S_CALL],
            }
        ],
        None,
    ),
    (
        "carousel",
        Carousel(cards=[Card(title="A"), Card(title="B", media=CardMedia(url=IMG))], quick_replies=[YES]),
        [
            {
                "richCard": {
                    "carouselCard": {
                        "cardWidth": "MEDIUM",
                        "cardContents": [
                            {"title": "A"},
                            {"title": "B", "media": {"height": "MEDIUM", "contentInfo": INFO}},
                        ],
                    }
                },
                "suggestions": [S_YES],
            }
        ],
        [
            {
                "richCard": {
                    "carouselCard": {
                        "cardWidth": "MEDIUM",
                        "cardContents": [
                            {"title": "A"},
                            {"title": "B", "media": {"height": "MEDIUM", "contentInfo": INFO}},
                        ],
                    }
                },
                "suggestions": [S_YES],
            }
        ],
        None,
    ),
    (
        "list",
        ListMessage(
            text="Pick a size",
            header="Sizes",
            footer="Free returns",
            items=[
                ListItem(title="S", payload="size_s"),
                ListItem(title="M", description="Medium", payload="size_m"),
            ],
        ),
        [
            {
                "text": "Sizes\nPick a size\n1. S\n2. M: Medium\nFree returns",
                "suggestions": [
                    {"reply": {"text": "S", "postbackData": "size_s"}},
                    {"reply": {"text": "M", "postbackData": "size_m"}},
                ],
            }
        ],
        [
            {
                "text": "Sizes\nPick a size\n1. S\n2. M: Medium\nFree returns",
                "suggestions": [
                    {"reply": {"text": "S", "postbackData": "size_s"}},
                    {"reply": {"text": "M", "postbackData": "size_m"}},
                ],
            }
        ],
        None,
    ),
    (
        "location",
        Location(latitude=48.8584, longitude=2.2945, name="Eiffel Tower", address="Paris"),
        [
            {
                "text": "Eiffel Tower\nParis",
                "suggestions": [
                    {
                        "action": {
                            "text": "View on map",
                            "postbackData": "location:48.8584,2.2945",
                            "openUrlAction": {"url": MAPS},
                        }
                    }
                ],
            }
        ],
        [
            {
                "text": "Eiffel Tower\nParis",
                "suggestions": [
                    {
                        "action": {
                            "text": "View on map",
                            "postbackData": "location:48.8584,2.2945",
                            "viewLocationAction": {
                                "latLong": {"latitude": 48.8584, "longitude": 2.2945},
                                "label": "Eiffel Tower",
                            },
                        }
                    }
                ],
            }
        ],
        "location sent as text",
    ),
    ("template", Template(name="order_update", parameters=["42"]), [], [], "template 'order_update' skipped"),
    (
        "channel-specific",
        ChannelSpecific(payloads={"gbm": {"text": "raw gbm"}, "rbm": {"text": "raw rbm"}}),
        [{"text": "raw gbm"}],
        [{"text": "raw rbm"}],
        None,
    ),
]
IDS = [case[0] for case in CASES]


def messages(outbounds: list[Outbound]) -> list[Outbound]:
    return [o for o in outbounds if o.kind == "message"]


def gbm_contents(outbounds: list[Outbound]) -> list[dict[str, Any]]:
    skip = {"messageId", "representative", "fallback"}
    return [{k: v for k, v in o.body["message"].items() if k not in skip} for o in messages(outbounds)]


def rbm_contents(outbounds: list[Outbound]) -> list[dict[str, Any]]:
    return [o.body["agentMessage"]["contentMessage"] for o in messages(outbounds)]


@pytest.mark.parametrize(("name", "message", "gbm_expected", "rbm_expected", "note"), CASES, ids=IDS)
def test_gbm_renders_every_universal_type(
    name: str, message: UniversalMessage, gbm_expected: list[Any], rbm_expected: list[Any], note: str | None
) -> None:
    ctx = render_context()
    outbounds = gbm_channel().render([message], ctx)
    assert gbm_contents(outbounds) == gbm_expected
    if note:
        assert any(note in n for n in ctx.notes), ctx.notes
    for outbound in messages(outbounds):
        check_gbm_message(outbound.body["message"])  # what Google would accept
        assert outbound.body["conversationId"] == "c1"


@pytest.mark.parametrize(("name", "message", "gbm_expected", "rbm_expected", "note"), CASES, ids=IDS)
def test_rbm_renders_every_universal_type(
    name: str, message: UniversalMessage, gbm_expected: list[Any], rbm_expected: list[Any], note: str | None
) -> None:
    ctx = render_context(MSISDN)
    outbounds = rbm_channel().render([message], ctx)
    assert rbm_contents(outbounds) == rbm_expected
    if note:
        assert any(note in n for n in ctx.notes), ctx.notes
    for outbound in messages(outbounds):
        check_rbm_message(outbound.body["agentMessage"])
        assert outbound.body["msisdn"] == MSISDN
        uuid.UUID(outbound.body["messageId"])


def test_gbm_notes_media_it_cannot_send() -> None:
    ctx = render_context()
    gbm_channel().render([Media(kind="video", url=VIDEO)], ctx)
    assert ctx.notes == ["video cannot be sent on gbm (images only): sent as a link"]


# --- GBM's wrapper ------------------------------------------------------------------------------------------


def test_gbm_message_has_a_fresh_uuid_and_a_bot_representative() -> None:
    channel = gbm_channel(
        representative_name="Shop Bot", representative_avatar="https://cdn.example.com/a.png"
    )
    first, second = messages(channel.render([Text(text="a"), Text(text="b")], render_context()))
    for outbound in (first, second):
        uuid.UUID(outbound.body["message"]["messageId"])
        assert outbound.body["message"]["representative"] == {
            "representativeType": "BOT",
            "displayName": "Shop Bot",
            "avatarImage": "https://cdn.example.com/a.png",
        }
    assert first.body["message"]["messageId"] != second.body["message"]["messageId"]


def test_gbm_representative_is_bare_bot_without_a_name() -> None:
    [outbound] = messages(gbm_channel().render([Text(text="a")], render_context()))
    assert outbound.body["message"]["representative"] == {"representativeType": "BOT"}


def test_gbm_plain_text_needs_no_fallback_but_every_rich_message_has_one() -> None:
    outbounds = messages(
        gbm_channel().render(
            [Text(text="plain"), CARD, Media(kind="image", url=IMG), Text(text="chips", quick_replies=[YES])],
            render_context(),
        )
    )
    fallbacks = [o.body["message"].get("fallback") for o in outbounds]
    assert fallbacks[0] is None
    assert all(fallbacks[1:])


def test_gbm_card_fallback_reads_as_text() -> None:
    [outbound] = messages(gbm_channel().render([CARD], render_context()))
    assert outbound.body["message"]["fallback"] == (
        "Shoes\nRed, size 42\n" + IMG + "\n- Yes\n- Site: https://example.com\n\n- Call: call +12223334444"
    )


def test_gbm_carousel_fallback_lists_every_card() -> None:
    carousel = Carousel(cards=[Card(title="A", description="first"), Card(title="B", buttons=[YES])])
    [outbound] = messages(gbm_channel().render([carousel], render_context()))
    assert outbound.body["message"]["fallback"] == "A\nfirst\n\nB\n- Yes"


def test_gbm_channel_specific_rich_payload_gets_a_fallback_built_from_it() -> None:
    raw = {"richCard": {"standaloneCard": {"cardContent": {"title": "Raw", "description": "card"}}}}
    [outbound] = messages(gbm_channel().render([ChannelSpecific(payloads={"gbm": raw})], render_context()))
    assert outbound.body["message"]["fallback"] == "Raw\ncard"
    check_gbm_message(outbound.body["message"])


def test_gbm_reply_is_wrapped_in_best_effort_typing_events() -> None:
    outbounds = gbm_channel(representative_name="Bot").render(
        [Text(text="a"), Text(text="b")], render_context()
    )
    assert [o.kind for o in outbounds] == ["action", "message", "message", "action"]
    start, stop = outbounds[0], outbounds[-1]
    assert start.best_effort and stop.best_effort
    assert start.body["event"] == {
        "eventType": "TYPING_STARTED",
        "representative": {"representativeType": "BOT", "displayName": "Bot"},
    }
    assert stop.body["event"]["eventType"] == "TYPING_STOPPED"
    uuid.UUID(start.body["eventId"])
    assert start.body["conversationId"] == "c1"


def test_gbm_proactive_send_within_30_days_has_no_typing_events() -> None:
    outbounds = gbm_channel().render([Text(text="news")], render_context(reply_to=None, last_inbound_days=29))
    assert [o.kind for o in outbounds] == ["message"]


@pytest.mark.parametrize("days", [30.5, None])
def test_gbm_proactive_send_outside_30_days_is_refused(days: float | None) -> None:
    with pytest.raises(SendRefused, match=r"30 days|written first"):
        gbm_channel().render([Text(text="news")], render_context(reply_to=None, last_inbound_days=days))


def test_gbm_reply_is_not_held_to_the_window() -> None:
    outbounds = gbm_channel().render([Text(text="late")], render_context(last_inbound_days=45))
    assert len(messages(outbounds)) == 1


def test_nothing_to_send_means_no_typing_events() -> None:
    assert gbm_channel().render([Template(name="t")], render_context()) == []
    assert rbm_channel().render([Template(name="t")], render_context(MSISDN)) == []


# --- RBM's wrapper ------------------------------------------------------------------------------------------


def test_rbm_reply_marks_the_message_read_and_shows_typing_first() -> None:
    outbounds = rbm_channel().render([Text(text="hi")], render_context(MSISDN, reply_to="user-msg-1"))
    assert [o.kind for o in outbounds] == ["action", "action", "message"]
    assert outbounds[0].body["agentEvent"] == {"eventType": "READ", "messageId": "user-msg-1"}
    assert outbounds[1].body["agentEvent"] == {"eventType": "IS_TYPING"}
    assert all(o.best_effort for o in outbounds[:2])


def test_rbm_sends_no_fallback_field() -> None:
    [outbound] = messages(rbm_channel().render([CARD], render_context(MSISDN)))
    assert "fallback" not in outbound.body["agentMessage"]
    assert "fallback" not in outbound.body["agentMessage"]["contentMessage"]


def test_rbm_proactive_send_has_no_window() -> None:
    outbounds = rbm_channel().render(
        [Text(text="hi")], render_context(MSISDN, reply_to=None, last_inbound_days=None)
    )
    assert [o.kind for o in outbounds] == ["message"]


@pytest.mark.parametrize("user", ["12223334444", "+0123", "CONV_ID", "+1 222 333 4444"])
def test_rbm_refuses_a_user_that_is_not_an_e164_number(user: str) -> None:
    with pytest.raises(SendRefused, match=r"E\.164"):
        rbm_channel().render([Text(text="hi")], render_context(user))


def test_rbm_channel_specific_full_agent_message_passes_through() -> None:
    raw = {"contentMessage": {"text": "raw"}, "messageTrafficType": "TRANSACTION"}
    [outbound] = messages(
        rbm_channel().render([ChannelSpecific(payloads={"rbm": raw})], render_context(MSISDN))
    )
    assert outbound.body["agentMessage"] == raw


def test_same_rendering_for_both_channels_apart_from_the_dialect() -> None:
    """The migration promise: what a bot sends looks the same on GBM and on RBM."""
    bot_reply: list[UniversalMessage] = [
        Text(text="Hi", quick_replies=[YES]),
        Carousel(cards=[Card(title="A"), Card(title="B")]),
    ]
    gbm = gbm_contents(gbm_channel().render(bot_reply, render_context()))
    rbm = rbm_contents(rbm_channel().render(bot_reply, render_context(MSISDN)))
    assert gbm == rbm


def test_rbm_dial_numbers_are_e164_while_gbm_keeps_rfc3966() -> None:
    call = CallAction(title="Call", phone="tel:+1-201-555-0123")
    gbm = gbm_contents(gbm_channel().render([Text(text="x", quick_replies=[call])], render_context()))
    rbm = rbm_contents(rbm_channel().render([Text(text="x", quick_replies=[call])], render_context(MSISDN)))
    assert gbm[0]["suggestions"][0]["action"]["dialAction"] == {"phoneNumber": "+1-201-555-0123"}
    assert rbm[0]["suggestions"][0]["action"]["dialAction"] == {"phoneNumber": "+12015550123"}


def test_quick_replies_on_carousel_cards_are_noted_not_lost_silently() -> None:
    ctx = render_context()
    carousel = Carousel(cards=[Card(title="A", quick_replies=[YES]), Card(title="B")])
    gbm_channel().render([carousel], ctx)
    assert ctx.notes == ["1 quick replies set on carousel cards ignored: set them on the carousel"]


def test_rbm_agent_id_is_taken_without_the_rbm_goog_suffix() -> None:
    assert rbm_channel(agent_id="myagent@rbm.goog").config.agent_id == "myagent"
