"""Opening a callback: WeChat's signatures, the clock check, and (in compatible and safe mode) the
decryption, done once per request.

* The URL verification ``GET ?signature&timestamp&nonce&echostr`` is answered with ``echostr`` only when
  ``signature = sha1(sorted([token, timestamp, nonce]))`` matches; anything else is 403.
* Every POST carries the same ``signature`` (missing → 401, wrong → 403). That signature does not cover
  the body, so in compatible and safe mode the body's ``Encrypt`` must also match ``msg_signature`` and
  decrypt to a message for our AppID. A timestamp more than ``max_clock_skew`` from our clock is refused,
  which bounds replays of a captured callback.

What this yields, :class:`Callback`, is what ``authenticate`` returns in ``Verified.content``: ``parse``,
the replay check and the passive reply all read it instead of verifying and decrypting again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from channelgate.channels.base import (
    BadRequest,
    Forbidden,
    Unauthorized,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.wechat.config import WeChatConfig
from channelgate.channels.wechat.crypto import (
    DecryptError,
    InvalidAppId,
    InvalidSignature,
    MessageCrypto,
    signature_matches,
)
from channelgate.channels.wechat.xml import MAX_XML_BYTES, XmlError, XmlMessage, read_xml

#: WeChat's nonces are 9-10 digits; longer ones are refused before they reach the replay cache.
MAX_NONCE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Callback:
    """An authenticated callback: its message fields, and whether replies must be encrypted."""

    fields: dict[str, str]
    encrypted: bool
    nonce: str
    #: the signed timestamp (digits, within ``max_clock_skew`` of our clock)
    timestamp: int
    #: the message as a tree, repeated elements as lists (:class:`XmlMessage`)
    tree: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A digest of what the callback said, by its authentic fields: a re-encryption of the same message
        is the same message."""
        return hashlib.sha256(orjson.dumps(self.fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


class CallbackOpener:
    """Verifies and opens the callbacks of one Official Account."""

    def __init__(self, config: WeChatConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self._token = config.token.get_secret_value()
        key = config.encoding_aes_key
        self._crypto = (
            MessageCrypto(self._token, key.get_secret_value(), config.app_id)
            if key is not None and config.encryption_mode != "plaintext"
            else None
        )

    @property
    def crypto(self) -> MessageCrypto | None:
        """The cipher of compatible and safe mode (None in plaintext mode), to seal passive replies."""
        return self._crypto

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        """URL verification: echo ``echostr`` when the signature over (token, timestamp, nonce) matches."""
        if request.method.upper() != "GET":
            return None
        q = request.query
        echostr = q.get("echostr")
        signature, timestamp, nonce = q.get("signature"), q.get("timestamp", ""), q.get("nonce", "")
        if echostr is None or not signature_matches(signature, self._token, timestamp, nonce):
            raise Forbidden("URL verification failed: signature does not match the Token")
        self._check_clock(timestamp)
        return WebhookResponse(200, echostr, media_type="text/plain")

    def open(self, request: WebhookRequest) -> Callback:
        """Verify the callback and return its authentic fields. Raises 401/403/400 as WebhookErrors."""
        q = request.query
        signature, timestamp, nonce = q.get("signature"), q.get("timestamp"), q.get("nonce")
        if not signature or not timestamp or not nonce:
            raise Unauthorized("signature, timestamp and nonce are required")
        if len(nonce) > MAX_NONCE_LENGTH:
            raise BadRequest(f"nonce is over {MAX_NONCE_LENGTH} characters")
        if not signature_matches(signature, self._token, timestamp, nonce):
            raise Forbidden("signature does not match the Token")
        when = self._check_clock(timestamp)
        if len(request.body) > MAX_XML_BYTES:
            raise BadRequest(f"body over {MAX_XML_BYTES} bytes")
        outer = _xml(request.body)
        if self._crypto is None:
            if "MsgType" not in outer.fields and "Encrypt" in outer.fields:
                raise BadRequest(
                    "the message is encrypted but this integration has no encoding_aes_key "
                    "(set it, with the console's encryption mode)"
                )
            return Callback(outer.fields, encrypted=False, nonce=nonce, timestamp=when, tree=outer.tree)
        msg_signature = q.get("msg_signature")
        if not msg_signature:
            raise Unauthorized(f"msg_signature is required in {self.config.encryption_mode} mode")
        encrypted = outer.fields.get("Encrypt")
        if not encrypted:
            raise BadRequest("Encrypt is missing from the message")
        try:
            plain = self._crypto.open(encrypted, msg_signature, timestamp, nonce)
        except InvalidSignature:
            raise Forbidden("msg_signature does not match the encrypted message") from None
        except InvalidAppId:
            raise Forbidden("the message was encrypted for another AppID") from None
        except DecryptError as exc:
            raise BadRequest(f"the message does not decrypt ({exc}); check encoding_aes_key") from None
        inner = _xml(plain)
        return Callback(inner.fields, encrypted=True, nonce=nonce, timestamp=when, tree=inner.tree)

    def _check_clock(self, timestamp: str) -> int:
        if not (timestamp.isascii() and timestamp.isdigit()):  # "²".isdigit() holds, but int("²") raises
            raise Forbidden("timestamp is not a number")
        when = int(timestamp)
        skew = abs(self.clock() - when)
        if skew > self.config.max_clock_skew:
            raise Forbidden(
                f"timestamp is {skew:.0f} s away from our clock (limit {self.config.max_clock_skew:.0f} s): "
                "a replayed callback, or a clock that needs NTP"
            )
        return when


def _xml(body: bytes) -> XmlMessage:
    try:
        return read_xml(body)
    except XmlError as exc:
        raise BadRequest(str(exc)) from None
