"""The crypto unit against the reference vectors (§0.3-0.5) and against wechatpy, an independent
implementation used only here."""

from __future__ import annotations

import base64

import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from channelgate.channels.wechat.crypto import (
    DecryptError,
    InvalidAppId,
    InvalidSignature,
    MessageCrypto,
    PrpCrypto,
    aes_key,
    pkcs7_pad,
    pkcs7_unpad,
    sha1_signature,
    signature_matches,
)

from .helpers import (
    AES_KEY,
    APP_ID,
    NONCE,
    TIMESTAMP,
    TOKEN,
    VECTOR_ENCRYPT,
    VECTOR_MSG_SIGNATURE,
    VECTOR_SIGNATURE,
    VECTOR_XML,
)

# §0.5: WeCom's published vector (wechatpy tests/test_crypto.py), same PrpCrypto algorithm
WECOM_TOKEN = "123456"
WECOM_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
WECOM_ID = "wx49f0ab532d5d035a"
WECOM_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymz"
    "xh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hI"
    "iOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYE"
    "vccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
WECOM_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
WECOM_REPLY_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtOb"
    "vesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8"
    "NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O"
    "5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)


def test_plaintext_signature_matches_the_reference_vector() -> None:
    assert sha1_signature(TOKEN, TIMESTAMP, NONCE) == VECTOR_SIGNATURE
    assert signature_matches(VECTOR_SIGNATURE, TOKEN, TIMESTAMP, NONCE)
    assert signature_matches(VECTOR_SIGNATURE.upper(), TOKEN, TIMESTAMP, NONCE)
    assert check_signature(TOKEN, VECTOR_SIGNATURE, TIMESTAMP, NONCE) is None  # wechatpy agrees


@pytest.mark.parametrize("given", [None, "", "0" * 40, VECTOR_SIGNATURE[:-1] + "0"])
def test_wrong_or_missing_signature_does_not_match(given: str | None) -> None:
    assert not signature_matches(given, TOKEN, TIMESTAMP, NONCE)


def test_aes_key_and_iv_match_the_reference_vector() -> None:
    key = aes_key(AES_KEY)
    assert key.hex() == "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
    assert key[:16].hex() == "69b71d79f8218a39259a7a29aabb2dba"


def test_safe_mode_encrypt_is_byte_for_byte_the_reference_vector() -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    encrypted, signature = crypto.seal(VECTOR_XML, TIMESTAMP, NONCE, random_prefix=b"0123456789abcdef")
    assert encrypted == VECTOR_ENCRYPT
    assert signature == VECTOR_MSG_SIGNATURE
    assert len(base64.b64decode(encrypted)) == 288


def test_vector_padding_is_one_byte_of_0x01() -> None:
    plain = len(b"0123456789abcdef") + 4 + len(VECTOR_XML.encode()) + len(APP_ID)
    assert pkcs7_pad(b"x" * plain)[-1:] == b"\x01"
    assert len(pkcs7_pad(b"x" * plain)) == 288


def test_reference_vector_decrypts_and_verifies() -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    assert crypto.open(VECTOR_ENCRYPT, VECTOR_MSG_SIGNATURE, TIMESTAMP, NONCE) == VECTOR_XML.encode()


def test_wecom_published_message_vector_decrypts() -> None:
    crypto = MessageCrypto(WECOM_TOKEN, WECOM_KEY, WECOM_ID)
    plain = crypto.open(WECOM_ENCRYPT, "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294")
    assert b"<FromUserName><![CDATA[messense]]></FromUserName>" in plain
    assert b"<Content><![CDATA[test]]></Content>" in plain
    assert b"<MsgId>4363689963896700987</MsgId>" in plain


def test_wecom_published_message_vector_has_its_random_prefix() -> None:
    sealed = base64.b64decode(WECOM_ENCRYPT)
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = aes_key(WECOM_KEY)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = pkcs7_unpad(decryptor.update(sealed) + decryptor.finalize())
    assert plain[:16] == b"ec90b1530358d4d3"
    assert plain.endswith(WECOM_ID.encode())


def test_wecom_published_reply_vector_encrypts_byte_for_byte() -> None:
    crypto = MessageCrypto(WECOM_TOKEN, WECOM_KEY, WECOM_ID)
    encrypted, signature = crypto.seal(
        WECOM_REPLY, "1411525903", "461056294", random_prefix=b"1234567890123456"
    )
    assert encrypted == WECOM_REPLY_ENCRYPT
    assert signature == "407518b7649e86ef23978113f92d27afa9296533"


def test_wecom_published_echostr_vector_decrypts() -> None:
    echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
    crypto = MessageCrypto(WECOM_TOKEN, WECOM_KEY, WECOM_ID)
    assert crypto.open(echostr, "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425") == (
        b"5927782489442352469"
    )
    with pytest.raises(InvalidSignature):
        crypto.open(echostr, "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374424")


def test_wechatpy_decrypts_what_we_encrypt() -> None:
    ours = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    encrypted, signature = ours.seal(
        "<xml><Content><![CDATA[你好 ]]]]><![CDATA[>]]></Content></xml>", "1", "2"
    )
    envelope = (
        f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    plain = WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(envelope, signature, "1", "2")
    assert "你好" in plain


def test_we_decrypt_what_wechatpy_encrypts() -> None:
    envelope = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(VECTOR_XML, "987", "1700000100")
    from channelgate.channels.wechat.xml import parse_xml

    fields = parse_xml(envelope)
    plain = MessageCrypto(TOKEN, AES_KEY, APP_ID).open(
        fields["Encrypt"], fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
    )
    assert plain == VECTOR_XML.encode()


def test_wechatpy_refuses_our_message_for_another_app_id_like_we_do() -> None:
    encrypted, signature = MessageCrypto(TOKEN, AES_KEY, "wxother000000000").seal(VECTOR_XML, "1", "2")
    envelope = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    with pytest.raises(InvalidAppIdException):
        WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(envelope, signature, "1", "2")
    with pytest.raises(InvalidAppId):
        MessageCrypto(TOKEN, AES_KEY, APP_ID).open(encrypted, signature, "1", "2")


def test_wrong_msg_signature_is_refused_before_decrypting() -> None:
    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    with pytest.raises(InvalidSignature):
        crypto.open(VECTOR_ENCRYPT, "0" * 40, TIMESTAMP, NONCE)
    with pytest.raises(InvalidSignature):
        crypto.open("garbage that is not base64", None, TIMESTAMP, NONCE)
    envelope = f"<xml><Encrypt><![CDATA[{VECTOR_ENCRYPT}]]></Encrypt></xml>"
    with pytest.raises(InvalidSignatureException):  # wechatpy agrees the signature is wrong
        WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(envelope, "0" * 40, TIMESTAMP, NONCE)


def test_tampered_ciphertext_fails_to_decrypt() -> None:
    sealed = bytearray(base64.b64decode(VECTOR_ENCRYPT))
    sealed[-1] ^= 0x55
    with pytest.raises(DecryptError):
        PrpCrypto(AES_KEY).decrypt(base64.b64encode(bytes(sealed)).decode())
    with pytest.raises(DecryptError):
        PrpCrypto(AES_KEY).decrypt(base64.b64encode(b"short").decode())
    with pytest.raises(DecryptError):
        PrpCrypto(AES_KEY).decrypt("not base64!")


def test_aligned_plaintext_gets_a_full_block_of_padding() -> None:
    padded = pkcs7_pad(b"a" * 64)
    assert len(padded) == 96 and padded[-32:] == bytes([32]) * 32
    assert pkcs7_unpad(padded) == b"a" * 64
    with pytest.raises(DecryptError):
        pkcs7_unpad(b"a" * 31 + b"\x21")  # 33 > block size
    with pytest.raises(DecryptError):
        pkcs7_unpad(b"a" * 30 + b"\x01\x02")  # inconsistent pad bytes


@pytest.mark.parametrize("key", ["short", AES_KEY + "A", "!" * 43])
def test_malformed_encoding_aes_key_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(ValueError) as caught:
        aes_key(key)
    assert key not in str(caught.value)
