"""WeChat's XML, both ways, safely.

Inbound bodies come from the internet before (plaintext mode) or after (safe mode) authentication, so they
are parsed with defusedxml with every DTD refused: no entity declarations (billion laughs), no external
entities or references, and a size limit checked before the parser sees a byte. WeChat never sends a DTD,
so refusing one costs nothing.

Outbound replies are built as text with every value in CDATA; a value containing ``]]>`` is split across
two CDATA sections, and characters XML 1.0 forbids are dropped, so no value can break out of its element.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

#: WeChat callbacks are a few hundred bytes; a user's longest text is a few KiB (about 3x in compatible mode).
MAX_XML_BYTES = 64 * 1024
#: WeChat's deepest documented element is 4 levels down (SendPicsInfo.PicList.item.PicMd5Sum).
MAX_XML_DEPTH = 16

_DECLARED_ENCODING = re.compile(rb"""\A\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")

_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class XmlError(ValueError):
    """A body that is not WeChat XML, or is too large, or tries DTD tricks. The text says which."""


@dataclass(frozen=True, slots=True)
class XmlMessage:
    """A WeChat message read both ways.

    ``fields``: every leaf by dotted path (``ScanCodeInfo.ScanType``), the first copy of a repeated one: the
    shape the signature, routing and passive-reply code read. ``tree``: the document as it is, nested
    elements as dicts and repeated elements as lists, so that a ``pic_sysphoto`` event's
    ``SendPicsInfo/PicList/item`` or a news message's ``Articles/item`` keeps every copy, not just the
    first. ``<item>`` is always a list, even alone: it is WeChat's list element, and a bot should not have
    to handle one picture differently from two."""

    fields: dict[str, str]
    tree: dict[str, Any]


def parse_xml(body: bytes | str, max_bytes: int = MAX_XML_BYTES) -> dict[str, str]:
    """The fields of a ``<xml>...</xml>`` document as a flat dict (nested elements as ``Parent.Child``);
    :func:`read_xml` also gives the whole tree."""
    return read_xml(body, max_bytes).fields


def read_xml(body: bytes | str, max_bytes: int = MAX_XML_BYTES) -> XmlMessage:
    """A ``<xml>...</xml>`` document as :class:`XmlMessage`.

    Raises :class:`XmlError` for bodies over ``max_bytes``, bodies that are not UTF-8 (WeChat sends only
    UTF-8; any other declared encoding, UTF-7 included, would hand decoding to codecs expat does not check),
    DTDs and entities, elements nested deeper than :data:`MAX_XML_DEPTH`, and malformed XML.
    """
    data = body.encode() if isinstance(body, str) else body
    if len(data) > max_bytes:
        raise XmlError(f"XML body is {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data.strip():
        raise XmlError("empty XML body")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise XmlError("XML body is not UTF-8") from None
    declared = _DECLARED_ENCODING.match(data)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise XmlError(f"XML declares encoding {declared.group(1).decode()!r}; only UTF-8 is accepted")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlError(
            f"XML with a DTD, entities or external references is refused ({type(exc).__name__})"
        ) from None
    except ParseError as exc:
        raise XmlError(f"malformed XML: {exc}") from None
    if root.tag != "xml":
        raise XmlError(f"root element is <{root.tag}>, expected <xml>")
    return XmlMessage(_flatten(root), _tree(root))


def _flatten(root: Element) -> dict[str, str]:
    """Leaf texts by dotted path, in document order; iterative, with the depth capped, so that no nesting
    can exhaust the recursion limit."""
    out: dict[str, str] = {}
    stack: list[tuple[Element, str, int]] = [(root, "", 1)]
    while stack:
        element, prefix, depth = stack.pop()
        if depth > MAX_XML_DEPTH:
            raise XmlError(f"XML is nested more than {MAX_XML_DEPTH} levels deep")
        children = list(element)
        for child in reversed(children):
            name = f"{prefix}{child.tag}"
            if len(child):
                stack.append((child, f"{name}.", depth + 1))
        for child in children:
            if not len(child):
                out.setdefault(f"{prefix}{child.tag}", (child.text or "").strip())
    return out


def _tree(element: Element) -> dict[str, Any]:
    """Children by tag: a leaf as its text, a parent as a dict, a repeated tag (and ``item``) as a list.
    Recursive, but only after :func:`_flatten` has refused anything deeper than :data:`MAX_XML_DEPTH`."""
    counts = Counter(child.tag for child in element)
    out: dict[str, Any] = {}
    for child in element:
        value: Any = _tree(child) if len(child) else (child.text or "").strip()
        if counts[child.tag] > 1 or child.tag == "item":
            out.setdefault(child.tag, []).append(value)
        else:
            out[child.tag] = value
    return out


def cdata(value: str) -> str:
    """``value`` as CDATA that cannot be closed early by the value itself."""
    clean = _INVALID_XML_CHARS.sub("", value)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


XmlValue = str | int | Mapping[str, "XmlValue"] | Sequence[Mapping[str, "XmlValue"]]


def build_xml(fields: Mapping[str, XmlValue], root: str = "xml") -> str:
    """An XML document: strings in CDATA, integers bare, mappings nested, sequences as repeated ``<item>``."""
    return f"<{root}>\n{_render(fields)}</{root}>"


def _render(fields: Mapping[str, XmlValue]) -> str:
    parts: list[str] = []
    for name, value in fields.items():
        if isinstance(value, bool):
            raise TypeError(f"{name}: booleans have no WeChat XML form")
        if isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>\n")
        elif isinstance(value, str):
            parts.append(f"<{name}>{cdata(value)}</{name}>\n")
        elif isinstance(value, Mapping):
            parts.append(f"<{name}>\n{_render(value)}</{name}>\n")
        else:
            items = "".join(f"<item>\n{_render(item)}</item>\n" for item in value)
            parts.append(f"<{name}>\n{items}</{name}>\n")
    return "".join(parts)
