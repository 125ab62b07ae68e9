"""The Starlette application: webhooks, health, metrics and the routes channels contribute."""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from channelgate.api import PREFIX as API_PREFIX
from channelgate.api import create_api
from channelgate.api.app import ApiMount
from channelgate.gateway import Gateway
from channelgate.web.console.app import create_console
from channelgate.web.handoff import chatwoot_webhook
from channelgate.web.webhooks import webhook

log = logging.getLogger("channelgate.web")


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


def monitoring_denied(request: Request) -> Response | None:
    """401 unless the request carries the ``monitoring_token`` (when one is set), compared in constant
    time. /healthz stays open: it says only that the process answers."""
    gateway: Gateway = request.app.state.gateway
    token = gateway.settings.monitoring_token
    if token is None:
        return None
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
        return None
    return JSONResponse(
        {"error": "this endpoint needs the monitoring token: Authorization: Bearer <monitoring_token>"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="channelgate-monitoring"'},
    )


async def readyz(request: Request) -> Response:
    """Readiness: the store answers and every integration is healthy (a red one is named). Integrations
    running with a security check off say so under ``insecure`` (readiness is not changed: the config file
    chose it)."""
    denied = monitoring_denied(request)
    if denied is not None:
        return denied
    gateway: Gateway = request.app.state.gateway
    problems: dict[str, str] = {}
    insecure: dict[str, dict[str, str]] = {}
    try:
        await gateway.store.ping()
    except Exception as exc:
        problems["store"] = f"{type(exc).__name__}: {exc}"
    integrations = {}
    for (name, label), channel in gateway.channels.items():
        health = channel.ctx.health
        integrations[f"{name}/{label}"] = {"status": health.status, "message": health.message}
        switched_off = channel.config.insecure_settings()
        if switched_off:
            integrations[f"{name}/{label}"]["insecure"] = switched_off
            insecure[f"{name}/{label}"] = switched_off
        if health.status != "ok":
            problems[f"{name}/{label}"] = health.message
    for key, desk in gateway.handoffs.desk_health().items():  # a hand-off desk refusing our token
        if desk.status != "ok":
            problems[f"handoff desk {key}"] = desk.message
    ready = gateway.accepting and "store" not in problems
    body = {
        "status": "ready" if ready and not problems else ("degraded" if ready else "not ready"),
        "integrations": integrations,
        "problems": problems,
        "insecure": insecure,
    }
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    denied = monitoring_denied(request)
    if denied is not None:
        return denied
    gateway: Gateway = request.app.state.gateway
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
