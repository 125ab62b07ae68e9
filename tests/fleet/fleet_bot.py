"""The bot of the fleet tests: echoes, takes a little time, and logs which process ran each turn."""

from __future__ import annotations

import asyncio
import os

from channelgate.turns import Turn


async def respond(turn: Turn) -> dict[str, object]:
    text = getattr(turn.input, "text", "")
    with open(os.environ["FLEET_BOT_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {turn.id} {text}\n")
    await asyncio.sleep(0.01)
    return {"messages": [{"type": "text", "text": f"echo: {text}"}]}
