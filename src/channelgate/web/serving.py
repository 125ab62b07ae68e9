"""The uvicorn settings every way of serving the gateway shares: ``channelgate serve`` and the test servers
(testing/gateway.py), so that what is tested is what runs.

* ``ws_max_size``: a WebSocket message over the web chat's 64 KiB is refused by the protocol (close 1009) as
  soon as its header announces the length, instead of being buffered up to uvicorn's default 16 MiB first
  (eight such sockets cost 149 MiB of RSS).
* ``proxy_headers``/``forwarded_allow_ips``: the client address is taken from ``X-Forwarded-For`` only when
  the connection comes from one of ``trusted_proxies``; by default from nobody (uvicorn itself would trust
  127.0.0.1, so any local process could claim any address and dodge the per-address limits).
"""

from __future__ import annotations

from typing import Any

from channelgate.channels.webchat.protocol import MAX_FRAME_BYTES
from channelgate.config import Settings


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``."""
    return {
        "ws_max_size": MAX_FRAME_BYTES,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
    }
