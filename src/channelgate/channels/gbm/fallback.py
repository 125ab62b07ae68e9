"""The plain text a device shows when it cannot render a rich GBM message (GBM's required ``fallback``).

Built from the rendered content, not from the universal message, so that a channel-specific payload gets
one too: text, card titles, descriptions and media links, then each suggestion as a line (an action shows
where it leads).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from channelgate.channels.renderer import maps_link

#: our own bound on fallback text: Google documents none, so it gets the text limit
FALLBACK_MAX = 3072

_RICH = ("richCard", "image", "contentInfo", "suggestions", "fileName")


def is_rich(content: Mapping[str, Any]) -> bool:
    """Whether a device might not render this content (anything beyond plain text)."""
    return any(key in content for key in _RICH)


def fallback_text(content: Mapping[str, Any], gettext: Callable[[str], str] = str) -> str:
    """Plain text for a device that cannot show ``content``, at most :data:`FALLBACK_MAX` characters."""
    blocks: list[str] = []
    if isinstance(content.get("text"), str):
        blocks.append(content["text"])
    media = content.get("image", {}).get("contentInfo") if isinstance(content.get("image"), dict) else None
    media = media or content.get("contentInfo")
    if isinstance(media, dict) and media.get("fileUrl"):
        blocks.append(str(media["fileUrl"]))
    card = content.get("richCard")
    if isinstance(card, dict):
        blocks.extend(_card_fallbacks(card, gettext))
    lines = _suggestion_lines(content.get("suggestions"), gettext)
    if lines:
        blocks.append("\n".join(lines))
    text = "\n\n".join(block for block in blocks if block)
    return text if len(text) <= FALLBACK_MAX else text[: FALLBACK_MAX - 1] + "…"


def _card_fallbacks(card: Mapping[str, Any], gettext: Callable[[str], str]) -> list[str]:
    contents: list[Any] = []
    if isinstance(card.get("standaloneCard"), dict):
        contents = [card["standaloneCard"].get("cardContent") or {}]
    elif isinstance(card.get("carouselCard"), dict):
        contents = list(card["carouselCard"].get("cardContents") or [])
    blocks = []
    for item in contents:
        if not isinstance(item, dict):
            continue
        lines = [str(item[key]) for key in ("title", "description") if item.get(key)]
        info = (item.get("media") or {}).get("contentInfo") or {}
        if isinstance(info, dict) and info.get("fileUrl"):
            lines.append(str(info["fileUrl"]))
        lines += _suggestion_lines(item.get("suggestions"), gettext)
        blocks.append("\n".join(lines))
    return blocks


def _suggestion_lines(suggestions: Any, gettext: Callable[[str], str]) -> list[str]:
    lines = []
    for suggestion in suggestions or []:
        if not isinstance(suggestion, dict):
            continue
        if isinstance(suggestion.get("reply"), dict):
            lines.append(f"- {suggestion['reply'].get('text', '')}")
        elif isinstance(suggestion.get("action"), dict):
            lines.append(f"- {_action_line(suggestion['action'], gettext)}")
    return lines


def _action_line(action: Mapping[str, Any], gettext: Callable[[str], str]) -> str:
    title = str(action.get("text", ""))
    if isinstance(action.get("openUrlAction"), dict):
        return gettext("{title}: {url}").format(title=title, url=action["openUrlAction"].get("url", ""))
    if isinstance(action.get("dialAction"), dict):
        phone = action["dialAction"].get("phoneNumber", "")
        return gettext("{title}: call {phone}").format(title=title, phone=phone)
    view = action.get("viewLocationAction")
    if isinstance(view, dict) and isinstance(view.get("latLong"), dict):
        url = maps_link(view["latLong"].get("latitude"), view["latLong"].get("longitude"))
        return gettext("{title}: {url}").format(title=title, url=url)
    return title
