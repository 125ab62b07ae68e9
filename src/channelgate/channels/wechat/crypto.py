"""WeChat's message signatures and its "safe mode" encryption (消息加解密), as a small unit of its own.

Two signatures, both SHA-1 over the lexicographically sorted strings joined with nothing (no HMAC):

* ``signature = sha1(sorted([token, timestamp, nonce]))`` on the URL verification and on every callback;
  it proves the sender knows the token but does **not** cover the body.
* ``msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]))`` in compatible and safe mode; it
  covers the ciphertext, so a verified and decrypted body is authentic.

The cipher (WeChat's "PrpCrypto"): ``key = base64(EncodingAESKey + "=")`` (32 bytes), AES-256-CBC with
``IV = key[:16]``, plaintext ``random(16) || uint32_be(len(xml)) || xml || appid`` padded with PKCS#7 to a
multiple of **32** bytes, then base64. Verified against the vectors in the reference notes (§0.4, §0.5) and
against wechatpy in the tests.

Every comparison of a secret-derived value uses :func:`hmac.compare_digest`. Verify ``msg_signature``
before decrypting, so no unauthenticated ciphertext ever reaches the padding check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not the AES block size of 16
RANDOM_PREFIX = 16


class WeChatCryptoError(Exception):
    """A message that cannot be authenticated or decrypted. The text never contains key material."""


class InvalidSignature(WeChatCryptoError):
    pass


class InvalidAppId(WeChatCryptoError):
    pass


class DecryptError(WeChatCryptoError):
    pass


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: lowercase hex SHA-1 of the sorted parts joined with the empty string."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's protocol


def signature_matches(given: str | None, *parts: str) -> bool:
    """Whether ``given`` is the signature of ``parts``, compared in constant time (case-insensitive hex)."""
    if not given:
        return False
    expected = sha1_signature(*parts)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey; ValueError when it is not one."""
    if len(encoding_aes_key) != 43:
        raise ValueError("an EncodingAESKey has exactly 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("an EncodingAESKey is base64 (letters and digits)") from None
    if len(key) != 32:
        raise ValueError("an EncodingAESKey must decode to 32 bytes")
    return key


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    pad = block - len(data) % block
    return data + bytes([pad]) * pad


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    """Strip PKCS#7 padding, refusing anything that is not exactly what :func:`pkcs7_pad` makes."""
    if not data or len(data) % 16:
        raise DecryptError("ciphertext length is not a multiple of the AES block")
    pad = data[-1]
    if not 1 <= pad <= block or pad > len(data) or data[-pad:] != bytes([pad]) * pad:
        raise DecryptError("bad padding")
    return data[:-pad]


class PrpCrypto:
    """WeChat's message cipher for one EncodingAESKey."""

    def __init__(self, encoding_aes_key: str) -> None:
        self._key = aes_key(encoding_aes_key)

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, content: bytes | str, app_id: str, random_prefix: bytes | None = None) -> str:
        """Base64 ciphertext of ``content`` for ``app_id``. ``random_prefix`` (16 bytes) is for test vectors
        only; by default it is fresh random bytes."""
        data = content.encode() if isinstance(content, str) else content
        prefix = secrets.token_bytes(RANDOM_PREFIX) if random_prefix is None else random_prefix
        if len(prefix) != RANDOM_PREFIX:
            raise ValueError("the random prefix is 16 bytes")
        plain = prefix + struct.pack(">I", len(data)) + data + app_id.encode()
        encryptor = self._cipher().encryptor()
        sealed = encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()
        return base64.b64encode(sealed).decode("ascii")

    def decrypt(self, encrypted: str) -> tuple[bytes, str]:
        """The content and the app id (or WeCom corp id) inside ``encrypted``."""
        try:
            sealed = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("Encrypt is not base64") from None
        if not sealed or len(sealed) % 16:
            raise DecryptError("ciphertext length is not a multiple of the AES block")
        decryptor = self._cipher().decryptor()
        plain = pkcs7_unpad(decryptor.update(sealed) + decryptor.finalize())
        if len(plain) < RANDOM_PREFIX + 4:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", plain[RANDOM_PREFIX : RANDOM_PREFIX + 4])
        start = RANDOM_PREFIX + 4
        if start + length > len(plain):
            raise DecryptError("length field beyond the plaintext")
        try:
            app_id = plain[start + length :].decode()
        except UnicodeDecodeError:
            raise DecryptError("app id is not UTF-8") from None
        return plain[start : start + length], app_id

    def decrypt_for(self, encrypted: str, app_id: str) -> bytes:
        """The content of ``encrypted``, which must have been sealed for ``app_id``."""
        content, found = self.decrypt(encrypted)
        if not hmac.compare_digest(found.encode(), app_id.encode()):
            raise InvalidAppId("the message was encrypted for another app id")
        return content


class MessageCrypto:
    """Signature checks plus the cipher, for one Official Account (token, EncodingAESKey, AppID)."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self._token = token
        self._prp = PrpCrypto(encoding_aes_key)
        self.app_id = app_id

    def msg_signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return sha1_signature(self._token, timestamp, nonce, encrypted)

    def open(self, encrypted: str, msg_signature: str | None, timestamp: str, nonce: str) -> bytes:
        """Verify ``msg_signature`` over the ciphertext, then decrypt it and check the app id."""
        if not signature_matches(msg_signature, self._token, timestamp, nonce, encrypted):
            raise InvalidSignature("msg_signature does not match")
        return self._prp.decrypt_for(encrypted, self.app_id)

    def seal(
        self, content: bytes | str, timestamp: str, nonce: str, random_prefix: bytes | None = None
    ) -> tuple[str, str]:
        """Encrypt ``content`` and sign it: ``(Encrypt, MsgSignature)``."""
        encrypted = self._prp.encrypt(content, self.app_id, random_prefix)
        return encrypted, self.msg_signature(timestamp, nonce, encrypted)
