"""An HTTP answer that reports whether it reached the client.

A WeChat passive reply is the bot's message inside the HTTP answer of the callback. If WeChat has already
hung up (its 5 s budget ran out, the connection dropped), writing the answer does nothing (uvicorn drops
writes to a closed connection without an error) and the message would be lost while the outbox says it was
sent. So the gateway marks it sent only from here, after the body went to the socket, and otherwise sends it
through the customer-service API.

"Written" is as much as a server can know: the bytes were handed to an open connection. The check for a
closed connection runs right before the write, after yielding to the event loop so that a close the kernel
has already reported is seen, and uvicorn checks again as it writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger("channelgate.webhooks")

#: a client that has not taken the answer after this long is treated as gone (WeChat waits 5 s in all)
WRITE_TIMEOUT = 5.0


class WrittenResponse(Response):
    """A Response that calls ``written(True)`` once its body was written to an open connection, else
    ``written(False)`` (the client had gone, or the write failed or took over ``WRITE_TIMEOUT``)."""

    def __init__(
        self,
        content: bytes | str,
        *,
        status_code: int,
        media_type: str,
        headers: Mapping[str, str],
        written: Callable[[bool], Awaitable[None]],
    ) -> None:
        super().__init__(content, status_code=status_code, media_type=media_type, headers=dict(headers))
        self.written = written

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ok = False
        try:
            if await client_gone(scope, receive):
                log.info("the client closed the connection before its answer was written")
            else:
                async with asyncio.timeout(WRITE_TIMEOUT):
                    await super().__call__(scope, receive, send)
                ok = True
        except Exception as exc:  # the client is gone; nothing to answer, and the caller re-routes the reply
            log.info("writing the answer failed (%s)", type(exc).__name__)
        finally:
            await self.written(ok)


async def client_gone(scope: Scope, receive: Receive) -> bool:
    """Whether the client closed the connection. The request body must have been read already."""
    for _ in range(2):  # a close the kernel reported is processed in the next rounds of the event loop
        await asyncio.sleep(0)
    return await Request(scope, receive).is_disconnected()
