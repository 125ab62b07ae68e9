"""The admin REST API: a FastAPI app the web layer mounts at ``/api/v1``.

Its OpenAPI document (``/api/v1/openapi.json``) is generated from the same pydantic models that validate
requests, then adjusted to say what the app really does: every operation needs a bearer key (401/403),
and malformed requests are 400 ``{"error": reason}`` rather than FastAPI's 422 validation list (422 is kept
for sends a channel's rules refuse).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import Mount
from starlette.types import ASGIApp

from channelgate import __version__
from channelgate.api import (
    PREFIX,
    broadcasts,
    conversations,
    errors,
    handoffs,
    integrations,
    messages,
    operations,
)
from channelgate.api.auth import ApiKeyAuth, BodyLimit
from channelgate.api.broadcaster import Broadcaster
from channelgate.api.errors import ApiError
from channelgate.gateway import Gateway

#: Request bodies up to this size (a broadcast to 10 000 recipients with parameters fits).
MAX_BODY = 8 * 1024 * 1024

DESCRIPTION = """\
Manage integrations, read conversations, send proactive messages and broadcasts, start proactive bot turns,
and replay dead letters. Every call needs an API key (`channelgate keys create --name NAME`) sent as
`Authorization: Bearer <key>`; read-only keys may only GET. Errors are `{"error": reason}`.
"""


class ApiMount(Mount):
    """Mounts the API so that it answers every path under its prefix, even one with an encoded newline,
    which Starlette's Mount pattern (``.*``) would leave to the parent app's plain-text 404."""

    def __init__(self, path: str, app: ASGIApp) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


async def strict_query(request: Request) -> None:
    """Refuse unknown and repeated query parameters: a misspelt filter (``?chanel=``) must not silently
    list everything, and ``?label=a&label=b`` must not silently mean ``b``."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ApiError(400, f"unknown query parameter(s): {', '.join(unknown)} (allowed: {known})")
    repeated = sorted(name for name in allowed if len(request.query_params.getlist(name)) > 1)
    if repeated:
        raise ApiError(400, f"query parameter(s) given more than once: {', '.join(repeated)}")


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def create_api(gateway: Gateway) -> FastAPI:
    """The API app for ``gateway``. Its lifespan runs the broadcast worker; when mounted, the parent app's
    lifespan must enter it (``web/app.py`` does)."""
    broadcaster = Broadcaster(gateway)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        broadcaster.start()
        try:
            yield
        finally:
            await broadcaster.stop()

    app = FastAPI(
        title="channelgate admin API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        servers=[{"url": PREFIX}],
        root_path_in_servers=False,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,
        dependencies=[Depends(strict_query)],
    )
    app.state.gateway = gateway
    app.state.broadcaster = broadcaster
    errors.install(app)
    for module in (integrations, conversations, handoffs, messages, broadcasts, operations):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_middleware(ApiKeyAuth, gateway=gateway)  # outermost: nothing is read for an unknown caller

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=app.servers,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault(
        "ErrorBody",
        {
            "title": "ErrorBody",
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"title": "Error", "type": "string"}},
        },
    )
    components["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `channelgate keys`",
        }
    }
    schema["security"] = [{"bearerAuth": []}]
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            auto = responses.get("422", {})
            if "HTTPValidationError" in str(auto):
                del responses["422"]
            responses.setdefault("400", {"description": "The request is malformed", "content": error})
            responses.setdefault("401", {"description": "No API key, or an unknown one", "content": error})
            responses.setdefault(
                "403", {"description": "A revoked key, or a read-only key on a write", "content": error}
            )
            if method in ("post", "patch", "put"):
                responses.setdefault("413", {"description": "The body is too large", "content": error})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    _require_discriminators(schema)
    return schema


def _require_discriminators(node: Any) -> None:
    """In a discriminated union the tag must be sent (``{"type": "text", ...}``), even though each member
    model has a default for it: say so on every branch of the union (not on the member schemas, which
    also stand alone, e.g. a template fallback, where the tag may be left out)."""
    if isinstance(node, dict):
        discriminator = node.get("discriminator")
        if isinstance(discriminator, dict) and isinstance(node.get("oneOf"), list):
            name = discriminator["propertyName"]
            for branch in node["oneOf"]:
                if isinstance(branch, dict) and "$ref" in branch:
                    branch["required"] = [name]
        for value in node.values():
            _require_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            _require_discriminators(value)
