"""Passive replies: the first text or news payload answers the callback itself, in the callback's mode."""

from __future__ import annotations

import time
from typing import Any

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

from channelgate.channels.base import Outbound, RenderContext, WebhookRequest
from channelgate.channels.wechat.xml import parse_xml
from channelgate.messages import parse_message
from channelgate.testing.wechat import WeChatSimulator

from .helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN, make_channel, webhook

SIM = WeChatSimulator(
    app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY, account="gh_abc"
)


def callback(mode: str, user: str = "oUser123") -> WebhookRequest:
    ts = str(int(time.time()))
    body, extra = SIM.seal(SIM.text_message(user, "hi"), ts, "31337", mode)  # type: ignore[arg-type]
    return webhook("POST", {**SIM.signed_query(ts, "31337", user), **extra}, body)


def outbounds(*messages: Any, user: str = "oUser123") -> list[Outbound]:
    context = RenderContext(user_id=user, locale="zh-CN", now=time.time(), reply_to="1")
    return make_channel("safe").render([parse_message(m) for m in messages], context)


def wechatpy_open(xml: str) -> dict[str, Any]:
    """Decrypt a reply envelope with wechatpy, which also checks its MsgSignature."""
    envelope = xmltodict.parse(xml)["xml"]
    plain = WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(
        xml, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    return dict(xmltodict.parse(plain)["xml"])


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_encrypted_callbacks_get_an_encrypted_signed_reply_wechatpy_can_open(mode: str) -> None:
    channel = make_channel(mode)
    request = callback(mode)
    answer, used = channel.passive_reply(request, outbounds("你好 ]]> there", "second"))
    assert used == 1
    assert answer.status == 200
    envelope = parse_xml(answer.body)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert envelope["Nonce"] == "31337"
    reply = wechatpy_open(str(answer.body))
    assert reply["MsgType"] == "text"
    assert reply["Content"] == "你好 ]]> there"
    assert (reply["ToUserName"], reply["FromUserName"]) == ("oUser123", "gh_abc")
    assert SIM.read_reply(str(answer.body)) == {**reply, "CreateTime": reply["CreateTime"]}


def test_plaintext_callbacks_get_a_plaintext_reply() -> None:
    channel = make_channel("plaintext")
    answer, used = channel.passive_reply(callback("plaintext"), outbounds("hello"))
    assert used == 1
    reply = dict(xmltodict.parse(answer.body)["xml"])
    assert reply["MsgType"] == "text" and reply["Content"] == "hello"
    assert (reply["ToUserName"], reply["FromUserName"]) == ("oUser123", "gh_abc")
    assert abs(int(reply["CreateTime"]) - time.time()) < 5


def test_a_card_is_a_one_article_news_reply() -> None:
    card = {
        "type": "card",
        "title": "Margherita",
        "description": "Tomato",
        "media": {"url": "https://cdn.example.com/p.jpg"},
        "buttons": [{"type": "url", "title": "Open", "url": "https://shop.example.com/1"}],
    }
    answer, used = make_channel("safe").passive_reply(callback("safe"), outbounds(card))
    assert used == 1
    reply = wechatpy_open(str(answer.body))
    assert reply["MsgType"] == "news" and reply["ArticleCount"] == "1"
    item = reply["Articles"]["item"]
    assert item == {
        "Title": "Margherita",
        "Description": "Tomato",
        "PicUrl": "https://cdn.example.com/p.jpg",
        "Url": "https://shop.example.com/1",
    }


@pytest.mark.parametrize(
    "message",
    [
        {"type": "text", "text": "Pick", "quick_replies": [{"type": "reply", "title": "A", "payload": "A"}]},
        {"type": "media", "kind": "image", "url": "https://cdn.example.com/a.png"},
        {"type": "template", "name": "T"},
    ],
    ids=["menu", "image by url", "template"],
)
def test_what_cannot_be_passive_is_answered_success(message: dict[str, Any]) -> None:
    answer, used = make_channel("safe").passive_reply(callback("safe"), outbounds(message))
    assert (answer.body, used) == (b"success", 0)


def test_no_reply_is_answered_success() -> None:
    answer, used = make_channel("safe").passive_reply(callback("safe"), [])
    assert (answer.body, used) == (b"success", 0)


def test_a_reply_for_another_user_is_never_passive() -> None:
    answer, used = make_channel("safe").passive_reply(callback("safe"), outbounds("hi", user="oSomeoneElse"))
    assert used == 0 and answer.body == b"success"


def test_a_forged_callback_gets_no_passive_reply() -> None:
    request = callback("safe")
    forged = webhook("POST", {**request.query, "msg_signature": "0" * 40}, request.body)
    answer, used = make_channel("safe").passive_reply(forged, outbounds("secret answer"))
    assert used == 0 and b"secret" not in (
        answer.body if isinstance(answer.body, bytes) else answer.body.encode()
    )


def test_image_with_a_known_media_id_can_be_passive() -> None:
    message = {"type": "channel", "payloads": {"wechat": {"msgtype": "image", "image": {"media_id": "M1"}}}}
    answer, used = make_channel("plaintext").passive_reply(callback("plaintext"), outbounds(message))
    assert used == 1
    assert parse_xml(answer.body)["Image.MediaId"] == "M1"
