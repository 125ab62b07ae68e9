"""The platforms' side of a benchmark, in its own process: the Graph API simulator (Messenger and WhatsApp
send APIs) and the WeChat simulator, plus a small control API for the harness.

``/_bench/sent?since=N`` lists the sends received after the N-th as ``[product, recipient, text, at]``;
``POST /_bench/control`` sets the send delay (``{"delay": 0.15}``) or clears the record (``{"reset": true}``).
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from channelgate.testing.graph import GraphSimulator
from channelgate.testing.wechat import WeChatSimulator

WECHAT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def reply_text(product: str, body: dict[str, Any]) -> str:
    """The text of a send, whichever product it went to."""
    if product == "messenger":
        return str((body.get("message") or {}).get("text", ""))
    if product == "wechat":
        return str((body.get("text") or {}).get("content", ""))
    return str((body.get("text") or {}).get("body", ""))


def build(delay: float) -> Starlette:
    graph = GraphSimulator(kind="whatsapp", send_delay=delay)
    wechat = WeChatSimulator(encoding_aes_key=WECHAT_AES_KEY)

    async def sent(request: Request) -> Response:
        since = int(request.query_params.get("since", "0"))
        rows: list[list[Any]] = [
            [s.product, s.recipient, reply_text(s.product, s.body), s.at] for s in graph.sent[since:]
        ]
        rows += [
            ["wechat", str(s.body.get("touser", "")), reply_text("wechat", s.body), s.at] for s in wechat.sent
        ]
        return Response(orjson.dumps(rows), media_type="application/json")

    async def control(request: Request) -> Response:
        body = orjson.loads(await request.body())
        if "delay" in body:
            graph.send_delay = float(body["delay"])
        if body.get("reset"):
            graph.sent.clear()
            wechat.sent.clear()
        return Response(b"{}", media_type="application/json")

    return Starlette(
        routes=[
            Route("/_bench/sent", sent, methods=["GET"]),
            Route("/_bench/control", control, methods=["POST"]),
            Mount("/wechat", wechat.app),
            Mount("/", graph.app),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    uvicorn.run(build(args.delay), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
