"""Hypothesis strategies that mutate real platform payloads the way a broken platform, proxy or attacker
with a leaked secret could: values of the wrong type, hostile strings (NUL, control characters, over-long
ids, "nan"), hostile numbers (1e999 as text, huge integers), deep nesting past the gateway's and orjson's
limits, deleted and duplicated parts, and raw byte damage (truncation, invalid UTF-8)."""

from __future__ import annotations

import copy
import itertools
import json
import re
from typing import Any

from hypothesis import strategies as st

#: strings a platform never sends but a fuzzer must: each once broke a store, a parser or a bot turn
HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x01\x1f\x7f",
    "line\nbreak",
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    "1e999",
    "²",
    "x" * 256,
    "y" * 600,
    "🙂" * 300,
    "\ud7ff\ue000",
    "<xml>",
    "]]>",
    "gh_someone_else",
    "brands/other/agents/other",
    "999999999",
]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(HOSTILE_STRINGS),
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


def nested(depth: int, kind: str) -> Any:
    """A value ``depth`` levels deep: 255+ levels answered 500 (orjson refuses to store them)."""
    value: Any = "deep"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


deep_values = st.builds(
    nested, st.sampled_from([63, 65, 254, 256, 300, 600]), st.sampled_from(["list", "dict"])
)


def paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``tree`` (dict keys and list indexes), the root included."""
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found.extend(paths(value, (*prefix, index)))
    return found


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        tree = tree[step]
    return tree


ACTIONS = ["hostile", "replace", "hostile", "replace", "delete", "duplicate", "wrap", "hostile", "deep"]


@st.composite
def mutated_trees(draw: st.DrawFn, samples: list[Any]) -> Any:
    """One of ``samples`` with 1-4 mutations at random places."""
    tree = copy.deepcopy(draw(st.sampled_from(samples)))
    deep_done = False
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(paths(tree)))
        # simplest first: hypothesis shrinks toward the start of the list, and most examples should still
        # look like a platform's body (one bad field), so that parsing goes deep before it meets the damage
        action = draw(st.sampled_from(ACTIONS))
        if action == "deep":
            if deep_done:  # one deep value per body: two would only exhaust this test's own recursion
                continue
            deep_done = True
        if not path:
            if action in ("replace", "deep"):
                tree = draw(json_values if action == "replace" else deep_values)
            continue
        parent, key = _parent(tree, path), path[-1]
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "hostile":
            parent[key] = draw(st.sampled_from(HOSTILE_STRINGS))
        elif action == "deep":
            parent[key] = draw(deep_values)
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent[key], list):
            parent[key] = parent[key] * draw(st.integers(min_value=2, max_value=5))
        elif action == "wrap":
            parent[key] = [parent[key]] if draw(st.booleans()) else {"value": parent[key]}
    return tree


_SAMPLE_ID = re.compile(r"^(m_\d+|mid\.\d+|wamid\.\w+|M\d+|R\d+|E\d+|OUT\d+|req-\d+|\d{10}|\d{16})$")
_fresh = itertools.count(1)


def fresh_ids(tree: Any) -> Any:
    """``tree`` with the samples' message ids made unique, so that a mutated body is stored as a new event
    instead of being answered as a redelivery (the checks then see what the parser made of it)."""
    return _with_suffix(tree, next(_fresh))


def _with_suffix(tree: Any, suffix: int, depth: int = 0) -> Any:
    if depth > 20:  # the samples' ids live near the top; deep mutations are left as they are
        return tree
    if isinstance(tree, str):
        return f"{tree}{suffix}" if _SAMPLE_ID.match(tree) else tree
    if isinstance(tree, dict):
        return {k: _with_suffix(v, suffix, depth + 1) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_with_suffix(v, suffix, depth + 1) for v in tree]
    return tree


def dumps(tree: Any) -> bytes:
    """JSON as a platform could write it (the stdlib writes any depth; orjson stops at 254)."""
    return json.dumps(tree, ensure_ascii=False).encode()


@st.composite
def damaged(draw: st.DrawFn, body: bytes) -> bytes:
    """``body``, sometimes damaged at the byte level (then the answer must be a 4xx, never a 5xx)."""
    choice = draw(st.integers(min_value=0, max_value=19))  # 0 (what shrinking aims for): undamaged
    if choice == 18 and body:
        return body[: draw(st.integers(min_value=0, max_value=len(body) - 1))]
    if choice == 19:
        at = draw(st.integers(min_value=0, max_value=len(body)))
        return body[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"])) + body[at:]
    return body


# --- WeChat: XML ------------------------------------------------------------------------------------------


def _xml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{k}>{_xml_value(v)}</{k}>" for k, v in value.items())
    if isinstance(value, list):
        return "".join(f"<item>{_xml_value(v)}</item>" for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_xml(tree: Any) -> bytes:
    """A WeChat-style document from a (mutated) field tree: strings in CDATA, whatever the tags are."""
    fields = tree if isinstance(tree, dict) else {"Content": tree}
    return f"<xml>{_xml_value(fields)}</xml>".encode("utf-8", "surrogatepass")


@st.composite
def xml_damaged(draw: st.DrawFn, body: bytes) -> bytes:
    """``body``, sometimes broken the ways the issue found: other encodings, deep nesting, DTDs, bad bytes."""
    choice = draw(st.integers(min_value=0, max_value=17))  # 0-11: undamaged
    if choice == 12:
        return b'<?xml version="1.0" encoding="UTF-7"?>' + body
    if choice == 13:
        return body.decode("utf-8", "replace").encode("utf-16")
    if choice == 14 and body:
        return body[: draw(st.integers(min_value=0, max_value=len(body) - 1))]
    if choice == 15:
        depth = draw(st.sampled_from([17, 100, 5000]))
        return body.replace(b"</xml>", b"<a>" * depth + b"x" + b"</a>" * depth + b"</xml>")
    if choice == 16:
        return b'<!DOCTYPE xml [<!ENTITY e "boom">]>' + body.replace(
            b"<xml>", b"<xml><Content>&e;</Content>", 1
        )
    if choice == 17:
        return body.replace(
            b"<xml>", draw(st.sampled_from([b"<xml>&#0;", b"<xml>\xff", b"<xml>\x00", b"<XML>"])), 1
        )
    return body
