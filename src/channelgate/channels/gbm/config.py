"""A Google Business Messages integration's settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr

from channelgate.channels.base import BaseUrl, ChannelConfig

DEFAULT_API_BASE_URL = "https://businessmessages.googleapis.com/v1"
SCOPE = "https://www.googleapis.com/auth/businessmessages"
#: the name in errors and health messages
PRODUCT = "Business Messages"


class GBMConfig(ChannelConfig):
    client_token: SecretStr = Field(
        description="The client token you chose for the webhook in the Business Communications console; "
        "it answers the verification and keys X-Goog-Signature."
    )
    service_account: SecretStr = Field(
        description="The service-account key that calls the Business Messages API: a path to the JSON key "
        "file, or the key's JSON itself."
    )
    api_base_url: BaseUrl = Field(default=DEFAULT_API_BASE_URL, description="Business Messages API base URL.")
    representative_name: str | None = Field(default=None, description="Name shown with the bot's messages.")
    representative_avatar: str | None = Field(
        default=None, description="Public URL of the bot's avatar (1024x1024 px, at most 50 KB)."
    )
    agent_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,128}$",
        description="The agent's id (the last part of brands/BRAND/agents/AGENT): when set, events for "
        "another agent (a partner-level webhook, or a client token shared between agents) are skipped.",
    )

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "api_base_url": ("businessmessages.googleapis.com",)
    }
    link_fields: ClassVar[frozenset[str]] = frozenset({"representative_avatar"})
    inline_only: ClassVar[frozenset[str]] = frozenset({"service_account"})
