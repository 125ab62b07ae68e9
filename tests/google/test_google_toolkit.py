"""The Google channels on the channel toolkit: what the rebuild added or made explicit (the renderer is a
toolkit Renderer, authenticate hands parse what it decoded, the token is a SharedToken, Google's errors are
a table, and events that used to vanish are skipped with their reason)."""

from __future__ import annotations

import base64

import httpx
import orjson
import pytest

from channelgate.channels.base import (
    InvalidCredentials,
    Rejected,
    Throttled,
    Unavailable,
    Verified,
)
from channelgate.channels.gbm import SCOPE as GBM_SCOPE
from channelgate.channels.gbm import GBMChannel
from channelgate.channels.gbm.render import GBMRenderer
from channelgate.channels.google.errors import GOOGLE_ERRORS, classify
from channelgate.channels.google.render import AgentRenderer
from channelgate.channels.google.token import TOKEN_ERRORS
from channelgate.channels.rbm.render import RBMRenderer
from channelgate.channels.renderer import Renderer
from channelgate.channels.token import AccessToken
from channelgate.messages import ChannelSpecific, ReplyAction, Template, Text
from channelgate.testing.google import GoogleAgentSimulator
from channelgate.testing.memory import MemoryKeyValue
from channelgate.turns import EventInput, TextInput

from .kit import MSISDN, gbm_channel, parse, rbm_channel, render_context, request

YES = ReplyAction(title="Yes", payload="yes")


def test_both_renderers_are_toolkit_renderers() -> None:
    for renderer in (GBMRenderer, RBMRenderer):
        assert issubclass(renderer, AgentRenderer) and issubclass(renderer, Renderer)
    assert (GBMRenderer.suggestions_max, RBMRenderer.suggestions_max) == (13, 11)


def test_quick_replies_of_a_skipped_message_are_noted_not_lost_silently() -> None:
    ctx = render_context()
    assert gbm_channel().render([Template(name="t", quick_replies=[YES])], ctx) == []
    assert ctx.notes == [
        "template 't' skipped: gbm has no message templates",
        "1 quick replies dropped: the message they belong to was skipped",
    ]


def test_channel_specific_without_this_channel_falls_back() -> None:
    """The toolkit's default: another channel's payload is not sent, the fallback message is."""
    message = ChannelSpecific(
        payloads={"whatsapp": {"x": 1}}, fallback=Text(text="plain", quick_replies=[YES])
    )
    [outbound] = [o for o in gbm_channel().render([message], render_context()) if o.kind == "message"]
    assert outbound.body["message"]["text"] == "plain"
    assert outbound.body["message"]["suggestions"] == [{"reply": {"text": "Yes", "postbackData": "yes"}}]


def test_rbm_parse_reads_what_authenticate_decoded() -> None:
    """The decoded message.data travels in Verified.content: parse does not decode the envelope again."""
    event = {"senderPhoneNumber": MSISDN, "messageId": "M1", "text": "hi", "agentId": "sim-agent"}
    data = orjson.dumps(event)
    channel = rbm_channel()
    [turn] = channel.parse(request(b"not even json"), Verified(b"not even json", content=data))
    assert turn.input == TextInput(text="hi")


def test_rbm_authenticate_hands_over_the_decoded_data() -> None:
    data = orjson.dumps({"text": "x"})
    body = orjson.dumps({"message": {"data": base64.b64encode(data).decode()}})
    req = request(body)
    parse(rbm_channel(), req)  # signs it as Google does
    verified = rbm_channel().authenticate(req)
    assert (verified.body, verified.content) == (body, data)


def test_gbm_message_without_content_is_skipped_with_its_reason() -> None:
    req = request(
        {"conversationId": "C", "message": {"messageId": "M1", "createTime": "2024-01-01T00:00:00Z"}}
    )
    assert parse(gbm_channel(), req) == []
    assert req.notes["skips"].reasons == [
        "event[0]: message M1 has no text or image (fields: createTime, messageId)"
    ]


def test_gbm_receipt_of_an_unknown_type_is_skipped_with_its_reason() -> None:
    receipts = [
        {"message": "conversations/C/messages/M1", "receiptType": "DELIVERED"},
        {"message": "conversations/C/messages/M2", "receiptType": "RECEIPT_TYPE_UNSPECIFIED"},
    ]
    req = request({"conversationId": "C", "receipts": {"receipts": receipts}})
    [status] = parse(gbm_channel(), req)
    assert status.platform_message_id == "M1"
    assert req.notes["skips"].reasons == [
        "receipt[1]: receipt of type 'RECEIPT_TYPE_UNSPECIFIED' for 'conversations/C/messages/M2' is not one "
        "this channel reads"
    ]


def test_gbm_survey_response_keeps_fields_google_adds() -> None:
    survey = {"survey": "conversations/C/surveys/S1", "rating": "SATISFIED", "newField": {"a": 1}}
    [event] = parse(gbm_channel(), request({"conversationId": "C", "surveyResponse": survey}))
    assert event.input == EventInput(name="survey_response", data=survey)


# --- errors as data ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("RESOURCE_EXHAUSTED", Throttled),
        ("UNAUTHENTICATED", InvalidCredentials),
        ("PERMISSION_DENIED", InvalidCredentials),
        ("UNAVAILABLE", Unavailable),
        ("DEADLINE_EXCEEDED", Unavailable),
        ("INVALID_ARGUMENT", Rejected),
        ("NOT_FOUND", Rejected),
    ],
)
def test_google_error_names_are_a_table(name: str, kind: type[Exception]) -> None:
    assert GOOGLE_ERRORS.kind(name) is kind


def test_an_unknown_error_name_falls_back_on_the_status() -> None:
    response = httpx.Response(504, json={"error": {"code": 504, "status": "SOMETHING_NEW"}})
    error = classify(response, "RBM")
    assert isinstance(error, Unavailable) and error.code == "SOMETHING_NEW"


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [(400, "invalid_grant", InvalidCredentials), (429, None, Throttled), (503, None, Unavailable)],
)
def test_token_endpoint_answers_are_a_table(status: int, code: str | None, kind: type[Exception]) -> None:
    assert type(TOKEN_ERRORS.error("r", codes=[code], status=status)) is kind


# --- the token ---------------------------------------------------------------------------------------------


async def test_the_token_lives_in_the_store_under_account_and_scope(
    gbm: GBMChannel, sim: GoogleAgentSimulator, kv: MemoryKeyValue
) -> None:
    token = await gbm.tokens.get()
    assert gbm.tokens.key == f"google-oauth-token:{sim.client_email}:{GBM_SCOPE}"
    assert AccessToken.load(await kv.get(gbm.tokens.key)) is not None
    assert orjson.loads(await kv.get(gbm.tokens.key) or "{}")["t"] == token
