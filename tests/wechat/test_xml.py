"""Inbound XML is parsed safely; reply XML cannot be broken by what it carries."""

from __future__ import annotations

import pytest

from channelgate.channels.wechat.xml import MAX_XML_BYTES, XmlError, build_xml, cdata, parse_xml

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><Content>&lol3;</Content></xml>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><MsgType>text</MsgType><Content>&xxe;</Content></xml>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">
<xml><MsgType>text</MsgType></xml>"""

PARAMETER_ENTITY = """<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><xml/>"""

HOSTILE = {
    "billion laughs": BILLION_LAUGHS,
    "external entity": EXTERNAL_ENTITY,
    "external DTD": EXTERNAL_DTD,
    "parameter entity": PARAMETER_ENTITY,
}


def test_fields_are_read_from_cdata_and_plain_text() -> None:
    xml = (
        "<xml><ToUserName><![CDATA[gh_abc]]></ToUserName><FromUserName><![CDATA[oUser123]]></FromUserName>"
        "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId></xml>"
    )
    assert parse_xml(xml) == {
        "ToUserName": "gh_abc",
        "FromUserName": "oUser123",
        "CreateTime": "1348831860",
        "MsgType": "text",
        "Content": "this is a test",
        "MsgId": "1234567890123456",
    }


def test_nested_elements_are_flattened_with_dots() -> None:
    xml = "<xml><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>1</ScanResult></ScanCodeInfo></xml>"
    assert parse_xml(xml) == {"ScanCodeInfo.ScanType": "qrcode", "ScanCodeInfo.ScanResult": "1"}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_dtds_and_entities_are_refused_without_expansion(name: str) -> None:
    with pytest.raises(XmlError, match="DTD"):
        parse_xml(HOSTILE[name])


def test_body_over_the_limit_is_refused_before_parsing() -> None:
    big = "<xml><Content>" + "a" * MAX_XML_BYTES + "</Content></xml>"
    with pytest.raises(XmlError, match="limit"):
        parse_xml(big)


@pytest.mark.parametrize("body", ["", "   ", "<xml><unclosed></xml>", "not xml", '{"json": true}'])
def test_malformed_bodies_are_refused(body: str) -> None:
    with pytest.raises(XmlError):
        parse_xml(body)


def test_root_other_than_xml_is_refused() -> None:
    with pytest.raises(XmlError, match="root"):
        parse_xml("<html><body/></html>")


@pytest.mark.parametrize(
    "value",
    ["plain", "a]]>b", "]]>]]>", "<b>&amp;</b>", "中文 ]]]]>", "ends with ]]", "]"],
)
def test_cdata_round_trips_any_value(value: str) -> None:
    assert parse_xml(build_xml({"Content": value}))["Content"] == value.strip()


def test_a_value_cannot_inject_elements() -> None:
    fields = parse_xml(build_xml({"Content": "]]></Content><MsgType>evil</MsgType><Content><![CDATA[x"}))
    assert set(fields) == {"Content"}


def test_control_characters_are_dropped_from_cdata() -> None:
    assert cdata("a\x00b\x1fc\td") == "<![CDATA[abc\td]]>"
    assert parse_xml(build_xml({"Content": "bell\x07"}))["Content"] == "bell"


def test_build_xml_renders_numbers_nested_and_items() -> None:
    xml = build_xml(
        {
            "CreateTime": 1700000001,
            "Image": {"MediaId": "m1"},
            "Articles": [{"Title": "a"}, {"Title": "b"}],
        }
    )
    assert "<CreateTime>1700000001</CreateTime>" in xml
    assert "<Image>\n<MediaId><![CDATA[m1]]></MediaId>\n</Image>" in xml
    assert xml.count("<item>") == 2
