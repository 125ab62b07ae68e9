"""The Starlette application: webhooks, health, metrics and the routes channels contribute."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from channelgate.api import PREFIX as API_PREFIX
from channelgate.api import create_api
from channelgate.api.app import ApiMount
from channelgate.gateway import Gateway
from channelgate.web.console.app import create_console
from channelgate.web.handoff import chatwoot_webhook
from channelgate.web.health import healthz, monitoring_denied, readyz
from channelgate.web.webhooks import webhook

log = logging.getLogger("channelgate.web")


async def metrics(request: Request) -> Response:
    denied = monitoring_denied(request)
    if denied is not None:
        return denied
    gateway: Gateway = request.app.state.gateway
    gateway.metrics.fleet_replicas.set(gateway.shares.alive)
    gateway.metrics.fleet_share.set(gateway.shares.fraction())
    with contextlib.suppress(Exception):
        for queue, depth in (await gateway.store.depths()).items():
            gateway.metrics.queue_depth.labels(queue).set(depth)
    with contextlib.suppress(Exception):
        held = await gateway.store.handoffs.held_counts()
        gateway.metrics.handoffs_held.clear()
        for (name, label), count in held.items():
            gateway.metrics.handoffs_held.labels(name, label).set(count)
    return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def index(request: Request) -> Response:
    """Send a visitor to the first web chat, which is what ``make run`` promises."""
    gateway: Gateway = request.app.state.gateway
    for name, label in gateway.channels:
        if name == "webchat":
            return RedirectResponse(f"/webchat/{label}")
    items = "".join(
        f"<li>{name}/{label}: <code>{gateway.public_url}/webhooks/{name}/{label}</code></li>"
        for name, label in gateway.channels
    )
    return HTMLResponse(f"<h1>channelgate</h1><p>Integrations and their callback URLs:</p><ul>{items}</ul>")


def create_app(gateway: Gateway, *, manage_lifecycle: bool = True) -> Starlette:
    """The ASGI app. With ``manage_lifecycle`` the app's lifespan starts and stops the gateway."""

    api = create_api(gateway)
    console = create_console(gateway, api)  # /console: off until `channelgate console add-user`

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_lifecycle:
            await gateway.start()
        try:
            # the admin API's broadcast worker; the console's overview sampler
            async with api.router.lifespan_context(api), console.running():
                yield
        finally:
            if manage_lifecycle:
                await gateway.stop()

    routes: list[BaseRoute] = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/webhooks/{channel}/{label}", webhook, methods=["GET", "POST"]),
        Route("/handoff/chatwoot/{channel}/{label}/{secret}", chatwoot_webhook, methods=["POST"]),
        ApiMount(API_PREFIX, api),
        console,
    ]
    for cls in gateway.registry.channels.values():
        extra: list[Any] = cls.routes(gateway)
        routes.extend(extra)
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gateway
    return app
