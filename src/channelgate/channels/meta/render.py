"""What both Meta renderers use: the customer-service window's length and a text split whose last part fits
an interactive body (a button template, an interactive message)."""

from __future__ import annotations

from channelgate.channels.rendering import split_text

#: Seconds in a customer-service window (both platforms) and Messenger's HUMAN_AGENT tag window.
DAY = 24 * 3600.0


def split_tail(text: str, tail_limit: int, part_limit: int) -> tuple[list[str], str]:
    """Split ``text`` so that its last part fits ``tail_limit`` (a template or interactive body) and the parts
    before it fit ``part_limit`` (plain text messages), cutting at paragraph, sentence or word boundaries."""
    parts = split_text(text, tail_limit)
    tail = parts[-1]
    if len(parts) == 1:
        return [], tail
    head = text[: text.rfind(tail)].rstrip()
    return split_text(head, part_limit) if head else [], tail
