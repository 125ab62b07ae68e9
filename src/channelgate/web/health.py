"""Liveness and readiness: what a load balancer, Kubernetes or systemd asks a gateway process.

* ``/healthz`` (liveness): the process answers. Open to anyone: it says nothing else.
* ``/readyz`` (readiness): whether *this process* can take traffic now: the store answers and the gateway
  accepts (not while starting, nor while draining after SIGTERM). The body names each integration's health,
  security checks switched off, whether this replica hears the others (``coordination``: on PostgreSQL a
  lost LISTEN connection only slows hand-overs down to the poll, so it degrades rather than fails), and the
  process id, which tells the workers of ``channelgate serve --workers N`` apart.
"""

from __future__ import annotations

import hmac
import os

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from channelgate.gateway import Gateway


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
    """Readiness: the store answers and the gateway accepts; every integration is healthy (a red one is
    named). Integrations running with a security check off say so under ``insecure`` (readiness is not
    changed: the config file chose it)."""
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
    if gateway.accepting and not gateway.coordination.connected:
        problems["coordination"] = (
            "not listening to the other replicas (reconnecting): changes made on them arrive with the "
            "periodic sync, and their work with the poll"
        )
    ready = gateway.accepting and "store" not in problems
    body = {
        "status": "ready" if ready and not problems else ("degraded" if ready else "not ready"),
        "integrations": integrations,
        "problems": problems,
        "insecure": insecure,
        "pid": os.getpid(),
    }
    if not gateway.accepting:
        body["reason"] = "draining: this process is shutting down" if gateway.stopping else "starting"
    return JSONResponse(body, status_code=200 if ready else 503)
