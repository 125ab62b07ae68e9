"""Real-world WeChat callbacks (wechatpy's test messages, copied from WeChat's documentation), signed as
WeChat signs them and parsed by the channel: each gives the full event it must, repeated elements as lists
and every EventKey kept (issue 13, "authentic events are dropped or stripped"). Sources: samples/README.md."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from channelgate.channels.base import InboundMessage, StatusUpdate
from channelgate.channels.wechat.xml import read_xml
from channelgate.turns import EventInput, User

from .test_inbound import events_of

SAMPLES = Path(__file__).parent / "samples"


def event_of(name: str, mode: str = "plaintext") -> InboundMessage:
    (event,) = events_of((SAMPLES / name).read_text(encoding="utf-8"), mode)
    assert isinstance(event, InboundMessage)
    return event


@pytest.mark.parametrize("mode", ["plaintext", "safe"])
def test_subscribe_after_a_payment_keeps_its_event_key(mode: str) -> None:
    event = event_of("wechatpy_subscribe_last_trade_no.xml", mode)
    assert event.user == User(id="FromUser")
    assert event.dedup_key == "FromUser:123456789:subscribe"
    assert event.input == EventInput(
        name="subscribed", data={"event_key": "last_trade_no_4008072001201701105817415015"}
    )


def test_subscribe_from_a_product_scan_keeps_its_event_key() -> None:
    event = event_of("wechatpy_subscribe_scan_product.xml")
    assert event.user == User(id="otAzGjrS4AYCmeJM1GhEOcHXXTAo")
    assert event.input == EventInput(name="subscribed", data={"event_key": "scanbarcode|keystandard|keystr"})


def test_subscribe_by_qr_code_gives_the_scene_and_ticket() -> None:
    event = event_of("wechatpy_subscribe_scan.xml")
    assert event.input == EventInput(name="subscribed", data={"scene": "123123", "ticket": "TICKET"})


def test_pic_sysphoto_keeps_its_picture_list() -> None:
    event = event_of("wechatpy_pic_sysphoto.xml")
    assert event.user == User(id="oMgHVjngRipVsoxg6TuX3vz6glDg")
    assert event.dedup_key == "oMgHVjngRipVsoxg6TuX3vz6glDg:1408090651:pic_sysphoto"
    assert event.timestamp == 1408090651
    pictures = {"Count": "1", "PicList": {"item": [{"PicMd5Sum": "1b5f7c23b5bf75682a53e7b6d163e185"}]}}
    assert event.input == EventInput(name="pic_sysphoto", data={"EventKey": "6", "SendPicsInfo": pictures})
    assert event.raw["SendPicsInfo"] == pictures


def test_every_picture_of_a_pic_event_is_kept() -> None:
    """The same sample with a second picture: before, only the first PicMd5Sum survived parsing."""
    xml = (SAMPLES / "wechatpy_pic_sysphoto.xml").read_text(encoding="utf-8")
    second = "<item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item>\n</PicList>"
    xml = xml.replace("<Count>1</Count>", "<Count>2</Count>").replace("</PicList>", second)
    (event,) = events_of(xml)
    assert event.input.data["SendPicsInfo"] == {
        "Count": "2",
        "PicList": {
            "item": [
                {"PicMd5Sum": "1b5f7c23b5bf75682a53e7b6d163e185"},
                {"PicMd5Sum": "5a75aaca956d97be686719218f275c6b"},
            ]
        },
    }


def test_scancode_push_keeps_the_scan() -> None:
    event = event_of("wechatpy_scancode_push.xml")
    assert event.input == EventInput(
        name="scancode_push",
        data={"EventKey": "6", "ScanCodeInfo": {"ScanType": "qrcode", "ScanResult": "1"}},
    )


def test_location_select_keeps_the_place() -> None:
    event = event_of("wechatpy_location_select.xml")
    place = {"Location_X": "23", "Location_Y": "113", "Scale": "15", "Label": "广州市海珠区客村艺苑路 106号"}
    assert event.input == EventInput(
        name="location_select", data={"EventKey": "6", "SendLocationInfo": {**place, "Poiname": ""}}
    )


def test_shake_keeps_every_beacon_around() -> None:
    event = event_of("wechatpy_shakearound_user_shake.xml")
    assert event.user == User(id="fromUser")

    def beacon(distance: str) -> dict[str, Any]:
        return {"Uuid": "uuid", "Major": "major", "Minor": "minor", "Distance": distance}

    assert event.input == EventInput(
        name="shakearoundusershake",
        data={
            "ChosenBeacon": beacon("0.057"),
            "AroundBeacons": {"AroundBeacon": [beacon("166.816"), beacon("15.013")]},
        },
    )


def test_the_flat_fields_stay_as_they_were() -> None:
    """Signatures, routing and passive replies read the flat fields; the tree is an addition."""
    message = read_xml((SAMPLES / "wechatpy_shakearound_user_shake.xml").read_bytes())
    assert message.fields["AroundBeacons.AroundBeacon.Distance"] == "166.816"
    assert message.fields["MsgType"] == "event"


def test_a_template_report_is_the_status_of_that_template_message() -> None:
    (status,) = events_of((SAMPLES / "wechatpy_template_send_job_finish.xml").read_text(encoding="utf-8"))
    assert status == StatusUpdate(
        dedup_key="fromuser:1395658920:TEMPLATESENDJOBFINISH",
        user_id="fromuser",
        status="delivered",
        platform_message_id="200163836",
        reason=None,
        raw={
            "ToUserName": "touser",
            "FromUserName": "fromuser",
            "CreateTime": "1395658920",
            "MsgType": "event",
            "Event": "TEMPLATESENDJOBFINISH",
            "MsgID": "200163836",
            "Status": "success",
        },
    )


@pytest.mark.parametrize("mode", ["plaintext", "safe"])
def test_a_device_event_keeps_what_the_device_did(mode: str) -> None:
    """A ``device_event`` message carries ``Event`` (bind, unbind) outside an ``event`` envelope: before,
    the event input lost it, and a bind looked like an unbind."""
    event = event_of("wechatpy_device_bind.xml", mode)
    assert event.user == User(id="fromUser")
    assert event.dedup_key == "1234567890123456"
    assert event.platform_message_id == "1234567890123456"
    assert event.timestamp == 1348831860
    assert event.input == EventInput(
        name="device_event",
        data={
            "Event": "bind",
            "OpenID": "123",
            "DeviceID": "123",
            "DeviceType": "123",
            "SessionID": "123",
            "Content": "MTIz",
        },
    )


def test_a_broadcast_report_is_skipped_with_a_log_line_carrying_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """MASSSENDJOBFINISH reports an account-wide broadcast, not a user's act: no turn (as documented), but no
    longer silently: the log line carries every count WeChat sent."""
    caplog.set_level(logging.INFO, logger="channelgate.channels.wechat")
    xml = (SAMPLES / "wechat_doc_masssendjobfinish.xml").read_text(encoding="utf-8")
    assert events_of(xml, "safe") == []
    (line,) = [r.getMessage() for r in caplog.records if "MASSSENDJOBFINISH" in r.getMessage()]
    assert "wechat/shop: MASSSENDJOBFINISH skipped" in line
    for field in ("MsgID=1988", "Status=sendsuccess", "TotalCount=100", "FilterCount=80", "SentCount=75"):
        assert field in line
    assert "ErrorCount=5" in line


def test_a_menu_link_tap_keeps_which_personalised_menu_it_came_from() -> None:
    """WeChat's documented VIEW event carries ``MenuId`` (which personalised menu's rule was tapped): before,
    the input kept only the URL."""
    event = event_of("wechat_doc_view_menuid.xml")
    assert event.user == User(id="FromUser")
    assert event.dedup_key == "FromUser:123456789:VIEW"
    assert event.timestamp == 123456789
    assert event.input == EventInput(name="view", data={"url": "www.qq.com", "MenuId": "MENUID"})
