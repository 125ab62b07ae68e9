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
from collections.abc import Mapping, Sequence
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

#: WeChat callbacks are a few hundred bytes; a user's longest text is a few KiB (about 3x in compatible mode).
MAX_XML_BYTES = 64 * 1024

_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class XmlError(ValueError):
    """A body that is not WeChat XML, or is too large, or tries DTD tricks. The text says which."""


def parse_xml(body: bytes | str, max_bytes: int = MAX_XML_BYTES) -> dict[str, str]:
    """The fields of a ``<xml>...</xml>`` document as a flat dict (nested elements as ``Parent.Child``).

    Raises :class:`XmlError` for bodies over ``max_bytes``, DTDs and entities, and malformed XML.
    """
    data = body.encode() if isinstance(body, str) else body
    if len(data) > max_bytes:
        raise XmlError(f"XML body is {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data.strip():
        raise XmlError("empty XML body")
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
    fields: dict[str, str] = {}
    _flatten(root, "", fields)
    return fields


def _flatten(element: Element, prefix: str, out: dict[str, str]) -> None:
    for child in element:
        name = f"{prefix}{child.tag}"
        if len(child):
            _flatten(child, f"{name}.", out)
        else:
            out.setdefault(name, (child.text or "").strip())


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
