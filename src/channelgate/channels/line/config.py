"""The LINE integration's settings: the channel secret (signs every webhook), the channel access token
(authorises every API call), and where the Messaging API is (``api_base_url``, pointed at the simulator in
tests). Both secrets come from the LINE Developers Console, channel → "Basic settings" and "Messaging API".

LINE serves message content (what users send as images, videos, audio and files) from a second host,
``api-data.line.me``. Rather than a second setting, :meth:`LineConfig.data_url` derives it: the data host
when ``api_base_url`` is LINE's own, else ``api_base_url`` itself (a simulator or proxy serves both)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator

from channelgate.channels.base import BaseUrl, ChannelConfig

DEFAULT_API_BASE_URL = "https://api.line.me"
DATA_API_URL = "https://api-data.line.me"
#: Where Messaging API calls may go when the admin API sets ``api_base_url`` (ChannelConfig.endpoint_hosts).
LINE_HOSTS = ("api.line.me", "api-data.line.me")


class LineConfig(ChannelConfig):
    """``channel_secret``: LINE Developers Console → your Messaging API channel → Basic settings → Channel
    secret (checks ``X-Line-Signature`` on every webhook). ``channel_access_token``: same channel →
    Messaging API → Channel access token (long-lived), issue it there. ``api_base_url``: the Messaging API
    (default ``https://api.line.me``; the simulator in tests). ``rate_limit``: send calls per second for
    this channel (default 2,000, LINE's documented limit for the send endpoints)."""

    channel_secret: SecretStr
    channel_access_token: SecretStr
    api_base_url: BaseUrl = DEFAULT_API_BASE_URL

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_base_url": LINE_HOSTS}

    @field_validator("channel_secret", "channel_access_token")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        if not text:
            raise ValueError("must not be empty (copy it from the LINE Developers Console)")
        if any(c.isspace() or ord(c) < 32 for c in text):
            raise ValueError("must not contain spaces or control characters")
        return SecretStr(text)

    def data_url(self) -> str:
        """Where message content is fetched: LINE's data host for LINE's API, else ``api_base_url``."""
        host = urlsplit(self.api_base_url).hostname or ""
        return DATA_API_URL if host == "api.line.me" else self.api_base_url
