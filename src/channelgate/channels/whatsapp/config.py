"""A WhatsApp Business integration's settings."""

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


class WhatsAppConfig(ChannelConfig):
    """``verify_token``: any secret you choose, pasted into the app's webhook settings too.
    ``app_secret``: App settings → Basic → App secret (checks every webhook's signature).
    ``access_token``: a System User token with ``whatsapp_business_messaging``.
    ``phone_number_id``: WhatsApp → API Setup → Phone number ID (not the phone number itself).
    ``business_account_id``: the WhatsApp Business Account id; when set, other accounts' webhooks are ignored.
    ``rate_limit``: messages per second for this phone number (Cloud API default throughput: 80)."""

    verify_token: SecretStr
    app_secret: SecretStr | None = None
    access_token: SecretStr
    phone_number_id: str = Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")
    api_base_url: BaseUrl = DEFAULT_API_BASE_URL
    business_account_id: str | None = None
    insecure_no_signature: bool = False
    #: the one common setting redeclared: the Cloud API's default throughput is the configured default
    rate_limit: float = Field(default=80.0, gt=0)

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_base_url": GRAPH_HOSTS}

    def insecure_settings(self) -> dict[str, str]:
        return meta_insecure_settings(self)
