"""Numbered text menus: how SMS, which has no buttons, offers choices and hears which one was picked.

Rich types degrade to text whose choices are numbered (``render.py``): "1. Yes", "2. No". The user answers
with a number, or with a choice's title, and the bot should receive the postback that choice stands for,
as a button tap would have given it. So the menu a reply offered is kept per user in the integration's
key-value store, written by ``send`` as the reply's last message goes out (``passive_reply`` when it goes
in the webhook's TwiML answer), and read back by ``check_replay`` when the user's next text comes in.

A reply replaces the user's menu: with the choices it offered (numbered across the whole reply, so two
lists in one reply never share a number), or with none, so that a "2" answering a later question ("how
many tickets?") is not taken for a choice of a menu the conversation has moved past.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import orjson

from channelgate.channels.base import KeyValue

#: A menu: (title, payload) per choice, choice ``n`` at index ``n - 1``.
Menu = list[tuple[str, str]]

#: How long a menu stays answerable after it was offered.
TTL = 7 * 24 * 3600.0
#: Texts longer than this are never a choice (no store read for them).
CHOICE_MAX = 100
#: "2", "#2", "2.", "2)" (and spaces around).
_NUMBER = re.compile(r"^#?\s*([0-9]{1,3})\s*[.)]?$")


def store_key(user_id: str) -> str:
    return f"menu:{user_id}"


def encode(menu: Sequence[tuple[str, str]]) -> str:
    return orjson.dumps([list(item) for item in menu]).decode()


def decode(value: str | None) -> Menu:
    """A stored menu; anything unreadable is no menu (a choice then reaches the bot as the text it is)."""
    if not value:
        return []
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(data, list):
        return []
    return [
        (item[0], item[1])
        for item in data
        if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
    ]


def from_body(value: object) -> Menu:
    """The ``_menu`` a rendered body carries (lists of two strings, once through the outbox's JSON)."""
    if not isinstance(value, list):
        return []
    return [
        (str(item[0]), str(item[1])) for item in value if isinstance(item, list | tuple) and len(item) == 2
    ]


async def remember(kv: KeyValue, user_id: str, menu: Sequence[tuple[str, str]]) -> None:
    """Offer ``menu`` to the user (an empty one withdraws the last)."""
    await kv.set(store_key(user_id), encode(menu), ttl=TTL)


def choose(text: str, menu: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """The (title, payload) the user picked with ``text``: a choice's number, or its title (case and
    surrounding spaces aside); None when ``text`` is neither."""
    said = text.strip()
    if not menu or not said or len(said) > CHOICE_MAX:
        return None
    number = _NUMBER.fullmatch(said)
    if number:
        index = int(number.group(1))
        return menu[index - 1] if 1 <= index <= len(menu) else None
    folded = said.casefold()
    return next((item for item in menu if item[0].strip().casefold() == folded), None)
