"""Rules for settings that come from an API key rather than from the operator (docs/security.md), as
pure functions of a validated channel config: used by the admin API to refuse a create or change, and by
the loader of stored integrations, so one stored before these rules existed (or before the operator
narrowed ``admin_api.allowed_hosts``) does not start. URLs are judged from their text; nothing is fetched.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from channelgate.channels.base import ChannelConfig
from channelgate.handoff.settings import IntegrationHandoff


def insecure_refusal(config: ChannelConfig) -> str | None:
    """Why ``config`` may not come from the API because it switches a security check off, or None."""
    insecure = config.insecure_settings()
    if not insecure:
        return None
    details = "; ".join(f"config.{name}: {why}" for name, why in sorted(insecure.items()))
    return (
        f"{details}. The admin API does not switch security checks off; set it in the config file if you "
        "must (it is then shown in /readyz)"
    )


def host_port(url: str) -> tuple[str, str, int | None]:
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


def url_refusal(field: str, url: str, official: Iterable[str], allowed_hosts: Iterable[str]) -> str | None:
    """Why the API may not point ``field`` at ``url``, or None: allowed are ``official`` hosts over HTTPS
    and the server's ``admin_api.allowed_hosts``. The message starts with ``field``."""
    official = tuple(official)
    scheme, host, port = host_port(url)
    if scheme == "https" and port in (None, 443) and host in official:
        return None
    if host and port != -1 and _allowed(host, port, scheme, allowed_hosts):
        return None
    where = f"{host}:{port}" if port not in (None, -1) else (host or "?")
    choices = ", ".join(f"https://{h}" for h in official) or "none"
    return (
        f"{field}: {where} is not a host this server lets the API point integrations at (the official "
        f"ones: {choices}); add it to admin_api.allowed_hosts in the config file to allow it"
    )


def endpoint_refusal(config: ChannelConfig, allowed_hosts: Iterable[str]) -> str | None:
    """Why an endpoint setting of ``config`` names a host the API may not point at, or None: allowed are
    the channel's official hosts over HTTPS and the server's ``admin_api.allowed_hosts``."""
    allowed = list(allowed_hosts)
    for name, url in sorted(config.endpoints().items()):
        official = type(config).endpoint_hosts.get(name, ())
        refusal = url_refusal(f"config.{name}", url, official, allowed)
        if refusal is not None:
            return refusal
    return None


def desk_refusal(handoff: IntegrationHandoff | None, allowed_hosts: Iterable[str]) -> str | None:
    """Why the hand-off desk may not be reached where ``handoff`` says, or None. The gateway sends the
    desk's access token and the users' messages there, so the rule is the channel endpoints' one; Chatwoot
    has no official host (each team runs or rents its own), so only ``admin_api.allowed_hosts`` allows it."""
    desk = handoff.chatwoot if handoff is not None else None
    if desk is None:
        return None
    return url_refusal("handoff.chatwoot.url", desk.url, (), allowed_hosts)


def api_refusal(
    config: ChannelConfig, allowed_hosts: Iterable[str], handoff: IntegrationHandoff | None = None
) -> str | None:
    """Everything the API refuses in a validated integration (its channel settings and its ``handoff:``
    key), as one reason naming the field, or None."""
    allowed = list(allowed_hosts)
    return insecure_refusal(config) or endpoint_refusal(config, allowed) or desk_refusal(handoff, allowed)


#: Names that only mean something inside a network (RFC 6761/6762, common private suffixes).
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".intranet", ".lan", ".home.arpa")


def public_url(url: str) -> bool:
    """Whether ``url`` names a host on the public internet, judged from its text (no lookup: a name that
    resolves to a private address needs an egress proxy to be stopped, see docs/security.md)."""
    scheme, host, port = host_port(url)
    if scheme not in ("http", "https") or not host or port == -1:
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    if host == "localhost" or host.endswith(_PRIVATE_SUFFIXES) or "." not in host:
        return False
    return not host.replace(".", "").isdigit()  # 2130706433, 127.1: numeric forms a resolver may accept
