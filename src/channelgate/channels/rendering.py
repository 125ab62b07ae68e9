"""Rendering helpers that several channels share: splitting long text, truncating to limits, and the
plain-text degradations a channel uses for what its platform cannot show."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from channelgate.channels.base import RenderContext
from channelgate.messages import Action, CallAction, ReplyAction, UrlAction

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")  # noqa: RUF001 - CJK sentence ends


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` (as counted by ``measure``), preferring paragraph,
    then sentence, then word boundaries, and cutting inside a word only when one word is too long.

    ``measure`` lets WeChat count UTF-8 bytes instead of characters; a cut never splits a character.
    """
    if measure(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while measure(rest) > limit:
        cut = _best_cut(rest, limit, measure)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            parts.append(head)
    if rest:
        parts.append(rest)
    return parts


def _fit(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The longest prefix length (in characters) whose measure fits the limit."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _best_cut(text: str, limit: int, measure: Callable[[str], int]) -> int:
    window = _fit(text, limit, measure)
    head = text[:window]
    floor = window // 3  # do not make tiny parts just to end on a boundary
    for pattern in ("\n\n", "\n"):
        at = head.rfind(pattern)
        if at > floor:
            return at + len(pattern)
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() > floor]
    if ends:
        return ends[-1]
    at = head.rfind(" ")
    if at > floor:
        return at + 1
    return max(window, 1)


def truncate(text: str, limit: int, ctx: RenderContext | None = None, what: str = "text") -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis, noting it in the render context."""
    if len(text) <= limit:
        return text
    if ctx is not None:
        ctx.note(f"{what} truncated to {limit} characters")
    return text[: max(limit - 1, 0)] + "…"


def truncate_bytes(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes without splitting a character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode(errors="ignore")


def action_as_text(action: Action, gettext: Callable[[str], str] = str) -> str:
    """A button as a line of text, for platforms that cannot show it as a button."""
    if isinstance(action, UrlAction):
        return gettext("{title}: {url}").format(title=action.title, url=action.url)
    if isinstance(action, CallAction):
        return gettext("{title}: call {phone}").format(title=action.title, phone=action.phone)
    return action.title


def numbered_choices(text: str, titles: Sequence[str], ctx: RenderContext, *, prompt: bool = True) -> str:
    """A text with numbered choices, for channels without buttons. The user may answer with the number
    (the web layer does not guess: the bot receives the text "2" and the list it was offered is in the
    transcript), or with the title."""
    lines = [text] if text else []
    lines += [f"{i}. {title}" for i, title in enumerate(titles, 1)]
    if prompt and titles:
        lines.append(ctx.gettext("Reply with the number of your choice."))
    return "\n".join(lines)


def reply_actions(actions: Sequence[Action] | None) -> list[ReplyAction]:
    return [a for a in actions or [] if isinstance(a, ReplyAction)]
