"""Google's webhook handshake and signature, the same for GBM and RBM.

* :func:`verification_answer`: Google verifies a webhook with a POST carrying ``clientToken`` and
  ``secret``; the gateway answers the secret only when the client token matches.
* :func:`sign` / :func:`check_signature`: ``X-Goog-Signature`` is the base64 HMAC-SHA512 of the signed
  bytes keyed with the client token (GBM signs the raw body, RBM the decoded ``message.data``), compared in
  constant time and failing closed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import parse_qs, unquote_plus

import orjson
from pydantic import SecretStr

from channelgate.channels.base import Forbidden, Unauthorized, WebhookRequest, WebhookResponse

SIGNATURE_HEADER = "X-Goog-Signature"


def _verification_fields(request: WebhookRequest) -> dict[str, str] | None:
    """``clientToken`` and ``secret`` from a verification POST: a JSON object (as Google documents it), or a
    form-encoded body or URL-encoded JSON document (an earlier gateway, OpenCUI, received it URL-encoded)."""
    body = request.body.strip()
    if not body:
        return None
    candidates: list[bytes] = [body]
    if b"%" in body:
        candidates.append(unquote_plus(body.decode("utf-8", "replace")).encode())
    for candidate in candidates:
        try:
            data = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if isinstance(v, str)}
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[0] for k, v in form.items() if v}


def verification_answer(request: WebhookRequest, client_token: SecretStr) -> WebhookResponse | None:
    """Google's webhook verification: a POST carrying ``clientToken`` and ``secret``. Answer ``200`` with
    the secret as a plain-text body when the client token matches, ``403`` otherwise; ``None`` when the
    request is not a verification at all (an ordinary event)."""
    if request.method.upper() != "POST":
        return None
    fields = _verification_fields(request)
    if fields is None or "secret" not in fields or "clientToken" not in fields:
        return None
    expected = client_token.get_secret_value()
    given = fields["clientToken"]
    if expected and hmac.compare_digest(given.encode(), expected.encode()):
        return WebhookResponse(200, fields["secret"], media_type="text/plain")
    return WebhookResponse(403, "verification failed: clientToken does not match", media_type="text/plain")


def sign(signed: bytes, client_token: str) -> str:
    """The ``X-Goog-Signature`` Google sends: base64 of HMAC-SHA512 over ``signed`` keyed with the token."""
    digest = hmac.new(client_token.encode(), signed, hashlib.sha512).digest()
    return base64.b64encode(digest).decode()


def check_signature(signed: bytes, header: str | None, client_token: SecretStr) -> None:
    """Raise Unauthorized (no header) or Forbidden (wrong one). Compares the raw digests in constant time;
    a header that is not base64 is simply wrong."""
    if not header or not header.strip():
        raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
    secret = client_token.get_secret_value()
    if not secret:
        raise Forbidden("no client_token is configured, so webhook signatures cannot be checked")
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        given = b""
    expected = hmac.new(secret.encode(), signed, hashlib.sha512).digest()
    if not hmac.compare_digest(given, expected):
        raise Forbidden(f"{SIGNATURE_HEADER} does not match the body")
