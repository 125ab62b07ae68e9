"""Real-world webhook samples that these developers did not write (pywa's test data, Meta's webhook
reference): each becomes the full event it must, and nothing the user did is lost (issue 13, "authentic
events are dropped or stripped"). Sources: samples/README.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from metakit import messenger, parse, post, whatsapp

from channelgate.channels.base import InboundMessage
from channelgate.channels.whatsapp.inbound import parse_message
from channelgate.turns import EventInput, User

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def wa_value(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(sample(name))["entry"][0]["changes"][0]["value"]
    return value


def page_webhook(item: dict[str, Any]) -> bytes:
    entry = [{"id": "PAGE_ID", "time": 1, "messaging": [item]}]
    return json.dumps({"object": "page", "entry": entry}).encode()


# --- WhatsApp (pywa) ---------------------------------------------------------------------------------------


def test_pywa_edit_carries_the_original_id_and_the_new_content() -> None:
    channel = whatsapp(phone_number_id="1122334455667")
    [event] = parse(channel, post(sample("pywa_edited_message_edit_text.json")))
    assert isinstance(event, InboundMessage)
    assert event.user == User(id="972987654321", name="Test Name")
    assert event.dedup_key == event.platform_message_id == "wamid.yyyyyy"
    assert event.timestamp == 1697044968
    assert event.input == EventInput(
        name="edit",
        data={
            "original_message_id": "wamid.zzzzzz",
            "message": {"type": "text", "text": {"body": "Text was edited"}},
        },
    )


def test_pywa_revoke_carries_the_revoked_id_and_no_name_from_another_contact() -> None:
    """The sample's only contact (wa_id 972987654321) is not its sender: its name is not the sender's."""
    value = wa_value("pywa_deleted_message_revoke.json")
    event = parse_message(value["messages"][0], value["contacts"])
    assert event is not None
    assert event.user == User(id="<WHATSAPP_USER_PHONE_NUMBER>", name=None)
    assert event.dedup_key == "<WHATSAPP_MESSAGE_ID>"
    assert event.input == EventInput(
        name="revoke", data={"original_message_id": "<ORIGINAL_WHATSAPP_MESSAGE_ID>"}
    )


def test_pywa_call_permission_reply_is_an_event_with_the_answer() -> None:
    [event] = parse(
        whatsapp(phone_number_id="1122334455667"), post(sample("pywa_call_permission_update_accept.json"))
    )
    assert isinstance(event, InboundMessage)
    assert event.user == User(id="972987654321", name="Test Name")
    assert event.dedup_key == "wamid.x"
    assert event.input == EventInput(
        name="call_permission_reply",
        data={"response": "accept", "expiration_timestamp": 1753186982, "response_source": "user_action"},
    )


def test_an_unknown_message_type_reaches_the_bot_with_all_its_fields() -> None:
    """A type this gateway does not read yet (here pywa's edit body under a made-up type) is not stripped."""
    value = wa_value("pywa_edited_message_edit_text.json")
    message = {**value["messages"][0], "type": "future_kind", "future_kind": {"a": 1}, "context": {"id": "w"}}
    event = parse_message(message, value["contacts"])
    assert event is not None
    assert event.input == EventInput(
        name="unsupported",
        data={
            "type": "future_kind",
            "future_kind": {"a": 1},
            "context": {"id": "w"},
            "edit": value["messages"][0]["edit"],
        },
    )


# --- Messenger (Meta's webhook reference) ------------------------------------------------------------------


def test_checkbox_optin_without_a_sender_is_the_user_refs_event() -> None:
    """Meta's checkbox-plugin opt-in has no ``sender``: the ``user_ref`` is who to answer
    (``recipient: {"user_ref": ...}``), so it is the user id."""
    [event] = parse(messenger(), post(sample("meta_messaging_optins_checkbox.json")))
    assert isinstance(event, InboundMessage)
    assert event.user == User(id="<UNIQUE_REF_PARAM>")
    assert event.dedup_key == "optin:<UNIQUE_REF_PARAM>:1458692752478"
    assert event.timestamp == pytest.approx(1458692752.478)
    assert event.input == EventInput(
        name="optin", data={"ref": "<PASS_THROUGH_PARAM>", "user_ref": "<UNIQUE_REF_PARAM>"}
    )


def test_account_linking_linked_and_unlinked_are_events() -> None:
    linked, unlinked = parse(messenger(), post(sample("meta_messaging_account_linking.json")))
    assert isinstance(linked, InboundMessage) and isinstance(unlinked, InboundMessage)
    assert linked.user == unlinked.user == User(id="USER_ID")
    assert linked.input == EventInput(
        name="account_linking",
        data={"status": "linked", "authorization_code": "PASS_THROUGH_AUTHORIZATION_CODE"},
    )
    assert unlinked.input == EventInput(name="account_linking", data={"status": "unlinked"})
    assert linked.dedup_key == "account_linking:USER_ID:1234567890"
    assert unlinked.dedup_key == "account_linking:USER_ID:1234567891"


def test_game_play_is_an_event() -> None:
    [event] = parse(messenger(), post(sample("captured_messaging_game_plays.json")))
    assert isinstance(event, InboundMessage)
    assert event.user == User(id="2396781657060600")
    assert event.dedup_key == "game_play:2396781657060600:1551091549707"
    assert event.input == EventInput(
        name="game_play", data={"game_id": "2223523667903679", "player_id": "1766087003495604"}
    )


@pytest.mark.parametrize(
    ("field", "value", "data"),
    [
        ("message_request", "accept", {"message_request": "accept"}),
        ("payment", {"payload": "P", "amount": {"currency": "USD", "amount": "29.62"}}, None),
        ("pass_thread_control", {"new_owner_app_id": "123456789", "metadata": "m"}, None),
    ],
)
def test_other_documented_events_are_events(field: str, value: Any, data: dict[str, Any] | None) -> None:
    item = {"sender": {"id": "PSID"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1, field: value}
    [event] = parse(messenger(), post(page_webhook(item)))
    assert isinstance(event, InboundMessage)
    assert event.input == EventInput(name=field, data=data or value)


def test_an_event_naming_nobody_is_skipped_with_a_reason(caplog: pytest.LogCaptureFixture) -> None:
    item = {"recipient": {"id": "PAGE_ID"}, "timestamp": 1, "optin": {"ref": "R"}}
    request = post(page_webhook(item))
    with caplog.at_level("WARNING"):
        assert parse(messenger(), request) == []
    assert "names no sender" in caplog.text
    assert request.notes["skips"].reasons == [
        "messaging[0]: the event names no sender (no sender.id, sender.user_ref or optin.user_ref)"
    ]


def test_send_cart_order_is_an_event_with_every_product() -> None:
    """Meta's ``send_cart`` sample: a cart the user sent to the Page (the ``order`` field) was skipped as
    "no event this channel reads"; it is the user's doing, so it reaches the bot whole."""
    [event] = parse(messenger(), post(sample("meta_send_cart_order.json")))
    assert isinstance(event, InboundMessage)
    assert event.user == User(id="<PSID>")
    assert event.dedup_key == "order:<PSID>:1458692752478"
    assert event.platform_message_id is None
    assert event.timestamp == pytest.approx(1458692752.478)
    assert event.input == EventInput(
        name="order",
        data={
            "products": [
                {
                    "id": 123,
                    "retailer_id": "retailer_id_1",
                    "name": "name1",
                    "unit_price": 11,
                    "currency": "THB",
                    "quantity": 1,
                },
                {
                    "id": 456,
                    "retailer_id": "retailer_id_2",
                    "name": "name2",
                    "unit_price": 22,
                    "currency": "THB",
                    "quantity": 2,
                },
            ],
            "note": "foobar",
        },
    )
