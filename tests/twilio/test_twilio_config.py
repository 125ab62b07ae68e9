"""The integration's settings: exact keys, one sender required, secrets masked, hosts declared."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from channelgate.channels.registry import load_registry
from channelgate.channels.twilio import TwilioChannel, TwilioConfig

from .kit import NUMBER, SID, TOKEN


def test_the_registry_knows_the_channel() -> None:
    assert load_registry().get("twilio") is TwilioChannel


def test_the_keys_and_what_is_asked() -> None:
    assert TwilioConfig.settings() == [
        "account_sid", "auth_token", "from_number", "messaging_service_sid", "api_base_url", "rate_limit",
    ]  # fmt: skip
    assert TwilioConfig.secret_fields() == ["auth_token"]
    assert TwilioConfig.asked_fields({}) == ["account_sid", "auth_token", "from_number"]
    assert TwilioConfig.asked_fields({"messaging_service_sid": "MG" + "0" * 32}) == [
        "account_sid",
        "auth_token",
    ]
    assert TwilioConfig.endpoint_hosts == {"api_base_url": ("api.twilio.com",)}


def test_one_sender_is_required_and_values_are_checked() -> None:
    with pytest.raises(ValidationError, match="from_number"):
        TwilioConfig(account_sid=SID, auth_token=TOKEN)
    with pytest.raises(ValidationError, match="Account SID"):
        TwilioConfig(account_sid="ACnope", auth_token=TOKEN, from_number=NUMBER)
    with pytest.raises(ValidationError, match=r"E\.164"):
        TwilioConfig(account_sid=SID, auth_token=TOKEN, from_number="555-1234")
    with pytest.raises(ValidationError, match="MG"):
        TwilioConfig(account_sid=SID, auth_token=TOKEN, messaging_service_sid="XX1")
    config = TwilioConfig(account_sid=f" {SID} ", auth_token=f"{TOKEN}\n", from_number=NUMBER, rate_limit=10)
    assert config.account_sid == SID and config.auth_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(config) and TwilioChannel.limits.send_rate == 1.0


def test_plain_http_off_loopback_is_warned_about() -> None:
    config = TwilioConfig(
        account_sid=SID, auth_token=TOKEN, from_number=NUMBER, api_base_url="http://twilio.corp"
    )
    assert "auth_token" in TwilioChannel.check_config(config)[0]
    local = TwilioConfig(
        account_sid=SID, auth_token=TOKEN, from_number=NUMBER, api_base_url="http://127.0.0.1:1"
    )
    assert TwilioChannel.check_config(local) == []
