"""A passive reply counts as sent only once it was written: at the wire, against a real uvicorn server on
loopback, with a client that reads its answer and one that hangs up first (WeChat past its 5 s)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode, urlsplit

from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.wechat import Callback, WeChatSimulator

from .helpers import gateway_config
from .test_gateway import EchoBot


def raw_request(url: str, callback: Callback) -> bytes:
    parts = urlsplit(url)
    body = callback.body.encode()
    head = (
        f"POST {parts.path}?{urlencode(callback.params)} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\nContent-Type: text/xml\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


async def open_callback(gw: RunningGateway, callback: Callback) -> tuple[asyncio.StreamReader, Any]:
    parts = urlsplit(gw.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(raw_request(gw.webhook_url("wechat", "shop"), callback))
    await writer.drain()
    return reader, writer


async def outbox(gw: RunningGateway) -> list[Any]:
    async with gw.store.engine.connect() as conn:
        result = await conn.exec_driver_sql("SELECT status, reason, body FROM outbox ORDER BY id")
        return list(result.mappings().all())


async def test_a_read_passive_reply_is_marked_sent_as_passive(
    sim: WeChatSimulator, api_url: str, tmp_path: Any
) -> None:
    bot = EchoBot(delay=0.2)
    async with run_gateway(
        gateway_config(api_url, "safe", store=f"sqlite:///{tmp_path}/p.db"), bot=bot
    ) as gw:
        callback = sim.callback(sim.text_message("oUser1", "在吗"), mode="safe")
        reader, writer = await open_callback(gw, callback)
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert (sim.read_reply(body) or {}).get("Content") == "echo: 在吗"
        (second,) = await sim.wait_for_sends(1)
        assert second.body["text"]["content"] == "second"

        async def settled() -> bool:
            return [(r["status"], r["reason"]) for r in await outbox(gw)] == [
                ("sent", "passive reply"),
                ("sent", None),
            ]

        await wait_until(settled)
    assert len(sim.sent) == 1  # the first message went in the HTTP answer only


async def test_a_client_that_hung_up_gets_its_reply_through_the_api(
    sim: WeChatSimulator, api_url: str, tmp_path: Any
) -> None:
    """The bot answers within the budget, but the client closed the connection before the answer was
    written: the reply must not be marked sent as passive; both messages go through the API, in order."""
    bot = EchoBot(delay=0.5)
    async with run_gateway(
        gateway_config(api_url, "safe", store=f"sqlite:///{tmp_path}/p.db"), bot=bot
    ) as gw:
        _, writer = await open_callback(gw, sim.callback(sim.text_message("oUser1", "在吗"), mode="safe"))
        await wait_until(lambda: len(bot.turns) == 1)  # accepted; the answer waits for the bot's reply
        writer.close()  # WeChat hangs up before reading
        await writer.wait_closed()
        sent = await sim.wait_for_sends(2)
        assert [s.body["text"]["content"] for s in sent] == ["echo: 在吗", "second"]

        async def settled() -> bool:
            rows = await outbox(gw)
            return [r["status"] for r in rows] == ["sent", "sent"] and all(
                r["reason"] != "passive reply" for r in rows
            )

        await wait_until(settled)
    assert len(bot.turns) == 1
