"""What an integration created or changed through the admin API may not do, whatever the key's scope.

An API key is not the operator: with a full-scope key one can create and change integrations, but never
make the gateway hand a stored token to another host, read a file of the server, or switch a security
check off. The config file, written by the operator, may still do all three (with warnings).

* Endpoint settings (``api_base_url``, every ``http(s)://`` setting that is not a declared link) may only
  name the channel's official hosts (``ChannelConfig.endpoint_hosts``, over HTTPS) or a host of the
  server's ``admin_api.allowed_hosts``. Checked on the whole resulting config, so a PATCH of another
  field cannot keep a host that is no longer allowed.
* The hand-off desk's URL (``handoff.chatwoot.url``, where the desk's token and the users' messages go)
  follows the endpoints' rule; Chatwoot has no official host, so only ``admin_api.allowed_hosts`` allows it.
* Settings the channel reads from a file when given a path (a Google ``service_account``) must be inline:
  checked before anything is validated, so not even the existence of a path is probed.
* Settings that turn a security check off (``ChannelConfig.insecure_settings``) are refused.
* Media URLs in messages sent through the API must be public: some channels (WeChat) download the media
  themselves to upload it, which would let a key fetch internal pages and read the outcome in transcripts.

Errors name the field and never echo anything fetched: the gateway makes no request while checking.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from channelgate.api.errors import ApiError
from channelgate.api_rules import api_refusal, public_url
from channelgate.channels.base import ChannelConfig
from channelgate.handoff.settings import IntegrationHandoff


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


def check_api_config(
    config: ChannelConfig, allowed_hosts: Iterable[str], handoff: IntegrationHandoff | None = None
) -> None:
    """Everything the API refuses in a validated config and its ``handoff:`` key: 400 naming the field."""
    reason = api_refusal(config, allowed_hosts, handoff)
    if reason is not None:
        raise ApiError(400, reason)


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
