"""The bot of ``make soak``: one deterministic echo per user message, nothing else.

The soak harness reads every reply back from the platform simulator and matches it to the message it answers
by its text, so the bot must answer each text with exactly one message that carries the text whole (the demo
bot greets first contacts and treats some words as commands). Hostile inputs that still parse (a location,
a postback, a media message) get a short echo of their type; events get no answer.
"""

from __future__ import annotations

from channelgate.turns import TextInput, Turn


async def respond(turn: Turn) -> str | None:
    if isinstance(turn.input, TextInput):
        return f"echo: {turn.input.text}"
    kind = str(turn.input.type)
    return None if kind == "event" else f"echo: ({kind})"
