"""The gateway's configuration: one YAML file, ``${ENV_VAR}`` substitution for secrets, validated at start.

Every error names the file, the integration and the field, because a wrong config is found by a person
reading a terminal, not by a debugger.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from channelgate.bots.spec import BotSpec, parse_bot_spec
from channelgate.channels.base import Channel, ChannelConfig
from channelgate.channels.registry import ChannelRegistry
from channelgate.locale import normalize_locale

DEFAULT_CONFIG = "channelgate.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

#: integration keys the gateway itself uses; every other key belongs to the channel's Config
INTEGRATION_KEYS = ("channel", "label", "locale", "auto_detect", "language_command")


class ConfigError(ValueError):
    """A config the gateway cannot run with; the message says where and what to do."""


class PipelineSettings(BaseModel):
    """How hard the gateway works. The defaults suit one process on a laptop and a small server alike."""

    model_config = ConfigDict(extra="forbid")

    turn_concurrency: int = Field(default=64, ge=1, description="conversations whose turns run at once")
    bot_attempts: int = Field(default=4, ge=1, description="tries of one turn before the user gets an apology")
    send_attempts: int = Field(default=8, ge=1, description="tries of one send before it is dead-lettered")
    max_backoff: float = Field(default=300.0, gt=0, description="longest wait between retries, seconds")
    max_pending: int = Field(
        default=20000, ge=1, description="accepted turns waiting for the bot before webhooks get 503"
    )
    poll_interval: float = Field(default=1.0, gt=0, description="how often workers look for work from others")
    lease_seconds: float = Field(default=30.0, gt=0, description="how long a crashed worker's claim blocks others")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    store: str = "sqlite:///channelgate.db"
    bot: BotSpec = Field(default_factory=lambda: parse_bot_spec("demo"))
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: str = "info"
    log_format: str = Field(default="text", pattern="^(text|json)$")
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)

    @field_validator("bot", mode="before")
    @classmethod
    def _bot(cls, value: Any) -> Any:
        return value if isinstance(value, BaseModel) else parse_bot_spec(value)

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


@dataclass
class Integration:
    """One channel instance: a channel, a label unique within it, a default locale and credentials."""

    channel: str
    label: str
    locale: str
    config: ChannelConfig
    auto_detect: bool = False
    language_command: bool = True
    source: str = "config"  # "config" (the YAML file, read-only in the API) or "store" (created by the API)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel, self.label)

    def callback_url(self, public_url: str) -> str:
        return f"{public_url.rstrip('/')}/webhooks/{self.channel}/{self.label}"


@dataclass
class GatewayConfig:
    settings: Settings
    integrations: list[Integration]
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)


def substitute_env(text: str, where: str, environ: dict[str, str] | None = None) -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}``; a missing variable without a default is an error."""
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        line = text.count("\n", 0, match.start()) + 1
        raise ConfigError(
            f"{where}, line {line}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}} for a default)"
        )

    return _ENV_REF.sub(replace, text)


def _format_validation(exc: ValidationError, prefix: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        where = f"{prefix}.{loc}" if loc else prefix
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known setting (check its spelling)"
        elif err["type"] == "value_error" and err.get("ctx", {}).get("error") is not None:
            msg = str(err["ctx"]["error"])
            if loc == "bot" and msg.startswith("bot"):  # parse_bot_spec already names the field
                lines.append(f"{prefix}: {msg}")
                continue
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)


def build_integration(
    raw: dict[str, Any], registry: ChannelRegistry, where: str, source: str = "config"
) -> tuple[Integration, list[str]]:
    """Validate one integration mapping with its channel's Config model; returns it and its warnings."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each integration must be a mapping with channel, label and locale")
    name = raw.get("channel")
    if not name:
        raise ConfigError(f"{where}.channel: is required (one of {', '.join(registry.names())})")
    cls = registry.get(str(name))
    if cls is None:
        hint = registry.broken.get(str(name))
        known = ", ".join(registry.names())
        detail = f" (its package failed to load: {hint})" if hint else f"; known channels: {known}"
        raise ConfigError(f"{where}.channel: unknown channel {name!r}{detail}")
    label = str(raw.get("label", ""))
    if not _LABEL.match(label):
        raise ConfigError(
            f"{where}.label: {label!r} must be 1-63 lower-case letters, digits, '-' or '_' (it goes in the URL)"
        )
    where = f"{where} ({name}/{label})"
    try:
        locale = normalize_locale(str(raw.get("locale") or "en-US"))
    except ValueError as exc:
        raise ConfigError(f"{where}.locale: {exc}") from None
    channel_fields = {k: v for k, v in raw.items() if k not in INTEGRATION_KEYS}
    try:
        config = cls.Config.model_validate(channel_fields)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, where)) from None
    try:
        warnings = [f"{where}: {w}" for w in cls.check_config(config)]
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    integration = Integration(
        channel=str(name),
        label=label,
        locale=locale,
        config=config,
        auto_detect=bool(raw.get("auto_detect", False)),
        language_command=bool(raw.get("language_command", True)),
        source=source,
    )
    return integration, warnings


def parse_config(data: Any, registry: ChannelRegistry, where: str = DEFAULT_CONFIG) -> GatewayConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the file must hold a mapping (public_url, store, bot, integrations)")
    data = dict(data)
    # integrations are validated one by one below, by their channel's model; the raw mappings (which
    # hold secrets in clear) are not kept
    raw_integrations = data.pop("integrations", None) or []
    if not isinstance(raw_integrations, list):
        raise ConfigError(f"{where}.integrations: must be a list of integrations")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, where)) from None
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    integrations: list[Integration] = []
    warnings: list[str] = []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(raw_integrations):
        integration, notes = build_integration(raw, registry, f"{where}: integrations[{i}]")
        if integration.key in seen:
            raise ConfigError(
                f"{where}: integrations[{i}]: {integration.channel}/{integration.label} is defined twice "
                "(labels must be unique within a channel)"
            )
        seen.add(integration.key)
        integrations.append(integration)
        warnings.extend(notes)
    return GatewayConfig(settings=settings, integrations=integrations, warnings=warnings)


def load_config(path: str | Path | None, registry: ChannelRegistry) -> GatewayConfig:
    """Load the config named on the command line, else ``$CHANNELGATE_CONFIG``, else ./channelgate.yaml."""
    chosen = Path(path or os.environ.get("CHANNELGATE_CONFIG") or DEFAULT_CONFIG)
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{chosen}: no such file (create one with `channelgate init`, or pass --config)"
        ) from None
    text = substitute_env(text, str(chosen))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{chosen}: not valid YAML: {exc}") from None
    config = parse_config(data, registry, str(chosen))
    config.path = chosen
    return config


def channel_class(registry: ChannelRegistry, integration: Integration) -> type[Channel[Any]]:
    cls = registry.get(integration.channel)
    if cls is None:
        raise ConfigError(f"channel {integration.channel!r} is not installed")
    return cls
