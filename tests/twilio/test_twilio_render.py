"""Universal messages → Messages API parameters: what SMS/MMS shows, what degrades to numbered text menus
(with a note), and the reply's menu on its last body; the TwiML passive reply."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from channelgate.channels.base import Outbound, SendRefused
from channelgate.messages import UniversalMessage

from .kit import USER, channel, post, render_ctx

ADAPTER: TypeAdapter[UniversalMessage] = TypeAdapter(UniversalMessage)
PROMPT = "Reply with the number of your choice."


def render(*messages: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    ctx = render_ctx()
    outbounds = channel().render([ADAPTER.validate_python(m) for m in messages], ctx)
    return [o.body for o in outbounds], ctx.notes


def test_text_is_split_at_1600_characters_and_the_last_body_clears_the_menu() -> None:
    [body], notes = render({"type": "text", "text": "Hi"})
    assert body == {"To": USER, "Body": "Hi", "_menu": []}
    bodies, notes = render({"type": "text", "text": ("word " * 400).strip()})
    assert [len(b["Body"]) <= 1600 for b in bodies] == [True, True]
    assert "_menu" not in bodies[0] and notes == ["text of 1999 characters sent as 2 messages"]


def test_media_is_mms_with_its_caption_as_body() -> None:
    [body], _ = render(
        {"type": "media", "kind": "video", "url": "https://cdn.example/v.mp4", "caption": "Watch"}
    )
    assert body["MediaUrl"] == ["https://cdn.example/v.mp4"] and body["Body"] == "Watch"
    bodies, notes = render(
        {"type": "media", "kind": "image", "url": "https://cdn.example/a.png", "caption": "c" * 1700}
    )
    assert "Body" not in bodies[0] and bodies[1]["Body"] == "c" * 1600
    assert notes[0] == "caption over 1600 characters sent as text after the image"


def test_quick_replies_are_numbered_in_the_same_sms_and_offered_as_the_menu() -> None:
    quick = [
        {"type": "reply", "title": "Yes", "payload": "Y"},
        {"type": "url", "title": "Site", "url": "https://s.example"},
    ]
    [body], notes = render({"type": "text", "text": "Sure?", "quick_replies": quick})
    assert body["Body"] == f"Sure?\n1. Yes\nSite: https://s.example\n{PROMPT}"
    assert body["_menu"] == [["Yes", "Y"]]
    assert notes == ["SMS cannot show quick replies: sent as a numbered text menu"]
    bodies, _ = render({"type": "text", "text": "x" * 1590, "quick_replies": quick})
    assert len(bodies) == 2 and bodies[1]["Body"].startswith("1. Yes")  # does not fit: its own SMS


def test_choices_are_numbered_across_the_reply() -> None:
    bodies, notes = render(
        {"type": "list", "text": "Pick",
         "items": [{"title": "A", "payload": "PA"}, {"title": "B", "payload": "PB"}]},
        {"type": "card", "title": "Card", "buttons": [{"type": "reply", "title": "C", "payload": "PC"}]},
        {"type": "carousel", "cards": [
            {"type": "card", "title": "D", "media": {"url": "https://cdn.example/d.png"},
             "buttons": [{"type": "reply", "title": "Dd", "payload": "PD"}]},
            {"type": "card", "title": "E", "buttons": [{"type": "reply", "title": "Ee", "payload": "PE"}]},
        ]},
    )  # fmt: skip
    assert [b["Body"] for b in bodies] == [
        f"Pick\n1. A\n2. B\n{PROMPT}",
        f"Card\n3. C\n{PROMPT}",
        "D\n4. Dd",
        f"E\n5. Ee\n{PROMPT}",
    ]
    assert bodies[2]["MediaUrl"] == ["https://cdn.example/d.png"]
    assert bodies[-1]["_menu"] == [["A", "PA"], ["B", "PB"], ["C", "PC"], ["Dd", "PD"], ["Ee", "PE"]]
    assert all("_menu" not in b for b in bodies[:-1])
    assert "SMS cannot show lists: sent as a numbered text menu" in notes


def test_location_is_a_map_link() -> None:
    [body], _ = render({"type": "location", "latitude": 1.5, "longitude": 2.5, "name": "Here"})
    assert body["Body"] == "Here\nhttps://www.google.com/maps/search/?api=1&query=1.5,2.5"


def test_templates_are_content_api_sids_or_refused() -> None:
    sid = "HX" + "a" * 32
    [body], _ = render({"type": "template", "name": sid, "parameters": [{"1": "Ann", "2": "Fri"}]})
    assert body["ContentSid"] == sid and body["ContentVariables"] == '{"1":"Ann","2":"Fri"}'
    with pytest.raises(SendRefused, match="no pre-approved message templates"):
        render({"type": "template", "name": "order_update"})


def test_channel_specific_payloads_are_messages_api_parameters() -> None:
    [body], _ = render({"type": "channel", "payloads": {"twilio": {"Body": "raw", "ShortenUrls": "true"}}})
    assert body == {"To": USER, "Body": "raw", "ShortenUrls": "true", "_menu": []}
    with pytest.raises(SendRefused, match="To"):
        render({"type": "channel", "payloads": {"twilio": {"Body": "x", "To": "+1999"}}})
    bodies, notes = render({"type": "channel", "payloads": {"telegram": {"method": "sendPoll"}}})
    assert bodies == [] and "skipped" in notes[0]


def test_more_than_ten_media_are_cut_with_a_note() -> None:
    urls = [f"https://cdn.example/{i}.png" for i in range(12)]
    [body], notes = render({"type": "channel", "payloads": {"twilio": {"MediaUrl": urls}}})
    assert body["MediaUrl"] == urls[:10] and notes == ["2 media dropped: an MMS carries 10"]


def test_the_passive_reply_carries_plain_messages_to_the_sender_as_twiml() -> None:
    ch = channel()
    request = post([("MessageSid", "SM" + "1" * 32), ("From", USER), ("Body", "hi")])
    ch.authenticate(request)
    text = Outbound(body={"To": USER, "Body": "a < b & c"})
    mms = Outbound(body={"To": USER, "MediaUrl": ["https://cdn.example/a.png?x=1&y=2"]})
    template = Outbound(body={"To": USER, "ContentSid": "HX" + "a" * 32})
    answer, carried = ch.passive_reply(request, [text, mms, template, text])
    assert carried == 2 and answer.media_type == "text/xml"
    assert answer.body == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message><Body>a &lt; b &amp; c</Body></Message>'
        "<Message><Media>https://cdn.example/a.png?x=1&amp;y=2</Media></Message></Response>"
    )
    other = Outbound(body={"To": "+14155550199", "Body": "not the sender"})
    answer, carried = ch.passive_reply(request, [other])
    assert carried == 0 and answer.body == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
