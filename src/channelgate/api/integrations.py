"""``/integrations``: list, read, create, update and delete integrations without editing files.

Integrations of the config file are shown but read-only here (409 with the reason): the file stays the
single source of what it defines. Integrations created here are validated with the channel's Config model
(exactly as the config file's are), stored, and started at once; the gateway starts them again after a
restart, and the other replicas start, restart or stop them within a second (coordination.py). Secrets
are masked as ``"***"`` in every answer except the ``setup`` block, which holds what the user must paste
into the platform (e.g. the verify token) and into the hand-off desk (``chatwoot_webhook_url``).

The ``handoff`` key (docs/handoff.md) is taken at the top level of a create or change, as in the config
file; it is stored sealed with the rest of the settings, and its desk URL follows the endpoints' rule
(api_rules.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import SecretStr

from channelgate.api.deps import GatewayDep, errors
from channelgate.api.errors import ApiError, check_json
from channelgate.api.masking import MASK, masked_model, unmasked
from channelgate.api.models import (
    CHANNEL_PATTERN,
    LABEL_PATTERN,
    ChannelList,
    IntegrationCreate,
    IntegrationCreated,
    IntegrationHealth,
    IntegrationList,
    IntegrationOut,
    IntegrationUpdate,
    IntegrationUpdated,
)
from channelgate.api.policy import check_api_config, check_inline
from channelgate.channels.base import GENERATED_SECRETS
from channelgate.config import (
    INTEGRATION_KEYS,
    ConfigError,
    Integration,
    bot_locales,
    build_integration,
    check_locale,
)
from channelgate.gateway import Gateway
from channelgate.store import admin
from channelgate.store.secret_box import SecretKeyError

log = logging.getLogger("channelgate.api.integrations")
router = APIRouter(tags=["integrations"])

ChannelPath = Annotated[str, Path(pattern=CHANNEL_PATTERN)]
LabelPath = Annotated[str, Path(pattern=LABEL_PATTERN)]


def masked_config(integration: Integration) -> dict[str, Any]:
    """The channel's settings with every secret (SecretStr fields, whatever their name) shown as ``***``."""
    return masked_model(integration.config)


def setup_values(gateway: Gateway, integration: Integration) -> dict[str, str]:
    """What to paste into the platform (the channel's ``setup_fields``) and into the desk, in clear."""
    cls = gateway.registry.get(integration.channel)
    out: dict[str, str] = {}
    for name in getattr(cls, "setup_fields", ()):
        value = getattr(integration.config, name, None)
        if isinstance(value, SecretStr):
            out[name] = value.get_secret_value()
        elif value is not None:
            out[name] = str(value)
    return {**out, **integration.handoff_setup(gateway.public_url)}


def integration_out(gateway: Gateway, integration: Integration) -> dict[str, Any]:
    channel = gateway.channels.get(integration.key)
    health = channel.ctx.health if channel is not None else None
    return {
        "channel": integration.channel,
        "label": integration.label,
        "locale": integration.locale,
        "source": integration.source,
        "read_only": integration.source != "store",
        "callback_url": integration.callback_url(gateway.public_url),
        "auto_detect": integration.auto_detect,
        "language_command": integration.language_command,
        "config": masked_config(integration),
        "handoff": masked_model(integration.handoff) if integration.handoff is not None else None,
        "health": IntegrationHealth(
            status=health.status if health else "failing",
            message=health.message if health else "not running",
            insecure=integration.config.insecure_settings(),
        ),
    }


def _find(gateway: Gateway, channel: str, label: str) -> Integration:
    integration = gateway.integrations.get((channel, label))
    if integration is None:
        raise ApiError(404, f"no integration {channel}/{label}")
    return integration


def _writable(gateway: Gateway, integration: Integration) -> None:
    if integration.source != "store":
        where = gateway.config.path or "the config file"
        raise ApiError(
            409,
            f"{integration.channel}/{integration.label} is defined in {where}; integrations of the config "
            "file are read-only in the API (edit the file, or use `channelgate channels`)",
        )


def _validate(gateway: Gateway, raw: dict[str, Any]) -> Integration:
    """The channel's own validation, then what the API refuses (see api/policy.py)."""
    cls = gateway.registry.get(str(raw.get("channel")))
    if cls is not None:
        check_inline(cls.Config, raw)  # before the channel could read a path
    try:
        integration, warnings = build_integration(raw, gateway.registry, "integration", source="store")
        check_locale(integration, bot_locales(gateway.settings), "integration")
    except ConfigError as exc:
        raise ApiError(400, str(exc)) from None
    check_api_config(integration.config, gateway.settings.admin_api.allowed_hosts, integration.handoff)
    for warning in warnings:
        log.warning(warning)
    return integration


async def _stored(gateway: Gateway, channel: str, label: str) -> dict[str, Any] | None:
    try:
        return await admin.stored_integration(gateway.store, channel, label)
    except SecretKeyError as exc:
        raise ApiError(503, str(exc)) from None


def _lock(request: Request) -> asyncio.Lock:
    """One change to the integrations at a time in this process."""
    state = request.app.state
    if getattr(state, "integration_lock", None) is None:
        state.integration_lock = asyncio.Lock()
    lock: asyncio.Lock = state.integration_lock
    return lock


async def _start(gateway: Gateway, integration: Integration) -> None:
    """Start (or restart) an integration live (Gateway.replace_integration); 400 when it cannot start."""
    try:
        await gateway.replace_integration(integration)
    except Exception as exc:
        log.warning("%s/%s could not start: %s", integration.channel, integration.label, exc)
        raise ApiError(400, f"the integration could not start: {type(exc).__name__}: {exc}") from None


@router.get("/channels", response_model=ChannelList, operation_id="list_channels")
async def list_channels(gateway: GatewayDep) -> dict[str, Any]:
    """The installed channels and their settings: what a form for a new integration asks for."""
    items = []
    for name in gateway.registry.names():
        cls = gateway.registry.channels[name]
        items.append(
            {
                "name": name,
                "title": cls.title,
                "required": cls.Config.required_fields(),
                "secrets": cls.Config.secret_fields(),
                "setup_fields": list(cls.setup_fields),
                "config_schema": cls.Config.model_json_schema(),
            }
        )
    return {"items": items, "broken": dict(gateway.registry.broken)}


@router.get("/integrations", response_model=IntegrationList, operation_id="list_integrations")
async def list_integrations(gateway: GatewayDep) -> dict[str, Any]:
    """Every integration, from the config file and from this API."""
    items = sorted(gateway.integrations.values(), key=lambda i: i.key)
    return {"items": [integration_out(gateway, i) for i in items]}


@router.get(
    "/integrations/{channel}/{label}",
    response_model=IntegrationOut,
    responses=errors(404),
    operation_id="get_integration",
)
async def get_integration(channel: ChannelPath, label: LabelPath, gateway: GatewayDep) -> dict[str, Any]:
    return integration_out(gateway, _find(gateway, channel, label))


@router.post(
    "/integrations",
    status_code=201,
    response_model=IntegrationCreated,
    responses=errors(409),
    operation_id="create_integration",
)
async def create_integration(
    body: IntegrationCreate, request: Request, gateway: GatewayDep
) -> dict[str, Any]:
    """Validate with the channel's Config model, store, and start serving the callback URL at once."""
    check_json(body.config, "config")
    reserved = sorted(set(body.config) & set(INTEGRATION_KEYS))
    if reserved:
        raise ApiError(400, f"config: {', '.join(reserved)} belong at the top level of the request")
    cls = gateway.registry.get(body.channel)
    config = dict(body.config)
    for name in GENERATED_SECRETS & set(cls.Config.required_fields() if cls is not None else ()):
        if not config.get(name):
            config[name] = secrets.token_urlsafe(24)
    stored = {**config, "auto_detect": body.auto_detect, "language_command": body.language_command}
    if body.handoff is not None:
        check_json(body.handoff, "handoff")
        stored["handoff"] = unmasked(body.handoff, None, "handoff")  # a *** here would become the secret
    raw = {**stored, "channel": body.channel, "label": body.label, "locale": body.locale}
    async with _lock(request):
        existing = gateway.integrations.get((body.channel, body.label))
        if existing is not None:
            raise ApiError(409, f"{body.channel}/{body.label} exists already (source: {existing.source})")
        integration = _validate(gateway, raw)
        if not await admin.insert_integration(
            gateway.store, body.channel, body.label, integration.locale, stored
        ):
            raise ApiError(409, f"{body.channel}/{body.label} exists already in the store")
        try:
            await _start(gateway, integration)
        except ApiError:
            await admin.delete_integration(gateway.store, body.channel, body.label)
            raise
        gateway.coordination.integration_changed(body.channel, body.label)  # the other replicas start it
    log.info("integration %s/%s created through the API", body.channel, body.label)
    return {**integration_out(gateway, integration), "setup": setup_values(gateway, integration)}


@router.patch(
    "/integrations/{channel}/{label}",
    response_model=IntegrationUpdated,
    responses=errors(404, 409),
    operation_id="update_integration",
)
async def update_integration(
    channel: ChannelPath, label: LabelPath, body: IntegrationUpdate, request: Request, gateway: GatewayDep
) -> dict[str, Any]:
    """Change an integration created here; it restarts with the new settings without dropping work."""
    check_json(body.config, "config")
    async with _lock(request):
        current = gateway.integrations.get((channel, label))
        if current is not None:
            _writable(gateway, current)
        row = await _stored(gateway, channel, label)  # also one not running (refused at start): fix it here
        if row is None:
            raise ApiError(
                404,
                f"no stored integration {channel}/{label}"
                if current
                else f"no integration {channel}/{label}",
            )
        cls = gateway.registry.get(channel)
        stored = dict(row["config"] or {})
        secret_names = set(cls.Config.secret_fields()) if cls is not None else set()
        for key, value in (body.config or {}).items():
            if key == "handoff":
                raise ApiError(400, "config: handoff belongs at the top level of the request")
            if key in INTEGRATION_KEYS and key not in ("auto_detect", "language_command"):
                raise ApiError(400, f"config: {key} cannot change (create a new integration instead)")
            if value is None:
                stored.pop(key, None)
            elif value == MASK and key in secret_names:
                continue  # a masked secret sent back as it was read: keep it
            else:
                stored[key] = value
        if body.auto_detect is not None:
            stored["auto_detect"] = body.auto_detect
        if body.language_command is not None:
            stored["language_command"] = body.language_command
        handoff_set = "handoff" in body.model_fields_set
        if handoff_set and body.handoff is None:
            stored.pop("handoff", None)
        elif body.handoff is not None:
            check_json(body.handoff, "handoff")
            stored["handoff"] = unmasked(body.handoff, stored.get("handoff"), "handoff")
        locale = body.locale or row["locale"]
        integration = _validate(gateway, {**stored, "channel": channel, "label": label, "locale": locale})
        await admin.update_integration(gateway.store, channel, label, integration.locale, stored)
        try:
            await _start(gateway, integration)
        except ApiError:
            await admin.update_integration(gateway.store, channel, label, row["locale"], dict(row["config"]))
            raise
        gateway.coordination.integration_changed(channel, label)
    log.info("integration %s/%s updated through the API", channel, label)
    out = integration_out(gateway, integration)
    if handoff_set:
        out["setup"] = integration.handoff_setup(gateway.public_url)
    return out


@router.delete(
    "/integrations/{channel}/{label}",
    status_code=204,
    responses=errors(404, 409),
    operation_id="delete_integration",
)
async def delete_integration(
    channel: ChannelPath, label: LabelPath, request: Request, gateway: GatewayDep
) -> Response:
    """Stop serving an integration created here and forget it (its conversations stay in the store)."""
    async with _lock(request):
        current = gateway.integrations.get((channel, label))
        if current is not None:
            _writable(gateway, current)
        deleted = await admin.delete_integration(gateway.store, channel, label)
        if current is None and not deleted:  # neither running nor stored (one refused at start is stored)
            raise ApiError(404, f"no integration {channel}/{label}")
        if current is not None:
            await gateway.remove_integration(channel, label)
        gateway.coordination.integration_changed(channel, label)
    log.info("integration %s/%s deleted through the API", channel, label)
    return Response(status_code=204)
