"""A Twilio Programmable Messaging integration's settings: the account (SID and Auth Token, as the Console's
Account Info shows them) and the sender, a phone number or a Messaging Service.

The Auth Token is both what signs every webhook (``X-Twilio-Signature``) and the password of every REST
call (HTTP Basic ``account_sid:auth_token``), so it is a secret scrubbed from every error (``api.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from channelgate.channels.base import BaseUrl, ChannelConfig

DEFAULT_API_BASE_URL = "https://api.twilio.com"
#: Where REST calls may go when the admin API sets ``api_base_url`` (see ChannelConfig.endpoint_hosts).
TWILIO_HOSTS = ("api.twilio.com",)
#: The Messaging Services API (``/v1/Services``) lives on its own host beside ``api.twilio.com``.
MESSAGING_HOST = "messaging.twilio.com"

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
#: A sender Twilio can receive on: an E.164 number, or a short code (5-6 digits in the US, 3-8 elsewhere).
SENDER = re.compile(r"^\+[1-9][0-9]{1,14}$|^[0-9]{3,8}$")


class TwilioConfig(ChannelConfig):
    """``account_sid``: the account's SID (``AC`` + 32 hex digits, Console → Account Info).
    ``auth_token``: its primary Auth Token (signs the webhooks and authenticates the REST calls).
    ``from_number``: the Twilio phone number replies come from, in E.164 (``+15017122661``), or a short code.
    ``messaging_service_sid``: a Messaging Service (``MG``…) to send through instead of one number (one of
    the two is required; with both, the number is the sender within the service).
    ``api_base_url``: the REST API (default ``https://api.twilio.com``; the simulator in tests).
    ``rate_limit``: send calls per second (default 1: a US long code sends one segment a second)."""

    account_sid: str = Field(description="Account SID: AC followed by 32 hex digits")
    auth_token: SecretStr = Field(description="The account's primary Auth Token")
    from_number: str | None = Field(default=None, description="Sender number in E.164, e.g. +15017122661")
    messaging_service_sid: str | None = Field(
        default=None, description="Messaging Service SID (MG...), instead of or with from_number"
    )
    api_base_url: BaseUrl = DEFAULT_API_BASE_URL

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_base_url": TWILIO_HOSTS}

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, value: str) -> str:
        value = value.strip()
        if not ACCOUNT_SID.fullmatch(value):
            raise ValueError(
                "expected the Account SID: AC followed by 32 hex digits (Console → Account Info)"
            )
        return value

    @field_validator("auth_token")
    @classmethod
    def _auth_token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value().strip()
        if not token or any(c.isspace() or ord(c) < 32 for c in token):
            raise ValueError("expected the Auth Token (32 characters, Console → Account Info)")
        return SecretStr(token)

    @field_validator("from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not SENDER.fullmatch(value):
            raise ValueError("expected a phone number in E.164 (+15017122661) or a short code")
        return value

    @field_validator("messaging_service_sid")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not SERVICE_SID.fullmatch(value):
            raise ValueError("expected a Messaging Service SID: MG followed by 32 hex digits")
        return value

    @model_validator(mode="after")
    def _a_sender(self) -> TwilioConfig:
        if self.from_number is None and self.messaging_service_sid is None:
            raise ValueError("set from_number (a Twilio phone number) or messaging_service_sid (MG...)")
        return self

    @classmethod
    def asked_fields(cls, values: Mapping[str, Any]) -> list[str]:
        """The account, and a number unless a Messaging Service was given."""
        asked = cls.required_fields()
        if not values.get("messaging_service_sid"):
            asked.append("from_number")
        return asked

    def messaging_base_url(self) -> str:
        """The Messaging Services API: ``messaging.twilio.com`` beside Twilio's own REST host, the same
        server otherwise (a simulator serves both)."""
        host = urlsplit(self.api_base_url).hostname or ""
        if host in TWILIO_HOSTS:
            return f"https://{MESSAGING_HOST}"
        return self.api_base_url
