"""Sends through the simulated Messages API: the sender and status callback added, Twilio's error codes as
the SendError kinds (the Auth Token never in a reason), a send whose answer was lost not repeated, the
reply's menu stored for the user's answer, media fetched with the account's credentials."""

from __future__ import annotations

import httpx
import pytest

from channelgate.channels.base import InvalidCredentials, Outbound, Rejected, Throttled, Unavailable
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.twilio import menus
from channelgate.channels.twilio.api import ERRORS, check
from channelgate.testing.twilio import TwilioSimulator

from .kit import USER, channel

TEXT = Outbound(body={"To": USER, "Body": "Hello", "_menu": [["Yes", "Y"]]})


async def test_a_send_carries_the_sender_and_the_status_callback(
    sim: TwilioSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = channel(http, api_base_url=api_url)
    result = await ch.send(TEXT)
    [sent] = sim.sent
    assert result.platform_message_id == sent.sid and sent.sid.startswith("SM")
    assert sent.params == {
        "To": USER, "Body": "Hello", "From": sim.phone_number,
        "StatusCallback": "https://gateway.example/webhooks/twilio/main",
    }  # fmt: skip
    assert menus.decode(await ch.ctx.kv.get(menus.store_key(USER))) == [("Yes", "Y")]


async def test_a_messaging_service_sends_as_its_sid(
    sim: TwilioSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = channel(
        http, api_base_url=api_url, from_number=None, messaging_service_sid=sim.messaging_service_sid
    )
    await ch.send(TEXT)
    assert sim.sent[0].params["MessagingServiceSid"] == sim.messaging_service_sid
    assert "From" not in sim.sent[0].params  # the service picks its number


@pytest.mark.parametrize(
    ("setup", "kind", "code"),
    [
        (lambda s: s.unsubscribed.add(USER), Rejected, 21610),
        (lambda s: s.landlines.add(USER), Rejected, 21614),
        (lambda s: s.fail_next(1, status=429, retry_after=3), Throttled, 20429),
        (lambda s: s.fail_next(1, status=503), Unavailable, 20503),
    ],
)
async def test_twilios_refusals_are_the_send_error_kinds(
    sim: TwilioSimulator, api_url: str, http: PlatformHTTP, setup: object, kind: type, code: int
) -> None:
    setup(sim)  # type: ignore[operator]
    with pytest.raises(kind) as caught:
        await channel(http, api_base_url=api_url).send(TEXT)
    assert caught.value.code == code
    if kind is Throttled:
        assert caught.value.retry_after == 3


async def test_an_invalid_to_is_rejected(sim: TwilioSimulator, api_url: str, http: PlatformHTTP) -> None:
    with pytest.raises(Rejected) as caught:
        await channel(http, api_base_url=api_url).send(Outbound(body={"To": "0800-CALL-ME", "Body": "x"}))
    assert caught.value.code == 21211 and "not a valid phone number" in caught.value.reason


async def test_a_wrong_auth_token_turns_the_integration_red_and_is_never_shown(
    sim: TwilioSimulator, api_url: str, http: PlatformHTTP
) -> None:
    token = "wrong-token-" + "z" * 20
    ch = channel(http, api_base_url=api_url, auth_token=token)
    with pytest.raises(InvalidCredentials) as caught:
        await ch.send(TEXT)
    assert caught.value.code == 20003 and token not in caught.value.reason
    assert ch.ctx.health.status == "failing" and "Account Info" in ch.ctx.health.message


async def test_a_network_error_is_unavailable_with_no_secret(http: PlatformHTTP) -> None:
    ch = channel(http, api_base_url="http://127.0.0.1:9")
    with pytest.raises(Unavailable) as caught:
        await ch.send(TEXT)
    assert ch.config.auth_token.get_secret_value() not in caught.value.reason


async def test_a_send_whose_answer_was_lost_is_found_instead_of_sent_again(
    sim: TwilioSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = channel(http, api_base_url=api_url)
    sim.fail_next(1, status=500, accepted=True)
    with pytest.raises(Unavailable):
        await ch.send(TEXT)
    again = await ch.send(TEXT)  # the delivery worker's retry
    assert len(sim.sent) == 1 and again.platform_message_id == sim.sent[0].sid
    third = await ch.send(TEXT)  # the same text sent again on purpose later: a new message
    assert len(sim.sent) == 2 and third.platform_message_id == sim.sent[1].sid


async def test_a_5xx_before_anything_was_created_is_sent_on_retry(
    sim: TwilioSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = channel(http, api_base_url=api_url)
    sim.fail_next(1, status=500)
    with pytest.raises(Unavailable):
        await ch.send(TEXT)
    await ch.send(TEXT)
    assert len(sim.sent) == 1


async def test_media_users_sent_is_fetched_with_the_accounts_credentials(
    sim: TwilioSimulator, api_url: str, http: PlatformHTTP
) -> None:
    ch = channel(http, api_base_url=api_url)
    media_sid = sim.add_media(b"GIF89a", "image/gif", "MM" + "d" * 32)
    media = await ch.download_media(f"{'MM' + 'd' * 32}-{media_sid}")
    assert (media.content, media.mime_type) == (b"GIF89a", "image/gif")
    with pytest.raises(Rejected):
        await ch.download_media("../../Messages.json")
    with pytest.raises(Rejected):  # Twilio's 404
        await ch.download_media(f"{'MM' + 'd' * 32}-ME" + "0" * 32)


def test_the_error_table_knows_the_documented_codes() -> None:
    assert (
        ERRORS.kind(21211) is Rejected and ERRORS.kind(21610) is Rejected and ERRORS.kind(21614) is Rejected
    )
    assert ERRORS.kind(20003) is InvalidCredentials and ERRORS.kind(20429) is Throttled
    rfc9457 = {"type": "about:blank", "title": "Bad", "status": 400, "code": 21211,
               "detail": "Invalid 'To' Phone Number"}  # fmt: skip
    problem = check(httpx.Response(400, json=rfc9457))
    assert isinstance(problem, Rejected) and problem.reason.endswith("Invalid 'To' Phone Number")
    assert isinstance(check(httpx.Response(429, text="slow down", headers={"Retry-After": "2"})), Throttled)
    assert isinstance(check(httpx.Response(502, text="<html>")), Unavailable)
