"""Passive replies: the bot's first message as the XML answer of the callback itself (被动回复).

WeChat takes a text, one news article, or an image or voice by media id there; everything else goes through
the customer-service API. The answer is addressed back to the callback's sender from the account it was
sent to, and encrypted and signed when the callback was (with the callback's nonce).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channelgate.channels.base import Outbound, WebhookResponse
from channelgate.channels.wechat.callback import Callback
from channelgate.channels.wechat.crypto import MessageCrypto
from channelgate.channels.wechat.xml import XmlValue, build_xml

#: the passive reply that hands the user's message, and the conversation, to WeChat's customer-service
#: tools (消息转发到客服); it exists only as a passive reply: the API has no such call
TRANSFER_CUSTOMER_SERVICE = "transfer_customer_service"


def passive_fields(body: dict[str, Any]) -> dict[str, XmlValue] | None:
    """The XML fields of a passive reply carrying ``body``, or None when it must go through the API."""
    if any(key.startswith("_") for key in body) or "customservice" in body:
        return None
    msgtype = body.get("msgtype")
    if msgtype == TRANSFER_CUSTOMER_SERVICE:  # the hand-off to WeChat's own customer-service tools
        return {"MsgType": TRANSFER_CUSTOMER_SERVICE}
    content = body.get(msgtype) if isinstance(msgtype, str) else None
    if not isinstance(content, dict):
        return None
    if msgtype == "text" and isinstance(content.get("content"), str):
        return {"MsgType": "text", "Content": content["content"]}
    if msgtype == "news":
        articles = content.get("articles") or []
        if len(articles) != 1:
            return None
        article = articles[0]
        item: dict[str, XmlValue] = {"Title": str(article.get("title", ""))}
        for source, target in (("description", "Description"), ("picurl", "PicUrl"), ("url", "Url")):
            if article.get(source):
                item[target] = str(article[source])
        return {"MsgType": "news", "ArticleCount": 1, "Articles": [item]}
    if msgtype in ("image", "voice") and isinstance(content.get("media_id"), str):
        return {"MsgType": msgtype, msgtype.capitalize(): {"MediaId": content["media_id"]}}
    return None


class PassiveReplies:
    """Builds the XML answer of one account's callbacks."""

    def __init__(self, crypto: MessageCrypto | None, clock: Callable[[], float]) -> None:
        self.crypto = crypto
        self.clock = clock

    def answer(self, callback: Callback, outbound: Outbound) -> WebhookResponse | None:
        """The callback's answer carrying ``outbound``, or None when it cannot carry it (not a type WeChat
        takes passively, or addressed to someone other than the callback's sender)."""
        reply = passive_fields(outbound.body)
        if reply is None:
            return None
        user, account = callback.fields.get("FromUserName", ""), callback.fields.get("ToUserName", "")
        if not account or outbound.body.get("touser") != user:
            return None
        now = int(self.clock())
        xml = build_xml({"ToUserName": user, "FromUserName": account, "CreateTime": now, **reply})
        if callback.encrypted and self.crypto is not None:
            encrypted, signature = self.crypto.seal(xml, str(now), callback.nonce)
            xml = build_xml(
                {"Encrypt": encrypted, "MsgSignature": signature, "TimeStamp": now, "Nonce": callback.nonce}
            )
        return WebhookResponse(200, xml, media_type="application/xml")
