"""A store closes, and its event loop ends, even when queries were cancelled mid-flight.

At shutdown the gateway, uvicorn and pytest-asyncio cancel tasks that may be inside a store query on the
aiosqlite connection. With aiosqlite 0.22, SQLAlchemy's terminate of such a connection stopped its worker
thread while the graceful close still waited on it, and the event loop's last step (cancelling what is
left) waited forever: the rare hang at the end of the browser and web chat tests. The scenario runs in a
child process so that a regression is a failed test with a clear message, not a CI run that hangs.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCENARIO = textwrap.dedent(
    """
    import asyncio, random, sys
    from channelgate.channels.base import InboundMessage
    from channelgate.store import Store
    from channelgate.turns import TextInput, User

    async def reader(store, user):
        while True:  # the read path that goes through aiosqlite, as the admin API and console use it
            await store.conversations.find("relay", "main", user)

    async def once(folder, i):
        store = Store(f"sqlite:///{folder}/s{i}.db")
        await store.create_schema()
        message = InboundMessage(dedup_key="m", user=User(id="u1"), input=TextInput(text="hi"))
        await store.inbox.accept("relay", "main", "en-US", [message])
        tasks = [asyncio.create_task(reader(store, "u1")) for _ in range(8)]
        await asyncio.sleep(random.uniform(0.005, 0.03))
        for task in tasks:
            task.cancel()  # mid-query, and not awaited: as a shutdown that gives up on its tasks
        await store.close()

    random.seed(7)
    for i in range(int(sys.argv[2])):
        asyncio.run(once(sys.argv[1], i))
    print("closed every time")
    """
)


def test_a_store_closes_and_its_loop_ends_after_queries_were_cancelled(tmp_path: Path) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCENARIO, str(tmp_path), "60"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(
            "the event loop never ended after cancelled store queries (is aiosqlite >= 0.22 installed?)"
        ) from None
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "closed every time"
