"""What Messenger and WhatsApp share: handshake, signatures, config checks, Graph error classification."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from metakit import NOW, messenger, parse, post, whatsapp

from channelgate.channels.base import (
    BadRequest,
    Forbidden,
    InvalidCredentials,
    Rejected,
    Throttled,
    Unauthorized,
    Unavailable,
    WebhookRequest,
    WindowClosed,
    normalise_base_url,
)
from channelgate.channels.messenger import MessengerChannel, MessengerConfig
from channelgate.channels.meta import sign
from channelgate.channels.meta.graph import classify, retry_after
from channelgate.channels.meta.render import split_tail
from channelgate.channels.platform_api import scrub
from channelgate.channels.whatsapp import WhatsAppChannel, WhatsAppConfig

# §0.1 of the reference notes: computed and cross-checked with pywa.
VECTOR_BODY = b'{"object":"page","entry":[]}'
VECTOR_SHA256 = "sha256=f373092cfe9f34e1e016a6b15554116814589f121d055510f67b1f54e51b9eae"
VECTOR_SHA1 = "sha1=6465f966513a430e644618cc49a1be02a96ebe93"

BOTH = [messenger, whatsapp]


# --- signatures ------------------------------------------------------------------------------------------


def test_signature_matches_the_reference_vector() -> None:
    assert sign(VECTOR_BODY, "my_app_secret") == VECTOR_SHA256
    legacy = "sha1=" + hmac.new(b"my_app_secret", VECTOR_BODY, hashlib.sha1).hexdigest()
    assert legacy == VECTOR_SHA1


@pytest.mark.parametrize("make", BOTH)
def test_reference_vector_signature_is_accepted(make) -> None:
    make().authenticate(post(VECTOR_BODY, {"X-Hub-Signature-256": VECTOR_SHA256}))


@pytest.mark.parametrize("make", BOTH)
def test_missing_signature_is_unauthorized(make) -> None:
    with pytest.raises(Unauthorized):
        make().authenticate(post(VECTOR_BODY))


@pytest.mark.parametrize("make", BOTH)
def test_one_more_byte_breaks_the_signature(make) -> None:
    with pytest.raises(Forbidden):
        make().authenticate(post(VECTOR_BODY + b" ", {"X-Hub-Signature-256": VECTOR_SHA256}))


@pytest.mark.parametrize("make", BOTH)
def test_legacy_sha1_signature_alone_is_not_enough(make) -> None:
    with pytest.raises(Unauthorized):
        make().authenticate(post(VECTOR_BODY, {"X-Hub-Signature": VECTOR_SHA1}))


@pytest.mark.parametrize("make", BOTH)
def test_wrong_signature_is_rejected_before_parsing(make) -> None:
    """A forged request with a body that is not even JSON fails on the signature, never on the parser."""
    channel = make()
    with pytest.raises(Forbidden):
        channel.authenticate(post(b"not json {", {"X-Hub-Signature-256": "sha256=" + "0" * 64}))
    with pytest.raises(BadRequest):
        parse(channel, post(b"not json {"))


@pytest.mark.parametrize("make", BOTH)
def test_signature_from_another_secret_is_forbidden(make) -> None:
    with pytest.raises(Forbidden):
        make().authenticate(post(VECTOR_BODY, {"X-Hub-Signature-256": sign(VECTOR_BODY, "other_secret")}))


@pytest.mark.parametrize("make", BOTH)
def test_signature_is_still_checked_when_a_secret_and_the_insecure_flag_are_both_set(make) -> None:
    channel = make(insecure_no_signature=True)
    with pytest.raises(Unauthorized):
        channel.authenticate(post(VECTOR_BODY))


@pytest.mark.parametrize("make", BOTH)
def test_insecure_integration_without_secret_accepts_unsigned_posts(make) -> None:
    make(app_secret=None, insecure_no_signature=True).authenticate(post(VECTOR_BODY))


@pytest.mark.parametrize("make", BOTH)
def test_integration_without_secret_fails_closed(make) -> None:
    with pytest.raises(Forbidden):
        make(app_secret=None).authenticate(post(VECTOR_BODY))


# --- config ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "config"),
    [
        (MessengerChannel, MessengerConfig(verify_token="v", page_access_token="t")),
        (WhatsAppChannel, WhatsAppConfig(verify_token="v", access_token="t", phone_number_id="1")),
    ],
)
def test_config_without_app_secret_is_refused_naming_the_field(cls, config) -> None:
    with pytest.raises(ValueError, match="app_secret"):
        cls.check_config(config)


def test_insecure_flag_starts_with_a_warning_every_time() -> None:
    config = MessengerConfig(verify_token="v", page_access_token="t", insecure_no_signature=True)
    warnings = MessengerChannel.check_config(config)
    assert len(warnings) == 1 and "NOT checked" in warnings[0]
    assert MessengerChannel.check_config(config) == warnings


def test_config_with_app_secret_starts_without_warnings() -> None:
    config = WhatsAppConfig(verify_token="v", app_secret="s", access_token="t", phone_number_id="1")
    assert WhatsAppChannel.check_config(config) == []


def test_config_fields_and_secrets() -> None:
    assert MessengerConfig.settings() == [
        "verify_token",
        "app_secret",
        "page_access_token",
        "api_base_url",
        "insecure_no_signature",
        "page_id",
        "rate_limit",  # common to every channel (ChannelConfig), listed after the channel's own
    ]
    assert MessengerConfig.secret_fields() == ["verify_token", "app_secret", "page_access_token"]
    assert set(WhatsAppConfig.model_fields) == {
        "verify_token",
        "app_secret",
        "access_token",
        "phone_number_id",
        "api_base_url",
        "business_account_id",
        "insecure_no_signature",
        "rate_limit",
    }
    assert WhatsAppConfig.secret_fields() == ["verify_token", "app_secret", "access_token"]
    assert WhatsAppConfig.required_fields() == ["verify_token", "access_token", "phone_number_id"]
    config = WhatsAppConfig(verify_token="v", access_token="EAAG-secret", phone_number_id="1")
    assert config.rate_limit == 80
    assert config.api_base_url == "https://graph.facebook.com/v25.0"
    assert "EAAG-secret" not in repr(config)


def test_unknown_config_key_is_an_error() -> None:
    with pytest.raises(ValueError, match="page_acess_token"):
        MessengerConfig(verify_token="v", page_acess_token="t")  # type: ignore[call-arg]


def test_api_base_url_is_normalised_and_must_be_http() -> None:
    assert normalise_base_url("http://127.0.0.1:9/v25.0/") == "http://127.0.0.1:9/v25.0"
    with pytest.raises(ValueError):
        normalise_base_url("ftp://graph.facebook.com")
    config = MessengerConfig(verify_token="v", page_access_token="t", api_base_url="https://g.example/v1/")
    assert config.api_base_url == "https://g.example/v1"


def test_channel_names_and_setup_fields() -> None:
    assert (MessengerChannel.name, MessengerChannel.title) == ("messenger", "Facebook Messenger")
    assert (WhatsAppChannel.name, WhatsAppChannel.title) == ("whatsapp", "WhatsApp Business")
    assert MessengerChannel.setup_fields == WhatsAppChannel.setup_fields == ("verify_token",)


# --- handshake -------------------------------------------------------------------------------------------


def _get(**query: str) -> WebhookRequest:
    return WebhookRequest("GET", {}, query)


@pytest.mark.parametrize("make", BOTH)
def test_handshake_answers_the_bare_challenge(make) -> None:
    response = make().handshake(
        _get(
            **{"hub.mode": "subscribe", "hub.verify_token": "my_verify_token", "hub.challenge": "1158201444"}
        )
    )
    assert response is not None
    assert (response.status, response.body, response.media_type) == (200, "1158201444", "text/plain")


@pytest.mark.parametrize("make", BOTH)
@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "my_verify_token", "hub.challenge": "1"},
        {"hub.verify_token": "my_verify_token", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "my_verify_token"},
        {},
    ],
)
def test_handshake_with_wrong_mode_or_token_is_forbidden(make, query) -> None:
    response = make().handshake(_get(**query))
    assert response is not None and response.status == 403
    assert response.body != "1"


@pytest.mark.parametrize("make", BOTH)
def test_post_is_not_a_handshake(make) -> None:
    assert make().handshake(post(b"{}")) is None


# --- Graph error classification -------------------------------------------------------------------------


def _graph(
    status: int, code: int | None = None, subcode: int | None = None, message: str = ""
) -> httpx.Response:
    error: dict = {"message": message, "type": "OAuthException", "fbtrace_id": "AbC"}
    if code is not None:
        error["code"] = code
    if subcode is not None:
        error["error_subcode"] = subcode
    return httpx.Response(status, json={"error": error})


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (_graph(400, 4, message="(#4) Application request limit reached"), Throttled),
        (_graph(400, 17), Throttled),
        (_graph(400, 32), Throttled),
        (_graph(400, 613), Throttled),
        (_graph(400, 80007), Throttled),
        (_graph(400, 130429, message="(#130429) Rate limit hit"), Throttled),
        (_graph(400, 131056), Throttled),
        (httpx.Response(429, text="slow down"), Throttled),
        (_graph(400, 10, 2018278, "(#10) This message is sent outside of allowed window."), WindowClosed),
        (_graph(400, 131047, message="(#131047) Re-engagement message"), WindowClosed),
        (_graph(401, 190, message="Invalid OAuth access token"), InvalidCredentials),
        (_graph(400, 190, 463, "Error validating access token: Session has expired"), InvalidCredentials),
        (_graph(400, 10, message="(#10) Permission denied"), Rejected),
        (_graph(400, 100, message="(#100) Invalid parameter"), Rejected),
        (_graph(403, 200), Rejected),
        (httpx.Response(404, text="no"), Rejected),
        (_graph(500, 1, message="An unknown error occurred"), Unavailable),
        (_graph(503, 2, message="Service temporarily unavailable"), Unavailable),
        (_graph(400, 2, message="Service temporarily unavailable"), Unavailable),
        (httpx.Response(502, text="<html>bad gateway</html>"), Unavailable),
    ],
)
def test_graph_errors_are_classified(response: httpx.Response, kind: type) -> None:
    error = classify(response)
    assert type(error) is kind
    assert error.reason


def test_window_error_reason_is_human_and_names_the_code() -> None:
    response = httpx.Response(
        400,
        json={
            "error": {
                "message": "(#131047) Re-engagement message",
                "type": "OAuthException",
                "code": 131047,
                "error_data": {
                    "messaging_product": "whatsapp",
                    "details": "Message failed to send because more than 24 hours have passed since the "
                    "customer last replied to this number.",
                },
                "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
            }
        },
    )
    error = classify(response)
    assert isinstance(error, WindowClosed) and error.code == 131047
    assert error.reason.startswith("Graph API error 131047: Re-engagement message (Message failed to send")


def test_error_reasons_never_contain_the_token() -> None:
    token = "EAAGm0PX4ZCpsBAAsecret"
    response = httpx.Response(
        400, json={"error": {"message": f"Malformed access token {token}", "code": 190}}
    )
    error = classify(response, [token])
    assert token not in error.reason and "[redacted]" in error.reason
    assert scrub(f"a {token} b", [token]) == "a [redacted] b"


def test_throttling_honours_retry_after_header() -> None:
    response = httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"code": 4, "message": "x"}})
    error = classify(response)
    assert isinstance(error, Throttled) and error.retry_after == 7.0


def test_retry_after_accepts_an_http_date() -> None:
    when = datetime.fromtimestamp(NOW + 30, tz=UTC)
    assert retry_after({"retry-after": format_datetime(when, usegmt=True)}, now=NOW) == pytest.approx(
        30, abs=1
    )
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_retry_after_falls_back_to_business_use_case_usage() -> None:
    usage = '{"1122334455":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":3}]}'
    response = httpx.Response(
        400, headers={"X-Business-Use-Case-Usage": usage}, json={"error": {"code": 32, "message": "x"}}
    )
    error = classify(response)
    assert isinstance(error, Throttled) and error.retry_after == 180.0


def test_split_tail_keeps_the_tail_within_its_limit() -> None:
    text = " ".join(f"word{i}." for i in range(300))
    head, tail = split_tail(text, 100, 1000)
    assert len(tail) <= 100 and all(len(part) <= 1000 for part in head)
    assert " ".join([*head, tail]).split() == text.split()
    assert split_tail("short", 100, 1000) == ([], "short")
