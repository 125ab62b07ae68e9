"""``channelgate channels connect twilio/LABEL``: setup step 3 through the (simulated) REST API: the number's
``SmsUrl``, or the Messaging Service's ``InboundRequestUrl``."""

from __future__ import annotations

from pathlib import Path

import pytest

from channelgate.channels.base import InvalidCredentials
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.registry import load_registry
from channelgate.config import load_config
from channelgate.connecting import connect
from channelgate.testing.twilio import TwilioSimulator

from .kit import channel


def config_file(tmp_path: Path, sim: TwilioSimulator, api_url: str, token: str | None = None) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"public_url: https://bot.example.com\nstore: sqlite:///{tmp_path / 'gw.db'}\n"
        "integrations:\n"
        "  - channel: twilio\n    label: support\n    locale: en-US\n"
        f"    account_sid: {sim.account_sid}\n    auth_token: '{token or sim.auth_token}'\n"
        f"    from_number: '{sim.phone_number}'\n    api_base_url: '{api_url}'\n"
    )
    return path


async def test_connect_sets_the_numbers_sms_url_from_the_config_file(
    tmp_path: Path, sim: TwilioSimulator, api_url: str
) -> None:
    cfg = load_config(config_file(tmp_path, sim, api_url), load_registry())
    result = await connect(cfg, "twilio", "support")
    assert result.connected, result.detail
    assert sim.number["sms_url"] == "https://bot.example.com/webhooks/twilio/support"
    assert sim.number["sms_method"] == "POST"
    assert sim.phone_number_sid in result.detail


async def test_a_refused_auth_token_is_an_error_naming_no_secret(
    tmp_path: Path, sim: TwilioSimulator, api_url: str
) -> None:
    token = "B" * 32
    cfg = load_config(config_file(tmp_path, sim, api_url, token=token), load_registry())
    with pytest.raises(InvalidCredentials) as caught:
        await connect(cfg, "twilio", "support")
    assert token not in caught.value.reason


async def test_connect_sets_a_messaging_services_inbound_url(
    sim: TwilioSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = channel(
        http, api_base_url=api_url, from_number=None, messaging_service_sid=sim.messaging_service_sid
    )
    result = await ch.connect()
    assert result.connected
    assert sim.service["inbound_request_url"] == "https://gateway.example/webhooks/twilio/main"


async def test_a_number_the_account_does_not_have_gets_the_console_steps(
    sim: TwilioSimulator, api_url: str, http: PlatformHTTP
) -> None:
    result = await channel(http, api_base_url=api_url, from_number="+15551230000").connect()
    assert not result.connected
    assert "no phone number +15551230000" in result.detail and "Active numbers" in result.detail


def test_the_messaging_api_host_follows_the_rest_api_host() -> None:
    assert channel().config.messaging_base_url() == "https://messaging.twilio.com"
    assert (
        channel(api_base_url="http://127.0.0.1:9093").config.messaging_base_url() == "http://127.0.0.1:9093"
    )
