"""The bare endpoint every figure is compared with: Starlette on uvicorn, read the body, answer 200."""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def webhook(request: Request) -> Response:
    await request.body()
    return Response(b"EVENT_RECEIVED", media_type="text/plain")


async def healthz(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(
    routes=[Route("/webhooks/{channel}/{label}", webhook, methods=["POST"]), Route("/healthz", healthz)]
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
