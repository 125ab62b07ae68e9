"""Inbound: URL verification, authentication in each mode (fail closed, before parsing), and every message
and event type as inputs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from wechatpy import parse_message

from channelgate.channels.base import (
    BadRequest,
    Forbidden,
    InboundMessage,
    StatusUpdate,
    Unauthorized,
)
from channelgate.channels.registry import load_registry
from channelgate.channels.wechat import WeChatChannel, WeChatConfig
from channelgate.channels.wechat.crypto import MessageCrypto, sha1_signature
from channelgate.channels.wechat.xml import build_xml
from channelgate.config import ConfigError, parse_config
from channelgate.testing.wechat import WeChatSimulator
from channelgate.turns import EventInput, LocationInput, MediaInput, PostbackInput, TextInput

from .helpers import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    NONCE,
    TIMESTAMP,
    TOKEN,
    VECTOR_ENCRYPT,
    VECTOR_MSG_SIGNATURE,
    VECTOR_SIGNATURE,
    make_channel,
    make_config,
    webhook,
)
from .test_xml import HOSTILE

VECTOR_QUERY = {"signature": VECTOR_SIGNATURE, "timestamp": TIMESTAMP, "nonce": NONCE, "openid": "oUser123"}
SAFE_BODY = (
    "<xml><ToUserName><![CDATA[gh_abcdef123456]]></ToUserName>"
    f"<Encrypt><![CDATA[{VECTOR_ENCRYPT}]]></Encrypt></xml>"
)
SAFE_QUERY = {**VECTOR_QUERY, "encrypt_type": "aes", "msg_signature": VECTOR_MSG_SIGNATURE}

SIM = WeChatSimulator(
    app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY, account="gh_abc"
)


def signed(xml: str, mode: str = "plaintext", *, timestamp: int | None = None, app_id: str = APP_ID) -> Any:
    """A callback request as WeChat sends it, signed now."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    sim = SIM if app_id == APP_ID else WeChatSimulator(app_id=app_id, token=TOKEN, encoding_aes_key=AES_KEY)
    body, extra = sim.seal(xml, ts, "424242", mode)  # type: ignore[arg-type]
    return webhook("POST", {**sim.signed_query(ts, "424242"), **extra}, body)


def events_of(xml: str, mode: str = "plaintext") -> list[Any]:
    channel = make_channel(mode)
    request = signed(xml, mode)
    return channel.parse(request, channel.authenticate(request))


def one_input(xml: str) -> Any:
    (event,) = events_of(xml)
    assert isinstance(event, InboundMessage)
    return event.input


# --- URL verification -------------------------------------------------------------------------------------


def test_url_verification_echoes_echostr_for_the_reference_signature() -> None:
    channel = make_channel("plaintext", clock=1700000000)
    answer = channel.handshake(webhook("GET", {**VECTOR_QUERY, "echostr": "e-12345"}))
    assert answer is not None and answer.status == 200 and answer.body == "e-12345"


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
def test_url_verification_uses_the_plain_signature_in_every_mode(mode: str) -> None:
    channel = make_channel(mode, clock=1700000000)
    answer = channel.handshake(webhook("GET", {**VECTOR_QUERY, "echostr": "abc"}))
    assert answer is not None and answer.body == "abc"


@pytest.mark.parametrize(
    "query",
    [
        {**VECTOR_QUERY, "signature": "0" * 40, "echostr": "x"},
        {"timestamp": TIMESTAMP, "nonce": NONCE, "echostr": "x"},
        {**VECTOR_QUERY, "nonce": "1", "echostr": "x"},
        VECTOR_QUERY,
    ],
    ids=["wrong signature", "no signature", "other nonce", "no echostr"],
)
def test_url_verification_fails_closed(query: dict[str, str]) -> None:
    channel = make_channel("plaintext", clock=1700000000)
    with pytest.raises(Forbidden):
        channel.handshake(webhook("GET", query))


def test_url_verification_with_a_stale_timestamp_is_refused() -> None:
    channel = make_channel("plaintext", clock=1700000000 + 301)
    with pytest.raises(Forbidden, match="timestamp"):
        channel.handshake(webhook("GET", {**VECTOR_QUERY, "echostr": "x"}))


def test_posts_are_not_handshakes() -> None:
    assert make_channel("plaintext").handshake(webhook("POST", VECTOR_QUERY, "<xml/>")) is None


# --- authentication ---------------------------------------------------------------------------------------


def test_reference_safe_mode_callback_is_authenticated_and_parsed() -> None:
    channel = make_channel("safe", clock=1700000000)
    request = webhook("POST", SAFE_QUERY, SAFE_BODY)
    (event,) = channel.parse(request, channel.authenticate(request))
    assert isinstance(event, InboundMessage)
    assert event.input == TextInput(text="hello")
    assert event.user.id == "oUser123"
    assert event.dedup_key == "1234567890123456"
    assert event.platform_message_id == "1234567890123456"
    assert event.timestamp == 1700000000


def test_missing_signature_is_unauthorized_before_parsing() -> None:
    channel = make_channel("plaintext")
    with pytest.raises(Unauthorized):
        channel.authenticate(
            webhook("POST", {"timestamp": str(int(time.time())), "nonce": "1"}, HOSTILE["billion laughs"])
        )


def test_wrong_signature_is_rejected_before_parsing() -> None:
    channel = make_channel("plaintext")
    query = {"signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "1"}
    with pytest.raises(Forbidden):
        channel.authenticate(webhook("POST", query, HOSTILE["billion laughs"]))


@pytest.mark.parametrize("offset", [-301, 301, 100000])
def test_stale_or_future_timestamp_is_refused(offset: int) -> None:
    channel = make_channel("safe")
    request = signed(SIM.text_message("oUser1", "hi"), "safe", timestamp=int(time.time()) + offset)
    with pytest.raises(Forbidden, match="timestamp"):
        channel.authenticate(request)


def test_clock_skew_limit_is_configurable() -> None:
    channel = make_channel("safe", max_clock_skew=1000)
    channel.authenticate(signed(SIM.text_message("oUser1", "hi"), "safe", timestamp=int(time.time()) - 900))


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_missing_msg_signature_is_unauthorized_in_encrypted_modes(mode: str) -> None:
    channel = make_channel(mode)
    request = signed(SIM.text_message("oUser1", "hi"), mode)
    query = {k: v for k, v in request.query.items() if k != "msg_signature"}
    with pytest.raises(Unauthorized, match="msg_signature"):
        channel.authenticate(webhook("POST", query, request.body))


def test_plaintext_callback_is_refused_in_safe_mode() -> None:
    channel = make_channel("safe")
    with pytest.raises(Unauthorized):
        channel.authenticate(signed(SIM.text_message("oUser1", "hi"), "plaintext"))


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_wrong_msg_signature_is_forbidden(mode: str) -> None:
    channel = make_channel(mode)
    request = signed(SIM.text_message("oUser1", "hi"), mode)
    with pytest.raises(Forbidden, match="msg_signature"):
        channel.authenticate(webhook("POST", {**request.query, "msg_signature": "0" * 40}, request.body))


def test_message_for_another_app_id_is_forbidden() -> None:
    channel = make_channel("safe")
    with pytest.raises(Forbidden, match="AppID"):
        channel.authenticate(signed(SIM.text_message("oUser1", "hi"), "safe", app_id="wxsomeoneelse00001"))


def test_ciphertext_under_another_key_does_not_decrypt() -> None:
    channel = make_channel("safe")
    ts, nonce = str(int(time.time())), "77"
    other = MessageCrypto(TOKEN, "B" * 43, APP_ID)
    encrypted, msg_signature = other.seal(SIM.text_message("oUser1", "hi"), ts, nonce)
    query = {
        "signature": sha1_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "msg_signature": msg_signature,
    }
    with pytest.raises(BadRequest, match="encoding_aes_key"):
        channel.authenticate(webhook("POST", query, build_xml({"Encrypt": encrypted})))


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("mode", ["plaintext", "safe"])
def test_hostile_xml_is_a_bad_request(name: str, mode: str) -> None:
    channel = make_channel(mode)
    ts = str(int(time.time()))
    query = {"signature": sha1_signature(TOKEN, ts, "1"), "timestamp": ts, "nonce": "1", "msg_signature": "x"}
    request = webhook("POST", query, HOSTILE[name])
    with pytest.raises(BadRequest, match="DTD"):
        channel.parse(request, channel.authenticate(request))


def test_encrypted_hostile_xml_is_refused_after_decryption() -> None:
    channel = make_channel("safe")
    request = signed(HOSTILE["external entity"], "safe")
    with pytest.raises(BadRequest, match="DTD"):
        channel.authenticate(request)


def test_encrypted_callback_without_a_key_says_what_to_configure() -> None:
    channel = make_channel("plaintext")
    with pytest.raises(BadRequest, match="encoding_aes_key"):
        request = signed(SIM.text_message("oUser1", "hi"), "safe")
        channel.parse(request, channel.authenticate(request))


def test_compatible_mode_trusts_only_the_encrypted_copy() -> None:
    ts, nonce = str(int(time.time())), "5"
    body, extra = SIM.seal(SIM.text_message("oUser1", "genuine"), ts, nonce, "compatible")
    forged = body.replace("<Content><![CDATA[genuine]]>", "<Content><![CDATA[forged]]>")
    assert forged != body
    channel = make_channel("compatible")
    request = webhook("POST", {**SIM.signed_query(ts, nonce), **extra}, forged)
    (event,) = channel.parse(request, channel.authenticate(request))
    assert event.input == TextInput(text="genuine")


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
def test_every_mode_parses_the_same_message(mode: str) -> None:
    (event,) = events_of(SIM.text_message("oUser1", "你好", msg_id=99), mode)
    assert event.input == TextInput(text="你好") and event.dedup_key == "99"


def test_ack_is_success() -> None:
    answer = make_channel("safe").ack(webhook("POST", {}), [])
    assert answer.status == 200 and answer.body == b"success"


# --- messages and events --------------------------------------------------------------------------------


MESSAGES: dict[str, tuple[str, Any]] = {
    "text": (SIM.text_message("oUser123", "this is a test"), TextInput(text="this is a test")),
    "image": (
        SIM.message_xml(
            "oUser123", "image", {"PicUrl": "http://mmbiz.qpic.cn/x.jpg", "MediaId": "media_id_1"}
        ),
        MediaInput(kind="image", url="http://mmbiz.qpic.cn/x.jpg", media_id="media_id_1"),
    ),
    "voice recognised": (
        SIM.message_xml(
            "oUser123", "voice", {"MediaId": "v1", "Format": "amr", "Recognition": "腾讯微信团队"}
        ),
        TextInput(text="腾讯微信团队"),
    ),
    "voice": (
        SIM.message_xml("oUser123", "voice", {"MediaId": "v1", "Format": "amr"}),
        MediaInput(kind="audio", media_id="v1", mime_type="audio/amr"),
    ),
    "video": (
        SIM.message_xml("oUser123", "video", {"MediaId": "vid1", "ThumbMediaId": "t1"}),
        MediaInput(kind="video", media_id="vid1"),
    ),
    "shortvideo": (
        SIM.message_xml("oUser123", "shortvideo", {"MediaId": "sv1", "ThumbMediaId": "t1"}),
        MediaInput(kind="video", media_id="sv1"),
    ),
    "location": (
        SIM.message_xml(
            "oUser123",
            "location",
            {"Location_X": "23.134521", "Location_Y": "113.358803", "Scale": "20", "Label": "广州"},
        ),
        LocationInput(latitude=23.134521, longitude=113.358803, address="广州"),
    ),
    "link": (
        SIM.message_xml(
            "oUser123",
            "link",
            {"Title": "公众平台官网链接", "Description": "d", "Url": "https://mp.weixin.qq.com"},
        ),
        TextInput(text="公众平台官网链接\nhttps://mp.weixin.qq.com"),
    ),
    "menu tap": (
        SIM.text_message("oUser123", "满意", menu_id="101"),
        PostbackInput(payload="101", title="满意"),
    ),
    "miniprogrampage": (
        SIM.message_xml("oUser123", "miniprogrampage", {"Title": "t", "AppId": "wxmini", "PagePath": "p"}),
        EventInput(name="miniprogrampage", data={"Title": "t", "AppId": "wxmini", "PagePath": "p"}),
    ),
}

EVENTS: dict[str, tuple[str, Any]] = {
    "subscribe": (SIM.event_message("oUser123", "subscribe"), EventInput(name="subscribed")),
    "subscribe by QR": (
        SIM.event_message("oUser123", "subscribe", {"EventKey": "qrscene_42", "Ticket": "TICKET1"}),
        EventInput(name="subscribed", data={"scene": "42", "ticket": "TICKET1"}),
    ),
    "unsubscribe": (SIM.event_message("oUser123", "unsubscribe"), EventInput(name="unsubscribed")),
    "scan": (
        SIM.event_message("oUser123", "SCAN", {"EventKey": "42", "Ticket": "TICKET2"}),
        EventInput(name="scan", data={"scene": "42", "ticket": "TICKET2"}),
    ),
    "location": (
        SIM.event_message(
            "oUser123",
            "LOCATION",
            {"Latitude": "23.137466", "Longitude": "113.352425", "Precision": "119.385040"},
        ),
        EventInput(
            name="location", data={"latitude": 23.137466, "longitude": 113.352425, "precision": 119.38504}
        ),
    ),
    "click": (
        SIM.event_message("oUser123", "CLICK", {"EventKey": "MENU_HELP"}),
        PostbackInput(payload="MENU_HELP"),
    ),
    "view": (
        SIM.event_message("oUser123", "VIEW", {"EventKey": "https://example.com/x"}),
        EventInput(name="view", data={"url": "https://example.com/x"}),
    ),
    "other event": (
        SIM.event_message("oUser123", "scancode_push", {"EventKey": "k"}),
        EventInput(name="scancode_push", data={"EventKey": "k"}),
    ),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_message_type_becomes_its_input(name: str) -> None:
    xml, expected = MESSAGES[name]
    (event,) = events_of(xml)
    assert event.input == expected
    assert event.user.id == "oUser123"
    assert event.dedup_key.isdigit()  # MsgId
    assert event.raw["MsgType"] == parse_message(xml).type  # wechatpy reads the same sample


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_event_becomes_its_input(name: str) -> None:
    xml, expected = EVENTS[name]
    (event,) = events_of(xml, "safe")
    assert event.input == expected
    assert event.platform_message_id is None


def test_voice_recognition_keeps_the_media_in_raw() -> None:
    (event,) = events_of(MESSAGES["voice recognised"][0])
    assert event.raw["MediaId"] == "v1"


def test_events_dedup_on_user_time_and_event() -> None:
    xml = SIM.message_xml("oUser9", "event", {"Event": "CLICK", "EventKey": "K"}, create_time=1700000123)
    (event,) = events_of(xml)
    assert event.dedup_key == "oUser9:1700000123:CLICK"
    (again,) = events_of(xml)
    assert again.dedup_key == event.dedup_key


def test_template_job_finished_is_a_status_update() -> None:
    ok = SIM.event_message("oUser1", "TEMPLATESENDJOBFINISH", {"MsgID": 200163836, "Status": "success"})
    failed = SIM.event_message(
        "oUser1", "TEMPLATESENDJOBFINISH", {"MsgID": 200163840, "Status": "failed:user block"}
    )
    (delivered,) = events_of(ok)
    (refused,) = events_of(failed)
    assert isinstance(delivered, StatusUpdate) and isinstance(refused, StatusUpdate)
    assert (delivered.status, delivered.platform_message_id, delivered.user_id) == (
        "delivered",
        "200163836",
        "oUser1",
    )
    assert (refused.status, refused.reason) == ("failed", "failed:user block")


def test_mass_send_reports_start_no_turn() -> None:
    assert events_of(SIM.event_message("oUser1", "MASSSENDJOBFINISH", {"Status": "send success"})) == []


def test_message_without_sender_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        events_of("<xml><MsgType>text</MsgType><Content>x</Content></xml>")


def test_location_with_garbage_coordinates_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="Location_X"):
        events_of(SIM.message_xml("oUser1", "location", {"Location_X": "north", "Location_Y": "1"}))


# --- config -----------------------------------------------------------------------------------------------


def test_mode_defaults_to_safe_and_plaintext_must_be_written_out() -> None:
    """A config that worked before (a key, no mode) still works; one without a key no longer falls back to
    plaintext mode: it is refused, naming the field, unless it says ``encryption_mode: plaintext``."""
    base = {"app_id": APP_ID, "app_secret": "s", "token": TOKEN}
    with_key = WeChatConfig.model_validate({**base, "encoding_aes_key": AES_KEY})
    assert with_key.encryption_mode == "safe"
    with pytest.raises(ValidationError) as caught:
        WeChatConfig.model_validate(base)
    message = str(caught.value)
    assert "encoding_aes_key is required" in message and "encryption_mode: plaintext" in message
    explicit = WeChatConfig.model_validate({**base, "encryption_mode": "plaintext"})
    assert explicit.encryption_mode == "plaintext" and explicit.encoding_aes_key is None


def test_config_file_without_a_key_is_refused_at_load() -> None:
    registry = load_registry()
    integration = {"channel": "wechat", "label": "shop", "app_id": APP_ID, "app_secret": "s", "token": TOKEN}
    with pytest.raises(ConfigError, match="encoding_aes_key"):
        parse_config({"integrations": [integration]}, registry, "test config")
    parsed = parse_config(
        {"integrations": [{**integration, "encryption_mode": "plaintext"}]}, registry, "test config"
    )
    assert parsed.integrations[0].config.encryption_mode == "plaintext"


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_encrypted_mode_without_a_key_names_the_field(mode: str) -> None:
    with pytest.raises(ValidationError, match="encoding_aes_key is required"):
        make_config("plaintext", encryption_mode=mode)


def test_bad_key_is_refused_without_showing_it() -> None:
    key = "x" * 42
    with pytest.raises(ValidationError) as caught:
        make_config("safe", encoding_aes_key=key)
    assert "43" in str(caught.value)
    assert all(key not in str(e["msg"]) for e in caught.value.errors())


@pytest.mark.parametrize("token", ["ab", "x" * 33, "has space", "标记标记"])
def test_token_must_be_what_the_console_accepts(token: str) -> None:
    with pytest.raises(ValidationError, match="3-32"):
        make_config("safe", token=token)


def test_channel_takes_its_passive_budget_from_the_config() -> None:
    assert make_channel("safe", passive_reply_budget=2.5).passive_reply_budget == 2.5
    assert make_channel("safe").passive_reply_budget == 4.0
    with pytest.raises(ValidationError):
        make_config("safe", passive_reply_budget=5)


def test_plaintext_mode_is_warned_about() -> None:
    assert WeChatChannel.check_config(make_config("plaintext"))
    assert WeChatChannel.check_config(make_config("safe")) == []


def test_class_metadata() -> None:
    assert WeChatChannel.name == "wechat" and WeChatChannel.title == "WeChat Official Account"
    assert WeChatChannel.setup_fields == ("token",)
    assert set(WeChatChannel.Config.secret_fields()) == {"app_secret", "token", "encoding_aes_key"}
    assert make_config("safe").api_base_url == "https://api.weixin.qq.com"


def test_channels_add_wechat_asks_for_the_key_unless_plaintext_is_chosen(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from channelgate.cli import app

    path = tmp_path / "gw.yaml"
    path.write_text("integrations: []\n")
    base = ["channels", "add", "wechat", "--label", "shop", "--config", str(path)]
    creds = ["--set", f"app_id={APP_ID}", "--set", "app_secret=s", "--set", f"token={TOKEN}"]
    result = CliRunner().invoke(app, [*base, *creds])
    assert result.exit_code == 2 and "--set encoding_aes_key=" in result.output
    result = CliRunner().invoke(app, [*base, *creds, "--set", f"encoding_aes_key={AES_KEY}"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        app, [*base[:4], "plain", *base[5:], *creds, "--set", "encryption_mode=plaintext"]
    )
    assert result.exit_code == 0, result.output
    assert "plaintext mode" in result.output  # the warning, at once


@pytest.mark.parametrize("timestamp", ["²", "١٢٣٤", "-5", "12.5"])
def test_a_signed_callback_whose_timestamp_is_not_ascii_digits_is_forbidden(timestamp: str) -> None:
    """``"²".isdigit()`` is true in Python, but ``int("²")`` raises: the check must not let it through."""
    sim = WeChatSimulator(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY)
    body, extra = sim.seal(sim.text_message("oUser1", "hi"), timestamp, "4242", "safe")
    request = webhook("POST", {**sim.signed_query(timestamp, "4242", "oUser1"), **extra}, body)
    with pytest.raises(Forbidden, match=r"^timestamp is not a number$"):
        make_channel("safe").authenticate(request)
