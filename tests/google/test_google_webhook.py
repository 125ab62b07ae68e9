"""Webhook verification and X-Goog-Signature for GBM and RBM, with the reference vector (§0.2)."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

import orjson
import pytest

from channelgate.channels.base import Forbidden, Unauthorized
from channelgate.channels.google.webhook import check_signature, sign
from channelgate.channels.rbm.inbound import push_data

from .kit import CLIENT_TOKEN, gbm_channel, rbm_channel, request, secret, signed

# channel-protocols.md §0.2, exact bytes
VECTOR_BODY = b'{"message":{"messageId":"m1","text":"hi"},"conversationId":"c1"}'
VECTOR_SIGNATURE = "TM5/yFCq+JHOhm65uYDn3/TbgL3m4ffblsmv/3g32kelgtx2p3QxVRXP1BtX1WWXWPQ4X0kYNRoh3RsbPRYpeg=="


def test_signature_matches_the_reference_vector() -> None:
    assert sign(VECTOR_BODY, "my_client_token") == VECTOR_SIGNATURE


def test_gbm_accepts_the_reference_vector_and_parses_it() -> None:
    channel = gbm_channel()
    hook = request(VECTOR_BODY, headers={"X-Goog-Signature": VECTOR_SIGNATURE})
    [event] = channel.parse(hook, channel.authenticate(hook))
    assert event.dedup_key == "m1"


def test_missing_signature_is_unauthorized() -> None:
    with pytest.raises(Unauthorized):
        gbm_channel().authenticate(request(VECTOR_BODY))


@pytest.mark.parametrize(
    "header",
    [
        VECTOR_SIGNATURE[:-4] + "AAA=",  # another digest
        sign(VECTOR_BODY, "another_token"),  # another key
        "not base64 at all!",
        base64.b64encode(b"short").decode(),
    ],
)
def test_wrong_signature_is_forbidden(header: str) -> None:
    with pytest.raises(Forbidden):
        gbm_channel().authenticate(request(VECTOR_BODY, headers={"X-Goog-Signature": header}))


def test_one_changed_byte_breaks_the_signature() -> None:
    tampered = VECTOR_BODY.replace(b'"hi"', b'"ho"')
    with pytest.raises(Forbidden):
        gbm_channel().authenticate(request(tampered, headers={"X-Goog-Signature": VECTOR_SIGNATURE}))


def test_wrong_signature_is_rejected_before_parsing() -> None:
    """A body that is not even JSON gets 403 from authenticate, never a parser error."""
    with pytest.raises(Forbidden):
        gbm_channel().authenticate(request(b"<not json>", headers={"X-Goog-Signature": VECTOR_SIGNATURE}))


def test_signature_is_computed_over_raw_bytes_not_reserialised_json() -> None:
    spaced = b'{ "message": {"messageId": "m1", "text": "hi"}, "conversationId": "c1" }'
    with pytest.raises(Forbidden):
        gbm_channel().authenticate(request(spaced, headers={"X-Goog-Signature": VECTOR_SIGNATURE}))
    gbm_channel().authenticate(signed(spaced))


def test_an_empty_client_token_never_validates_anything() -> None:
    with pytest.raises(Forbidden):
        check_signature(VECTOR_BODY, sign(VECTOR_BODY, ""), secret(""))


# --- verification handshake ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (orjson.dumps({"clientToken": CLIENT_TOKEN, "secret": "1234567890"}), "application/json"),
        (
            urlencode({"clientToken": CLIENT_TOKEN, "secret": "1234567890"}).encode(),
            "application/x-www-form-urlencoded",
        ),
        (
            quote(orjson.dumps({"clientToken": CLIENT_TOKEN, "secret": "1234567890"}).decode()).encode(),
            "application/x-www-form-urlencoded",
        ),
    ],
    ids=["json", "form", "urlencoded-json"],
)
@pytest.mark.parametrize("make", [gbm_channel, rbm_channel], ids=["gbm", "rbm"])
def test_verification_echoes_the_secret_when_the_client_token_matches(
    body: bytes, content_type: str, make
) -> None:
    answer = make().handshake(request(body, headers={"Content-Type": content_type}))
    assert answer is not None
    assert (answer.status, answer.body, answer.media_type) == (200, "1234567890", "text/plain")


@pytest.mark.parametrize("form", [False, True])
@pytest.mark.parametrize("make", [gbm_channel, rbm_channel], ids=["gbm", "rbm"])
def test_verification_with_a_wrong_client_token_is_forbidden_and_leaks_nothing(form: bool, make) -> None:
    fields = {"clientToken": "guess", "secret": "1234567890"}
    body = urlencode(fields).encode() if form else orjson.dumps(fields)
    answer = make().handshake(request(body))
    assert answer is not None and answer.status == 403
    assert "1234567890" not in str(answer.body) and CLIENT_TOKEN not in str(answer.body)


@pytest.mark.parametrize(
    "body",
    [
        VECTOR_BODY,
        b"",
        b"not json",
        orjson.dumps({"secret": "x"}),
        orjson.dumps({"clientToken": CLIENT_TOKEN}),
    ],
)
def test_an_ordinary_event_is_not_a_verification(body: bytes) -> None:
    assert gbm_channel().handshake(request(body)) is None


def test_a_get_is_not_a_verification() -> None:
    body = orjson.dumps({"clientToken": CLIENT_TOKEN, "secret": "1"})
    assert gbm_channel().handshake(request(body, method="GET")) is None


# --- RBM: the signature covers the decoded message.data -----------------------------------------------------


def _rbm_push(event: dict[str, object], token: str) -> tuple[bytes, dict[str, str]]:
    data = orjson.dumps(event)
    body = orjson.dumps(
        {
            "message": {"data": base64.b64encode(data).decode(), "messageId": "1"},
            "subscription": "projects/p/subscriptions/s",
        }
    )
    return body, {"X-Goog-Signature": sign(data, token)}


EVENT = {
    "senderPhoneNumber": "+12223334444",
    "messageId": "abc",
    "text": "hi",
    "agentId": "sim-agent@rbm.goog",
}


def test_rbm_accepts_a_signature_over_the_decoded_data() -> None:
    body, headers = _rbm_push(EVENT, CLIENT_TOKEN)
    rbm_channel().authenticate(request(body, headers=headers))


def test_rbm_refuses_a_signature_over_the_raw_envelope() -> None:
    body, _ = _rbm_push(EVENT, CLIENT_TOKEN)
    with pytest.raises(Forbidden):
        rbm_channel().authenticate(request(body, headers={"X-Goog-Signature": sign(body, CLIENT_TOKEN)}))


def test_rbm_missing_signature_is_unauthorized_even_for_garbage() -> None:
    with pytest.raises(Unauthorized):
        rbm_channel().authenticate(request(b"garbage"))


@pytest.mark.parametrize("body", [b"garbage", b"{}", b'{"message":{"data":"%%%"}}', b'{"message":{}}'])
def test_rbm_body_without_data_cannot_be_authenticated(body: bytes) -> None:
    with pytest.raises(Forbidden):
        rbm_channel().authenticate(request(body, headers={"X-Goog-Signature": VECTOR_SIGNATURE}))


def test_rbm_push_data_accepts_the_url_safe_alphabet() -> None:
    raw = b'{"text":"\xff\xfe?>"}'
    envelope = orjson.dumps({"message": {"data": base64.urlsafe_b64encode(raw).decode().rstrip("=")}})
    assert push_data(envelope) == raw


def test_rbm_wrong_key_is_forbidden() -> None:
    body, headers = _rbm_push(EVENT, "another_token")
    with pytest.raises(Forbidden):
        rbm_channel().authenticate(request(body, headers=headers))
