"""The store's typed rows and its shared write paths, on both engines.

Rows are TypedDicts (store/rows.py) so mypy checks column names; these tests hold each one to its table,
so a column added to tables.py and not to its row type fails here rather than being invisible to mypy.
And the admin API's requests go through the same get-or-create and insert functions as the webhooks.
"""

from __future__ import annotations

import time
import typing

from channelgate.channels.base import InboundMessage, Outbound
from channelgate.delivery import actions_of
from channelgate.store import NewOutbound, Store, admin
from channelgate.store.admin import Idempotency
from channelgate.store.inbox import INSERT_TURN
from channelgate.store.outbox import INSERT_OUTBOX, fold
from channelgate.store.rows import ConversationRow, DeliveryRow, NewDelivery, TurnRow
from channelgate.store.tables import conversations, inbox, outbox
from channelgate.turns import TextInput, User


def keys(row_type: type) -> set[str]:
    return set(typing.get_type_hints(row_type))


def message(key: str, user: str = "u1") -> InboundMessage:
    return InboundMessage(
        dedup_key=key, user=User(id=user), input=TextInput(text="hi"), platform_message_id=key
    )


def test_each_row_type_has_exactly_its_tables_columns() -> None:
    assert keys(ConversationRow) == set(conversations.c.keys())
    assert keys(TurnRow) == set(inbox.c.keys())
    assert keys(DeliveryRow) == set(outbox.c.keys())


def test_a_new_delivery_is_what_the_insert_statement_takes() -> None:
    params = {
        name
        for name in INSERT_OUTBOX.sql.replace(",", " ").replace("(", " ").replace(")", " ").split()
        if name[0] == ":"
    }
    assert keys(NewDelivery) == {name[1:] for name in params}
    assert keys(NewDelivery) < keys(DeliveryRow)


async def test_the_rows_the_pipeline_and_delivery_read_carry_every_column(store: Store) -> None:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("a")])
    turn_id, conversation_id = accepted.new_turns[0]

    conversation = await store.conversations.get(conversation_id)
    assert conversation is not None and set(conversation) == keys(ConversationRow)
    assert conversation["profile_fetched"] is False and conversation["user_id"] == "u1"
    found = await store.conversations.find("relay", "main", "u1")
    assert found is not None and set(found) == keys(ConversationRow) and found["id"] == conversation_id

    turn = await store.inbox.claim_conversation(conversation_id, "w", 30)
    assert turn is not None and set(turn) == keys(TurnRow)
    assert turn["id"] == turn_id and turn["input"] == {"type": "text", "text": "hi"}
    assert [set(r) for r in await store.inbox.rows(conversation_id)] == [keys(TurnRow)]

    reply = NewOutbound(Outbound(kind="message", body={"text": "hello"}))
    ids, following = await store.inbox.complete_turn(
        turn_id, conversation_id, "relay", "main", [reply], owner="w"
    )
    assert following is None
    claimed = await store.deliveries.claim("d", time.time() + 1, 10, 30)
    assert [r["id"] for r in claimed] == ids
    assert set(claimed[0]) == keys(DeliveryRow)
    assert claimed[0]["body"] == {"text": "hello"} and claimed[0]["best_effort"] is False
    assert [set(r) for r in await store.outbox.rows(conversation_id)] == [keys(DeliveryRow)]


async def test_the_send_api_and_a_webhook_find_the_same_conversation(store: Store) -> None:
    sent = await admin.enqueue_messages(
        store,
        channel="relay",
        label="main",
        conversation_id=None,
        user_id="u9",
        locale="fr-FR",
        items=[NewOutbound(Outbound(kind="message", body={"text": "first"}))],
        idem=None,
    )
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("w1", user="u9")])
    assert accepted.new_turns[0][1] == sent["conversation_id"]
    conversation = await store.conversations.get(sent["conversation_id"])
    assert conversation is not None and conversation["locale"] == "fr-FR"  # made by the API, kept
    assert await store.conversations.for_user("relay", "main", "u9", "en-US") == sent["conversation_id"]


async def test_an_api_event_is_one_turn_however_often_its_request_is_repeated(store: Store) -> None:
    conversation_id = await store.conversations.for_user("relay", "main", "u1", "en-US")
    idem = Idempotency("events:k1", "hash")
    first, added = await admin.add_event(
        store, conversation_id=conversation_id, channel="relay", label="main", input_json={"x": 1}, idem=idem
    )
    again, added_again = await admin.add_event(
        store, conversation_id=conversation_id, channel="relay", label="main", input_json={"x": 1}, idem=idem
    )
    assert added and not added_again and again == first
    rows = await store.inbox.rows(conversation_id)
    assert [(r["kind"], r["dedup_key"], r["input"]) for r in rows] == [("event", "api:events:k1", {"x": 1})]
    # the same insert as the store's own event turns: a seen dedup key adds nothing
    assert (
        await store.inbox.add_event_turn(conversation_id, "relay", "main", {"x": 2}, "api:events:k1") is None
    )


async def test_the_hot_insert_statement_is_the_inbox_repositorys(store: Store) -> None:
    conversation_id = await store.conversations.for_user("relay", "main", "u1", "en-US")
    row = {
        "channel": "relay",
        "label": "main",
        "dedup_key": "direct",
        "conversation_id": conversation_id,
        "kind": "message",
        "input": {"type": "text", "text": "hi"},
        "raw": None,
        "platform_message_id": None,
        "locale_hint": None,
        "now": time.time(),
    }
    hit = await store.run(lambda conn: INSERT_TURN.first(conn, row))
    assert hit is not None and hit["conversation_id"] == conversation_id
    assert await store.run(lambda conn: INSERT_TURN.first(conn, row)) is None


def action(name: str) -> NewOutbound:
    return NewOutbound(Outbound(kind="action", body={"sender_action": name}, best_effort=True, summary=name))


def reply(text: str, status: str = "queued") -> NewOutbound:
    return NewOutbound(Outbound(kind="message", body={"text": text}, summary=text), status=status)


def test_actions_queued_just_before_a_message_ride_on_its_row() -> None:
    seen, typing = action("mark_seen"), action("typing_on")
    folded = fold([seen, typing, reply("one"), reply("two"), action("late")])
    assert [(i.outbound.summary, [a.summary for a in i.before]) for i in folded] == [
        ("one", ["mark_seen", "typing_on"]),
        ("two", []),
        ("late", []),  # no message after it: a row of its own
    ]
    assert folded[0].status == "queued" and folded[2].outbound.best_effort
    assert fold(folded) == folded
    # an action before a message already carrying some goes out first, as rendered
    again = fold([action("answer"), folded[0]])
    assert [a.summary for a in again[0].before] == ["answer", "mark_seen", "typing_on"]


def test_held_and_failed_rows_are_never_folded_nor_folded_onto() -> None:
    seen = action("mark_seen")
    held = NewOutbound(seen.outbound, status="held")
    for items in (
        [held, reply("one", "held")],  # a passive reply: the HTTP answer takes them as they are
        [seen, reply("refused", "failed")],  # a failed render: nothing is sent
    ):
        assert fold(items) == items
    after_failed = fold([reply("refused", "failed"), seen, reply("two")])
    assert [(i.outbound.summary, len(i.before)) for i in after_failed] == [("refused", 0), ("two", 1)]


async def test_the_actions_before_a_message_round_trip_through_its_row(store: Store) -> None:
    accepted = await store.inbox.accept("relay", "main", "en-US", [message("b")])
    turn_id, conversation_id = accepted.new_turns[0]
    assert await store.inbox.claim_conversation(conversation_id, "w", 30) is not None
    items = [action("mark_seen"), action("typing_on"), reply("hello"), action("late")]
    ids, _ = await store.inbox.complete_turn(turn_id, conversation_id, "relay", "main", items, owner="w")
    assert len(ids) == 2  # the reply (two actions on it) and the lone action
    riders = [
        {"kind": "action", "body": {"sender_action": name}, "summary": name}
        for name in ("mark_seen", "typing_on")
    ]
    [head] = await store.deliveries.claim("d", time.time() + 1, 10, 30)
    assert (head["id"], head["before"], head["best_effort"]) == (ids[0], riders, False)
    assert [a.body for a in actions_of(head)] == [
        {"sender_action": "mark_seen"},
        {"sender_action": "typing_on"},
    ]
    rows = await store.outbox.rows(conversation_id)  # read through SQLAlchemy, not the hot statement
    assert [(r["kind"], r["before"]) for r in rows] == [("message", riders), ("action", None)]
    await store.deliveries.mark_sent(ids[0], "m1", 1)
    [lone] = await store.deliveries.claim("d", time.time() + 1, 10, 30)
    assert (lone["id"], lone["before"], lone["best_effort"]) == (ids[1], None, True)
