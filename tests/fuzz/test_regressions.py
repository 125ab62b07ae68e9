"""The hostile inputs of issue 12, each answered at the wire as the rules say (docs/architecture.md, "What the
gateway accepts"), on SQLite and PostgreSQL: never a 5xx, malformed events skipped with a reason and
counted, ids and texts held to one rule on both stores, events for another integration not accepted."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from channelgate.channels.wechat.xml import MAX_XML_DEPTH

from .harness import OTHER_PAGE_ID, Harness, meta_headers, running_gateway
from .samples import AGENT, PAGE_ID, PHONE_NUMBER_ID, WECHAT_ACCOUNT

TS = 1458692752478


@pytest.fixture
def gw(store_url: str) -> Iterator[Harness]:
    with running_gateway(store_url) as h:
        yield h


def messenger(*events: dict[str, Any], page: str = PAGE_ID) -> bytes:
    return json.dumps(
        {"object": "page", "entry": [{"id": page, "time": TS, "messaging": list(events)}]}
    ).encode()


def sent(user: str = "PSID1", **content: Any) -> dict[str, Any]:
    return {"sender": {"id": user}, "recipient": {"id": PAGE_ID}, "timestamp": TS, **content}


def whatsapp(
    *messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None, number: str = PHONE_NUMBER_ID
) -> bytes:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": number},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}],
        "messages": [{"from": "16505551234", "timestamp": "1749416400", **m} for m in messages],
    }
    if statuses is not None:
        value["statuses"] = statuses
    entry = {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}
    return orjson.dumps({"object": "whatsapp_business_account", "entry": [entry]})


def wechat_xml(**fields: str) -> bytes:
    base = {"ToUserName": WECHAT_ACCOUNT, "FromUserName": "oUser123", "CreateTime": "1700000000"}
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in {**base, **fields}.items())
    return f"<xml>{body}</xml>".encode()


def skipped(gw: Harness, channel: str, kind: str) -> float:
    value = gw.gateway.metrics.registry.get_sample_value(
        "channelgate_skipped_events_total", {"channel": channel, "kind": kind}
    )
    return value or 0.0


def stored(gw: Harness, response: Any) -> list[dict[str, Any]]:
    """The rows a webhook stored, after the never-5xx and rules checks."""
    gw.check(response)
    return gw.last_rows


@pytest.fixture(autouse=True)
def _remember_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Harness.new_rows

    def new_rows(self: Harness) -> list[dict[str, Any]]:
        self.last_rows = original(self)
        return self.last_rows

    monkeypatch.setattr(Harness, "new_rows", new_rows)


# --- numbers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "-Infinity", "1e999", [1], True])
def test_messenger_location_that_is_not_a_finite_number_is_skipped(gw: Harness, value: Any) -> None:
    bad = {"type": "location", "payload": {"coordinates": {"lat": value, "long": 13.4}}}
    body = messenger(
        sent(message={"mid": "m_bad", "attachments": [bad]}),
        sent(message={"mid": "m_ok", "text": "still here"}),
    )
    response = gw.meta("messenger", body)
    assert response.status_code == 200
    assert [row["dedup_key"] for row in stored(gw, response)] == ["m_ok"]
    assert skipped(gw, "messenger", "malformed") == 1


def test_whatsapp_location_out_of_range_is_skipped_by_the_rules(gw: Harness) -> None:
    body = whatsapp({"id": "wamid.L", "type": "location", "location": {"latitude": 91, "longitude": 0}})
    response = gw.meta("whatsapp", body)
    assert response.status_code == 200 and stored(gw, response) == []
    assert skipped(gw, "whatsapp", "rules") == 1


def test_a_json_number_that_overflows_is_a_bad_request(gw: Harness) -> None:
    body = messenger(sent(message={"mid": "m_1", "text": "x"})).replace(str(TS).encode(), b"1e999", 1)
    response = gw.meta("messenger", body)
    assert response.status_code == 400 and "JSON" in response.json()["error"]


# --- depth and encodings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [255, 1000])
def test_json_nested_past_the_cap_is_a_bad_request_not_a_500(gw: Harness, depth: int) -> None:
    deep = b"[" * depth + b'"x"' + b"]" * depth
    body = messenger(sent(message={"mid": "m_deep", "text": "hi", "extra": "DEEP"})).replace(b'"DEEP"', deep)
    response = gw.meta("messenger", body)
    assert response.status_code == 400
    assert "nested more than 64 levels" in response.json()["error"]
    assert stored(gw, response) == []


def test_json_within_the_cap_is_accepted_and_stored(gw: Harness) -> None:
    deep: Any = "x"
    for _ in range(50):
        deep = [deep]
    response = gw.meta("messenger", messenger(sent(message={"mid": "m_50", "text": "hi", "extra": deep})))
    assert response.status_code == 200 and len(stored(gw, response)) == 1


def test_xml_nested_5000_deep_is_a_bad_request(gw: Harness) -> None:
    plain = wechat_xml(MsgType="text", Content="hi", MsgId="1").replace(
        b"</xml>", b"<a>" * 5000 + b"x" + b"</a>" * 5000 + b"</xml>"
    )
    response = gw.wechat(plain)
    assert response.status_code == 400
    assert f"nested more than {MAX_XML_DEPTH}" in response.json()["error"]


@pytest.mark.parametrize("encoding", ["UTF-7", "ISO-8859-1"])
def test_xml_in_another_encoding_is_refused(gw: Harness, encoding: str) -> None:
    plain = f'<?xml version="1.0" encoding="{encoding}"?>'.encode() + wechat_xml(
        MsgType="text", Content="+AGEAYgBj-"
    )
    response = gw.wechat(plain)
    assert response.status_code == 400
    assert "only UTF-8" in response.json()["error"]
    assert stored(gw, response) == []


def test_xml_that_is_not_utf8_is_refused(gw: Harness) -> None:
    response = gw.wechat(wechat_xml(MsgType="text", Content="hi").decode().encode("utf-16"))
    assert response.status_code == 400 and "not UTF-8" in response.json()["error"]


def test_wechat_event_with_an_empty_event_is_a_bad_request(gw: Harness) -> None:
    response = gw.wechat(wechat_xml(MsgType="event", Event=""))
    assert response.status_code == 400
    assert "Event is empty" in response.json()["error"]


# --- ids and texts: one rule on both stores ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "reason"),
    [("", None), ("a\x00b", "control"), ("tab\there", "control"), ("u" * 256, "longer than 255")],
)
def test_user_ids_that_break_the_rules_do_not_become_turns(
    gw: Harness, user: str, reason: str | None
) -> None:
    body = messenger(
        sent(user=user, message={"mid": "m_u", "text": "hi"}), sent(message={"mid": "m_fine", "text": "ok"})
    )
    response = gw.meta("messenger", body)
    assert response.status_code == 200
    assert [row["dedup_key"] for row in stored(gw, response)] == ["m_fine"]


def test_a_user_id_of_255_characters_is_accepted_on_both_stores(gw: Harness) -> None:
    response = gw.meta("messenger", messenger(sent(user="u" * 255, message={"mid": "m_255", "text": "hi"})))
    assert response.status_code == 200
    [row] = stored(gw, response)
    assert row["user_id"] == "u" * 255


@pytest.mark.parametrize("mid", ["m" * 256, "m\x00id", "m\nid"])
def test_platform_message_ids_that_break_the_rules_are_skipped(gw: Harness, mid: str) -> None:
    response = gw.meta("whatsapp", whatsapp({"id": mid, "type": "text", "text": {"body": "hi"}}))
    assert response.status_code == 200 and stored(gw, response) == []
    assert skipped(gw, "whatsapp", "rules") == 1


def test_nul_is_removed_from_texts_and_raw_on_both_stores(gw: Harness) -> None:
    body = messenger(sent(message={"mid": "m_nul", "text": "a\x00b", "nlp": {"note": "\x00"}}))
    response = gw.meta("messenger", body)
    assert response.status_code == 200
    [row] = stored(gw, response)
    assert row["input"] == {"type": "text", "text": "ab"}
    assert row["raw"]["message"]["nlp"] == {"note": ""}


@pytest.mark.parametrize("text", ["", "   ", "\x00"])
def test_empty_texts_are_not_turns(gw: Harness, text: str) -> None:
    response = gw.meta("whatsapp", whatsapp({"id": "wamid.E", "type": "text", "text": {"body": text}}))
    assert response.status_code == 200 and stored(gw, response) == []


def test_a_field_of_the_wrong_type_skips_its_event_only(gw: Harness) -> None:
    """Pydantic's ValidationError never escapes: a mime type that is an object is the event's problem."""
    body = whatsapp(
        {"id": "wamid.I", "type": "image", "image": {"id": "1", "mime_type": {"x": 1}}},
        {"id": "wamid.T", "type": "text", "text": {"body": "fine"}},
    )
    response = gw.meta("whatsapp", body)
    assert response.status_code == 200
    assert [row["dedup_key"] for row in stored(gw, response)] == ["wamid.T"]


# --- addressed to this integration --------------------------------------------------------------------------


def test_messenger_event_for_another_page_of_the_same_app_is_not_accepted(gw: Harness) -> None:
    body = messenger(sent(message={"mid": "m_cross", "text": "for page A"}))
    elsewhere = gw.meta("messenger", body, label="other")  # same app secret, other page id
    assert elsewhere.status_code == 200 and stored(gw, elsewhere) == []
    assert skipped(gw, "messenger", "malformed") == 1
    here = gw.meta("messenger", body)
    assert here.status_code == 200 and [r["dedup_key"] for r in stored(gw, here)] == ["m_cross"]


def test_messenger_batch_keeps_only_entries_for_its_page(gw: Harness) -> None:
    entries = [
        {"id": PAGE_ID, "time": TS, "messaging": [sent(message={"mid": "m_mine", "text": "a"})]},
        {"id": OTHER_PAGE_ID, "time": TS, "messaging": [sent(message={"mid": "m_theirs", "text": "b"})]},
    ]
    response = gw.meta("messenger", orjson.dumps({"object": "page", "entry": entries}))
    assert [r["dedup_key"] for r in stored(gw, response)] == ["m_mine"]


@pytest.mark.parametrize("number", ["42", None])
def test_whatsapp_change_for_another_or_no_phone_number_is_not_accepted(
    gw: Harness, number: str | None
) -> None:
    body = orjson.loads(whatsapp({"id": "wamid.X", "type": "text", "text": {"body": "hi"}}))
    metadata = body["entry"][0]["changes"][0]["value"]["metadata"]
    if number is None:
        del metadata["phone_number_id"]
    else:
        metadata["phone_number_id"] = number
    response = gw.meta("whatsapp", orjson.dumps(body))
    assert response.status_code == 200 and stored(gw, response) == []


def test_gbm_event_for_another_agent_is_not_accepted(gw: Harness) -> None:
    event = {
        "agent": "brands/b/agents/someone-else",
        "conversationId": "conv-x",
        "message": {"messageId": "GX", "text": "hi", "createTime": "2024-01-01T00:00:00Z"},
    }
    response = gw.gbm(orjson.dumps(event))
    assert response.status_code == 200 and stored(gw, response) == []
    event["agent"] = f"brands/b/agents/{AGENT}"
    response = gw.gbm(orjson.dumps(event))
    assert len(stored(gw, response)) == 1


@pytest.mark.parametrize("agent", ["someone-else@rbm.goog", None])
def test_rbm_event_for_another_or_no_agent_is_not_accepted(gw: Harness, agent: str | None) -> None:
    event: dict[str, Any] = {"senderPhoneNumber": "+12223334444", "messageId": "RX", "text": "hi"}
    if agent is not None:
        event["agentId"] = agent
    response = gw.rbm(orjson.dumps(event))
    assert response.status_code == 200 and stored(gw, response) == []


def test_wechat_message_for_another_account_is_forbidden(gw: Harness) -> None:
    response = gw.wechat(wechat_xml(MsgType="text", Content="hi", MsgId="77", ToUserName="gh_0123456789ab"))
    assert response.status_code == 403
    assert "not this account" in response.json()["error"]
    response = gw.wechat(wechat_xml(MsgType="text", Content="hi", MsgId="78"))
    assert response.status_code == 200 and len(stored(gw, response)) == 1


# --- sizes and time ----------------------------------------------------------------------------------------


def test_50000_receipt_ids_are_refused_quickly_and_hold_nobody_up(gw: Harness) -> None:
    mids = [f"m.{i}" for i in range(50_000)]
    big = messenger(sent(delivery={"mids": mids, "watermark": TS}))
    assert len(big) > 400_000  # the body: 439 KB

    async def both() -> tuple[Any, Any, float]:
        heavy = asyncio.ensure_future(gw.apost("messenger", big, **meta_headers(big)))
        await asyncio.sleep(0)
        small = messenger(sent(message={"mid": "m_small", "text": "hello"}))
        start = time.monotonic()
        light = await gw.apost("messenger", small, **meta_headers(small))
        return await heavy, light, time.monotonic() - start

    started = time.monotonic()
    heavy, light, light_seconds = gw.runner.run(both())
    assert heavy.status_code == 413
    assert "max_events_per_webhook (1000)" in heavy.json()["error"]
    assert light.status_code == 200
    assert time.monotonic() - started < 10  # main: 12.5 s with the writer held; here ~1 s of JSON parsing
    assert light_seconds < 10


def test_statuses_are_written_in_batches_that_let_messages_through(gw: Harness) -> None:
    statuses = [
        {"id": f"wamid.S{i}", "status": "delivered", "recipient_id": "16505551234"} for i in range(1000)
    ]
    body = whatsapp(statuses=statuses)

    async def both() -> tuple[Any, Any]:
        heavy = asyncio.ensure_future(gw.apost("whatsapp", body, **meta_headers(body)))
        await asyncio.sleep(0)
        small = messenger(sent(message={"mid": "m_during", "text": "hello"}))
        light = await gw.apost("messenger", small, **meta_headers(small))
        return await heavy, light

    heavy, light = gw.runner.run(both())
    assert (heavy.status_code, light.status_code) == (200, 200)
    rows = gw.new_rows()
    assert sum(1 for r in rows if r["kind"] == "status") == 1000
    assert [r["dedup_key"] for r in rows if r["kind"] == "message"] == ["m_during"]


def test_events_per_webhook_are_capped_by_the_setting(store_url: str) -> None:
    with running_gateway(store_url, max_events_per_webhook=2) as h:
        body = messenger(*(sent(message={"mid": f"m_{i}", "text": "x"}) for i in range(3)))
        response = h.meta("messenger", body)
        assert response.status_code == 413
        assert "3 events in one webhook, over max_events_per_webhook (2)" in response.json()["error"]
        assert h.new_rows() == []
        two = messenger(*(sent(message={"mid": f"m_{i}", "text": "x"}) for i in range(2)))
        assert h.meta("messenger", two).status_code == 200


# --- the last line of defence ------------------------------------------------------------------------------


def test_an_unexpected_parser_error_is_a_400_logged_with_its_traceback(
    gw: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    channel = gw.gateway.channel("messenger", "fuzz")
    assert channel is not None

    def broken(request: Any, verified: Any) -> Any:
        raise ZeroDivisionError("a parser bug")

    monkeypatch.setattr(channel, "parse", broken)
    with caplog.at_level(logging.ERROR, logger="channelgate.webhooks"):
        response = gw.meta("messenger", messenger(sent(message={"mid": "m_bug", "text": "x"})))
    assert response.status_code == 400
    assert response.json() == {"error": "malformed webhook: the gateway could not read it"}
    [record] = [r for r in caplog.records if r.name == "channelgate.webhooks"]
    assert record.exc_info is not None and "ZeroDivisionError" in caplog.text
