"""What an integration created or changed through the admin API may not do, whatever the key's scope.

An API key is not the operator: with a full-scope key one can create and change integrations, but never
make the gateway hand a stored token to another host, read a file of the server, or switch a security
check off. The config file, written by the operator, may still do all three (with warnings).

* Endpoint settings (``api_base_url``, every ``http(s)://`` setting that is not a declared link) may only
  name the channel's official hosts (``ChannelConfig.endpoint_hosts``, over HTTPS) or a host of the
  server's ``admin_api.allowed_hosts``. Checked on the whole resulting config, so a PATCH of another
  field cannot keep a host that is no longer allowed.
* Settings the channel reads from a file when given a path (a Google ``service_account``) must be inline:
  checked before anything is validated, so not even the existence of a path is probed.
* Settings that turn a security check off (``ChannelConfig.insecure_settings``) are refused.
* Media URLs in messages sent through the API must be public: some channels (WeChat) download the media
  themselves to upload it, which would let a key fetch internal pages and read the outcome in transcripts.

Errors name the field and never echo anything fetched: the gateway makes no request while checking.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from channelgate.api.errors import ApiError
from channelgate.channels.base import ChannelConfig


def check_inline(config_cls: type[ChannelConfig], raw: Mapping[str, Any]) -> None:
    """Refuse a path where the API accepts only the value itself, before the channel would read it."""
    for name in sorted(config_cls.inline_only):
        value = raw.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip().startswith("{"):
            raise ApiError(
                400,
                f"config.{name}: give the key's JSON itself; through the API a path on the server is not "
                "accepted (a file path works in the config file)",
            )


def check_secure(config: ChannelConfig) -> None:
    insecure = config.insecure_settings()
    if insecure:
        details = "; ".join(f"config.{name}: {why}" for name, why in sorted(insecure.items()))
        raise ApiError(
            400,
            f"{details}. The admin API does not switch security checks off; set it in the config file if "
            "you must (it is then shown in /readyz)",
        )


def _host_port(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port or None); port -1 when the URL cannot be read (never allowed)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # "http://[::1" or a port out of range
        return "", "", -1
    return parts.scheme.lower(), (parts.hostname or "").rstrip(".").lower(), port


def _split_entry(entry: str) -> tuple[str, str]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` → (host, port or "")."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    host, _, port = entry.partition(":")
    return host, port


def _allowed(host: str, port: int | None, scheme: str, allowed: Iterable[str]) -> bool:
    """Whether an ``admin_api.allowed_hosts`` entry names this host (and port, when it gives one)."""
    effective = port if port is not None else {"https": 443, "http": 80}.get(scheme)
    for entry in allowed:
        name, entry_port = _split_entry(entry)
        if name == host and (not entry_port or int(entry_port) == effective):
            return True
    return False


def check_endpoints(config: ChannelConfig, allowed_hosts: Iterable[str]) -> None:
    allowed = list(allowed_hosts)
    for name, url in sorted(config.endpoints().items()):
        scheme, host, port = _host_port(url)
        official = type(config).endpoint_hosts.get(name, ())
        if scheme == "https" and port in (None, 443) and host in official:
            continue
        if host and port != -1 and _allowed(host, port, scheme, allowed):
            continue
        where = f"{host}:{port}" if port not in (None, -1) else (host or "?")
        choices = ", ".join(f"https://{h}" for h in official) or "none"
        raise ApiError(
            400,
            f"config.{name}: {where} is not a host this server lets the API point integrations at (the "
            f"channel's own: {choices}); add it to admin_api.allowed_hosts in the config file to allow it",
        )


def check_api_config(config: ChannelConfig, allowed_hosts: Iterable[str]) -> None:
    """Everything the API refuses in a validated config."""
    check_secure(config)
    check_endpoints(config, allowed_hosts)


#: Names that only mean something inside a network (RFC 6761/6762, common private suffixes).
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".intranet", ".lan", ".home.arpa")


def public_url(url: str) -> bool:
    """Whether ``url`` names a host on the public internet, judged from its text (no lookup: a name that
    resolves to a private address needs an egress proxy to be stopped, see docs/security.md)."""
    scheme, host, port = _host_port(url)
    if scheme not in ("http", "https") or not host or port == -1:
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    if host == "localhost" or host.endswith(_PRIVATE_SUFFIXES) or "." not in host:
        return False
    return not host.replace(".", "").isdigit()  # 2130706433, 127.1: numeric forms a resolver may accept


def _media_urls(message: Mapping[str, Any]) -> Iterator[str]:
    kind = message.get("type")
    if kind == "media":
        yield str(message.get("url", ""))
    elif kind == "card" and isinstance(message.get("media"), Mapping):
        yield str(message["media"].get("url", ""))
    elif kind == "carousel":
        for card in message.get("cards") or []:
            yield from _media_urls(card)
    elif kind == "channel":
        yield from _urls_in(message.get("payloads"))
        if isinstance(message.get("fallback"), Mapping):
            yield from _media_urls(message["fallback"])


def _urls_in(value: Any) -> Iterator[str]:
    """Every URL-looking string of a raw platform payload (it may carry media the channel fetches)."""
    if isinstance(value, str):
        if value.strip().lower().startswith(("http://", "https://")):
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _urls_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _urls_in(item)


def check_public_media(messages: Iterable[Mapping[str, Any]], where: str = "messages") -> None:
    """Refuse messages whose media (or raw payload URLs) point inside a network: 400 naming the URL.
    ``where``: ``messages`` (a list: the index is named) or ``message`` (a broadcast's one message)."""
    for index, message in enumerate(messages):
        field = where if where == "message" else f"{where}.{index}"
        for url in _media_urls(message):
            if not public_url(url):
                raise ApiError(
                    400,
                    f"{field}: {url[:200]!r} is not a public http(s) URL; media sent through the API must "
                    "be on the public internet",
                )
