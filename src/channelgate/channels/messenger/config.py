"""A Messenger integration's settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr

from channelgate.channels.base import BaseUrl, ChannelConfig
from channelgate.channels.meta.config import (
    DEFAULT_API_BASE_URL,
    GRAPH_HOSTS,
    meta_insecure_settings,
)


class MessengerConfig(ChannelConfig):
    """``verify_token``: any secret you choose, pasted into the app's webhook settings too.
    ``app_secret``: App settings → Basic → App secret (checks every webhook's signature).
    ``page_access_token``: Messenger → Access Tokens → Generate token, for the Page.
    ``rate_limit``: send calls per second for this Page (default: the channel's 300/s).
    ``page_id``: the Page's id (Page → About → Page transparency, or ``GET /me`` with the page token); when
    set, events for another Page of the same app are skipped, so a shared app secret cannot cross Pages."""

    verify_token: SecretStr
    app_secret: SecretStr | None = None
    page_access_token: SecretStr
    api_base_url: BaseUrl = DEFAULT_API_BASE_URL
    insecure_no_signature: bool = False
    page_id: str | None = Field(default=None, pattern=r"^[0-9]{1,64}$")

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_base_url": GRAPH_HOSTS}

    def insecure_settings(self) -> dict[str, str]:
        return meta_insecure_settings(self)
