"""An RCS for Business integration's settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from channelgate.channels.base import BaseUrl, ChannelConfig

DEFAULT_API_BASE_URL = "https://rcsbusinessmessaging.googleapis.com/v1"
SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"
#: the name in errors and health messages
PRODUCT = "RCS for Business"


class RBMConfig(ChannelConfig):
    agent_id: str = Field(min_length=1, description="The agent's id (the part before @rbm.goog).")
    service_account: SecretStr = Field(
        description="The service-account key that calls the RBM API: a path to the JSON key file, or the "
        "key's JSON itself."
    )
    client_token: SecretStr = Field(
        description="The clientToken the developer console shows for the webhook; it answers the "
        "verification and keys X-Goog-Signature."
    )
    api_base_url: BaseUrl = Field(
        default=DEFAULT_API_BASE_URL, description="RBM API base URL (or a regional one)."
    )

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "api_base_url": (
            "rcsbusinessmessaging.googleapis.com",
            "europe-rcsbusinessmessaging.googleapis.com",
            "asia-rcsbusinessmessaging.googleapis.com",
        )
    }
    inline_only: ClassVar[frozenset[str]] = frozenset({"service_account"})

    @field_validator("agent_id")
    @classmethod
    def _agent_id(cls, value: str) -> str:
        """The console shows ``myagent@rbm.goog``; the API's ``agentId`` is the part before ``@``."""
        agent = value.strip().split("@", 1)[0]
        if not agent:
            raise ValueError("agent_id is empty (the part of myagent@rbm.goog before the @)")
        return agent
