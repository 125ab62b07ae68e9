"""The service-account key both Google channels authenticate with: loaded, checked, never echoed.

``service_account`` is a path to the JSON key file or the key itself, inline. Every error names the path or
the missing field, never the key's content; google-auth parses the private key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from google.oauth2 import service_account
from pydantic import SecretStr

#: Where Google's keys send their signed assertions (``token_uri``), old and new.
GOOGLE_TOKEN_HOSTS = ("oauth2.googleapis.com", "accounts.google.com", "www.googleapis.com")


def load_service_account(value: SecretStr) -> dict[str, Any]:
    """The key's JSON, with the fields the token exchange needs checked present."""
    raw = value.get_secret_value().strip()
    if not raw:
        raise ValueError("service_account is empty: give the path to the key file or its JSON")
    if raw.startswith("{"):
        text, where = raw, "service_account (inline JSON)"
    else:
        path = Path(raw).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"service_account: cannot read {path}: {exc.strerror or exc}") from None
        where = f"service_account key file {path}"
    try:
        info = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError(f"{where} is not valid JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ValueError(f'{where} is not a service-account key ("type": "service_account")')
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    return info


def credentials_from(info: dict[str, Any]) -> service_account.Credentials:
    """google-auth's credentials for a loaded key (it parses the private key)."""
    factory = service_account.Credentials.from_service_account_info
    try:
        credentials: service_account.Credentials = factory(info)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"service_account: the private key cannot be loaded ({type(exc).__name__})"
        ) from None
    return credentials


def load_credentials(value: SecretStr) -> service_account.Credentials:
    """The key, loaded and checked by google-auth."""
    return credentials_from(load_service_account(value))


def check_key(value: SecretStr, api_base_url: str) -> None:
    """Load the key (refusing a broken one at start) and refuse a ``token_uri`` that is neither Google's
    nor on the host of the integration's own ``api_base_url`` (a simulator serving both): the gateway
    sends a signed assertion there, which is as good as the key for an hour."""
    info = load_service_account(value)
    credentials_from(info)
    token_uri = str(info["token_uri"])
    parts, api = urlsplit(token_uri), urlsplit(api_base_url)
    host = (parts.hostname or "").rstrip(".")
    official = parts.scheme == "https" and host in GOOGLE_TOKEN_HOSTS
    same_origin = bool(host) and (parts.scheme, parts.netloc) == (api.scheme, api.netloc)
    if not (official or same_origin):
        raise ValueError(
            f"service_account: the key's token_uri ({parts.scheme}://{parts.netloc or '?'}) is not Google's "
            f"({', '.join(GOOGLE_TOKEN_HOSTS)}) nor api_base_url's host; the gateway will not send a signed "
            "assertion there (use the key as Google issued it)"
        )
