"""``X-Twilio-Signature``: the reference document's vectors (Twilio's webhook-security guide and
twilio-python's ``tests/unit/test_request_validator.py``), and the channel's 401/403 over them."""

from __future__ import annotations

import hashlib

import pytest

from channelgate.channels.base import BadRequest, Forbidden, Unauthorized
from channelgate.channels.twilio.signature import signature, url_variants, valid

from .kit import channel, post

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
              ("From", "+12349013030"), ("To", "+18005551212")]  # fmt: skip
SDK_PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"),
              ("To", "+18005551212"), ("Caller", "+14158675309")]  # fmt: skip


def test_the_documented_vector() -> None:
    assert signature(TOKEN, URL, DOC_PARAMS) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert valid(TOKEN, URL, DOC_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com:80/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    ],
)
def test_the_sdk_vectors(url: str, expected: str) -> None:
    assert signature(TOKEN, url, SDK_PARAMS) == expected


def test_a_signature_with_or_without_the_default_port_is_valid() -> None:
    """Twilio signs either form: both validate against the URL as configured."""
    assert valid(TOKEN, URL, SDK_PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=")  # signed with :443
    assert valid(
        TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", SDK_PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4="
    )
    assert not valid(
        TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", SDK_PARAMS, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
    )
    assert url_variants("https://h.example:8443/x") == ["https://h.example:8443/x"]


def test_repeated_names_are_sorted_and_deduplicated() -> None:
    params = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert signature(TOKEN, URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_a_json_body_is_signed_through_its_hash_in_the_url() -> None:
    body = b'{"property": "value", "boolean": true}'
    digest = hashlib.sha256(body).hexdigest()
    assert digest == "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    url = f"{URL}&bodySHA256={digest}"
    assert signature(TOKEN, url) == "a9nBmqA0ju/hNViExpshrM61xv4="
    assert valid(TOKEN, url, [], "a9nBmqA0ju/hNViExpshrM61xv4=", body)
    assert not valid(TOKEN, url, [], "a9nBmqA0ju/hNViExpshrM61xv4=", body + b" ")  # the hash must match


FORM = [("MessageSid", "SM" + "a" * 32), ("From", "+14155550100"), ("To", "+15005550006"), ("Body", "hi")]


def test_the_channel_refuses_a_missing_signature_with_401_and_a_wrong_one_with_403() -> None:
    ch = channel()
    with pytest.raises(Unauthorized):
        ch.authenticate(post(FORM, token=None))
    with pytest.raises(Forbidden):
        ch.authenticate(post(FORM, token="another-token"))
    with pytest.raises(Forbidden):  # signed for another URL: a proxy rewrote it, or public_url is wrong
        ch.authenticate(post(FORM, url="https://elsewhere.example/webhooks/twilio/main"))
    assert ch.authenticate(post(FORM)).content is not None


def test_the_query_string_twilio_called_is_signed() -> None:
    ch = channel()
    assert ch.authenticate(post(FORM, query="tenant=a%20b&x=1")).body
    with pytest.raises(Forbidden):  # the signature covered another query
        request = post(FORM, query="tenant=a%20b&x=1")
        request.notes["query_string"] = "tenant=a%20b&x=2"
        ch.authenticate(request)


def test_a_signed_json_webhook_is_not_a_messaging_webhook() -> None:
    ch = channel()
    body = b'{"property": "value"}'
    query = f"bodySHA256={hashlib.sha256(body).hexdigest()}"
    request = post(body, query=query)
    request = type(request)(
        "POST",
        {
            "x-twilio-signature": signature(
                ch.config.auth_token.get_secret_value(), f"{ch.ctx.callback_url}?{query}"
            )
        },
        {},
        body,
        notes={"query_string": query},
    )
    with pytest.raises(BadRequest):
        ch.authenticate(request)
