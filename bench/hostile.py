"""Hostile webhook bodies for ``make soak``: what a broken platform, a proxy that mangles bodies or an
attacker who holds no secret sends. What is sent where follows a seed (ids and timestamps inside are the
moment's, as a platform's are), so a run that found a 5xx can be run again.

Three kinds, each answered in its own way by a gateway that keeps its promise:

* ``signed``: a real payload (text, postback, quick reply, attachment, location, receipts, statuses) with one
  to three of its values replaced by something of the wrong type or range (a list for a number, ``"nan"``,
  an empty or 300-character id, NUL, nesting 300 deep), or a key dropped, signed with the app secret.
  Answer: 2xx (each well-formed event accepted, each malformed one skipped) or a 4xx; never a 5xx.
* ``garbage``: signed bytes that are not a webhook at all: empty, truncated, not UTF-8, UTF-16, a bare
  scalar, ``NaN``, ``1e999``, brackets nested 5,000 deep. Answer: a 4xx (or 2xx with nothing accepted).
* ``unsigned``: a real payload without a signature, with a wrong one, or with the signature of another
  body. Answer: 401/403, nothing accepted.

Every user id in them is a hostile user's (``66...`` PSIDs, ``1999...`` phone numbers), never one of the
soak's real users, so what the gateway makes of them cannot be mistaken for the real traffic's answers.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from typing import Any

import orjson

from channelgate.channels.meta import sign
from channelgate.testing.graph import GraphSimulator

#: values of the wrong type or range, put in place of a real value
_WRONG: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    10**30,
    1.5,
    "nan",
    "inf",
    "",
    " ",
    "\x00",
    "\u202e\u0000\ud7ff",
    "x" * 300,
    [],
    {},
    [1, "2", None],
    {"id": {"id": []}},
)


@dataclass(frozen=True, slots=True)
class Hostile:
    """One hostile request: where it goes, its bytes, its headers, and what kind of hostility it is."""

    kind: str  # signed | garbage | unsigned
    path: str
    body: bytes
    headers: dict[str, str]


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


def _slots(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a JSON value, depth first: the places a mutation can hit."""
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((node, key))
            _slots(value, out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((node, i))
            _slots(value, out)
    return out


class HostileBodies:
    """Makes hostile requests for the Messenger and WhatsApp webhooks of the integrations labelled
    ``label``; ``graph`` holds the app secret and builds the real payloads that get mutated."""

    def __init__(self, graph: GraphSimulator, seed: int = 12, label: str = "main") -> None:
        self.graph = graph
        self.rng = random.Random(seed)
        self.label = label
        self.count = 0

    def next(self) -> Hostile:
        self.count += 1
        product = self.rng.choice(("messenger", "whatsapp"))
        path = f"/webhooks/{product}/{self.label}"
        roll = self.rng.random()
        if roll < 0.6:
            # json, not orjson: orjson refuses nesting past 255 and integers past 64 bits, which are the point
            body = json.dumps(self._mutate(self._real(product)), ensure_ascii=False).encode()
            return Hostile("signed", path, body, self._signed(body))
        if roll < 0.8:
            body = self._garbage(product)
            return Hostile("garbage", path, body, self._signed(body))
        body = orjson.dumps(self._real(product))
        headers = {"Content-Type": "application/json"}
        way = self.rng.randrange(3)
        if way == 1:
            headers["X-Hub-Signature-256"] = sign(body, "not-the-app-secret")
        elif way == 2:
            headers["X-Hub-Signature-256"] = sign(body + b" ", self.graph.app_secret)
        return Hostile("unsigned", path, body, headers)

    def _signed(self, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, self.graph.app_secret)}

    def _real(self, product: str) -> dict[str, Any]:
        g, n = self.graph, self.count
        text = f"hostile {n}"
        mid = f"h{n}.{self.rng.randrange(10**9)}"  # the simulator's own ids would depend on its history
        if product == "messenger":
            psid = f"66{self.rng.randrange(10**8):08d}"
            builders = (
                lambda: g.messenger_text(psid, text, mid=f"m_{mid}"),
                lambda: g.messenger_postback(psid, "Yes", f"P{n}", mid=f"m_{mid}"),
                lambda: g.messenger_quick_reply(psid, "Yes", f"Q{n}", mid=f"m_{mid}"),
                lambda: g.messenger_attachment(psid, "image", "https://example.com/a.jpg", mid=f"m_{mid}"),
                lambda: g.messenger_webhook(
                    g.messenger_event(
                        psid,
                        message={
                            "mid": f"m_{mid}",
                            "attachments": [
                                {"type": "location", "payload": {"coordinates": {"lat": 48.8, "long": 2.3}}}
                            ],
                        },
                    )
                ),
                lambda: g.messenger_delivery(psid, g._now_ms(), [f"m_{mid}"]),
                lambda: g.messenger_read(psid, g._now_ms()),
            )
        else:
            wa_id = f"1999{self.rng.randrange(10**7):07d}"
            builders = (
                lambda: g.whatsapp_text(wa_id, text, wamid=f"wamid.{mid}"),
                lambda: g.whatsapp_button_reply(wa_id, f"B{n}", "Yes", wamid=f"wamid.{mid}"),
                lambda: g.whatsapp_image(wa_id, f"media{n}", caption=text, wamid=f"wamid.{mid}"),
                lambda: g.whatsapp_message(
                    "location",
                    {"latitude": 48.8, "longitude": 2.3, "name": "Here"},
                    wa_id=wa_id,
                    wamid=f"wamid.{mid}",
                ),
                lambda: g.whatsapp_status(f"wamid.{mid}", "delivered", wa_id),
            )
        return self.rng.choice(builders)()

    def _mutate(self, payload: dict[str, Any]) -> dict[str, Any]:
        for _ in range(self.rng.randint(1, 3)):
            slots = _slots(payload, [])
            if not slots:
                break
            container, key = self.rng.choice(slots)
            roll = self.rng.random()
            if roll < 0.15 and isinstance(container, dict):
                del container[key]
            elif roll < 0.25:
                container[key] = _nested(300)
            else:
                container[key] = copy.deepcopy(self.rng.choice(_WRONG))  # a later mutation may hit it
        return payload

    def _garbage(self, product: str) -> bytes:
        real = orjson.dumps(self._real(product))
        choices: tuple[bytes, ...] = (
            b"",
            real[: self.rng.randrange(1, len(real))],
            bytes(self.rng.randrange(256) for _ in range(200)),
            real.decode().encode("utf-16"),
            b"[" * 5000 + b"]" * 5000,
            b'{"object": "page", "entry": ' + b"[" * 300 + b"]" * 300 + b"}",
            b"NaN",
            b"1e999",
            b'"entry"',
            b"null",
            b"[]",
            b'{"object": "whatsapp_business_account", "entry": {"id": 1}}',
            real.replace(b'"', b"'"),
        )
        return self.rng.choice(choices)
