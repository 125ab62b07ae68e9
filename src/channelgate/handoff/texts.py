"""What the desk reads: a user's input as one line of text, and the recent transcript as a private note.

Agents read these in the help desk, so they are plain text: media by their URL (or the gateway's media
id when the platform gives no URL), locations with a map link.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping


def input_text(value: dict[str, Any]) -> str:
    """One stored input (``turns.Input`` as JSON) as the desk shows it."""
    kind = value.get("type")
    if kind == "text":
        return str(value.get("text") or "")
    if kind == "postback":
        return str(value.get("title") or value.get("payload") or "")
    if kind == "media":
        where = value.get("url") or f"(media id {value.get('media_id')}: GET /api/v1/media on the gateway)"
        caption = f" {value['caption']}" if value.get("caption") else ""
        return f"[{value.get('kind', 'file')}] {where}{caption}"
    if kind == "location":
        lat, lng = value.get("latitude"), value.get("longitude")
        label = " ".join(str(value[k]) for k in ("name", "address") if value.get(k))
        return f"[location] {label + ' ' if label else ''}https://maps.google.com/?q={lat},{lng}"
    if kind == "event":
        return f"[event {value.get('name')}]"
    return f"[{kind}]"


def transcript_note(
    entries: list[tuple[int, RowMapping]], *, reason: str, note: str | None, user: str
) -> str:
    """The private note that opens a desk conversation: why, the bot's note, the recent messages."""
    why = {
        "bot": "The bot handed this conversation over.",
        "user": "The user asked for a person.",
        "operator": "An operator took this conversation.",
        "agent": "An agent took this conversation.",
    }.get(reason, f"Handed over ({reason}).")
    lines = [why]
    if note:
        lines.append(f"Note: {note}")
    if entries:
        lines.append("")
        lines.append("Recent messages:")
    for rank, row in entries:
        if rank == 0:
            value = row["input"] if isinstance(row["input"], dict) else {}
            lines.append(f"{user}: {input_text(value)}")
        elif row["kind"] == "message":
            lines.append(f"Bot: {row['summary'] or ''}")
    return "\n".join(lines)


__all__ = ["input_text", "transcript_note"]
