"""Meta's webhook checks: the ``hub.*`` verification handshake and the ``X-Hub-Signature-256`` signature.

* Meta sends ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`` when the webhook is configured,
  and expects the bare challenge back (``200 text/plain``) or a ``403``.
* ``X-Hub-Signature-256`` is ``sha256=`` + hex HMAC-SHA256 of the **raw** body with the app secret. It is
  checked before anything is parsed, in constant time; a missing header is ``401``, a wrong one ``403``. An
  integration without an app secret only starts when its config says ``insecure_no_signature: true`` (for
  local trials), and that is warned about at every start.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pydantic import SecretStr

from channelgate.channels.base import Forbidden, Unauthorized, WebhookRequest, WebhookResponse
from channelgate.channels.meta.config import MetaSettings

SIGNATURE_HEADER = "X-Hub-Signature-256"


def handshake(request: WebhookRequest, verify_token: SecretStr) -> WebhookResponse | None:
    """Meta's webhook verification: every GET is one, answered with the challenge or 403."""
    if request.method.upper() != "GET":
        return None
    mode = request.query.get("hub.mode", "")
    token = request.query.get("hub.verify_token", "")
    challenge = request.query.get("hub.challenge")
    expected = verify_token.get_secret_value()
    token_ok = hmac.compare_digest(token.encode(), expected.encode())
    if mode == "subscribe" and token_ok and challenge is not None and expected:
        return WebhookResponse(200, challenge, media_type="text/plain")
    return WebhookResponse(403, "verification failed: hub.mode or hub.verify_token do not match")


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(request: WebhookRequest, config: MetaSettings) -> None:
    """Raise Unauthorized (no signature) or Forbidden (wrong one), computed over the raw body.

    With an app secret the check always runs, even when ``insecure_no_signature`` is also set: the flag only
    allows running *without* a secret.
    """
    secret = config.app_secret.get_secret_value() if config.app_secret is not None else ""
    if not secret:
        if config.insecure_no_signature:
            return
        raise Forbidden("no app_secret is configured, so webhook signatures cannot be checked")
    header = request.header(SIGNATURE_HEADER)
    if not header:
        raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
    expected = sign(request.body, secret)
    if not hmac.compare_digest(header.strip().lower().encode(), expected.encode()):
        raise Forbidden(f"{SIGNATURE_HEADER} does not match the body")


def obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: webhook payloads are read defensively."""
    return value if isinstance(value, dict) else {}
