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

import os
import sys
from typing import TYPE_CHECKING, Any

from channelgate.channels.webchat.protocol import MAX_FRAME_BYTES
from channelgate.config import Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``."""
    return {
        "ws_max_size": MAX_FRAME_BYTES,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
    }


# --- several worker processes on one port (``channelgate serve --workers N``) ------------------------------
#
# uvicorn's process manager binds the port once in the parent and starts N worker processes that accept on
# the same socket; it restarts a worker that dies and, on SIGTERM, passes SIGTERM to each worker, which
# drains (Gateway.stop). Each worker is a whole gateway built from the same config file by
# :func:`worker_app`; they share the work through the store exactly as replicas on several machines do.

#: the environment variable that names the config file for the workers (the parent sets it)
CONFIG_ENV = "CHANNELGATE_CONFIG"


def available_cores() -> int:
    """The cores this process may run on (a container's CPU set, else the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def workers_refusal(workers: int, store_url: str, cores: int | None = None) -> str | None:
    """Why ``--workers N`` cannot run on this store and machine (one line: why, then what to do), or None."""
    cores = cores or available_cores()
    if workers < 1:
        return f"--workers {workers}: at least one worker process is needed"
    if workers == 1:
        return None
    if store_url.startswith("sqlite"):
        return (
            f"--workers {workers} needs PostgreSQL: SQLite allows one writer at a time, so more processes on "
            "one SQLite file would only wait for each other (and each would hold its own web chat sockets). "
            "Run one worker, or set `store: postgresql://...` (docs/operations.md, Scaling out)"
        )
    if workers > cores:
        return (
            f"--workers {workers}: this machine gives the gateway {cores} core(s), and more processes than "
            f"cores only compete for them; use --workers {cores} or fewer (or more replicas on more machines)"
        )
    return None


def worker_app() -> Starlette:
    """The app of one worker process (uvicorn's factory): the gateway of the config file that
    ``$CHANNELGATE_CONFIG`` names, as ``channelgate serve`` builds it."""
    from channelgate.channels.registry import load_registry
    from channelgate.cli import setup_logging
    from channelgate.config import load_config
    from channelgate.gateway import Gateway
    from channelgate.web.app import create_app

    # like `uvicorn --app-dir .`: `bot: {python: "mybot:respond"}` finds mybot.py in the current directory
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    registry = load_registry()
    cfg = load_config(os.environ.get(CONFIG_ENV), registry)
    setup_logging(cfg.settings.log_level, cfg.settings.log_format)
    return create_app(Gateway(cfg, registry))
