"""The gateway's configuration: one YAML file, ``${ENV_VAR}`` substitution for secrets, validated at start.

Every error names the file, the integration and the field, because a wrong config is found by a person
reading a terminal, not by a debugger.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from channelgate.bots.spec import DEMO_LOCALES, BotSpec, DemoBotSpec, parse_bot_spec
from channelgate.channels.base import Channel, ChannelConfig, ChannelLimits
from channelgate.channels.registry import ChannelRegistry
from channelgate.handoff.settings import HandoffSettings, IntegrationHandoff
from channelgate.locale import normalize_locale, parse_tag, same_locale

DEFAULT_CONFIG = "channelgate.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

#: integration keys the gateway itself uses; every other key belongs to the channel's Config
INTEGRATION_KEYS = ("channel", "label", "locale", "auto_detect", "language_command", "handoff")


class ConfigError(ValueError):
    """A config the gateway cannot run with; the message says where and what to do."""


class PipelineSettings(BaseModel):
    """How hard the gateway works. The defaults suit one process on a laptop and a small server alike."""

    model_config = ConfigDict(extra="forbid")

    turn_concurrency: int = Field(default=64, ge=1, description="conversations whose turns run at once")
    bot_attempts: int = Field(
        default=4,
        ge=1,
        description="tries of one turn (a failing bot, or any error processing the turn) before it is "
        "dead-lettered and the user gets an apology",
    )
    retry_budget: float = Field(
        default=86400.0,
        gt=0,
        description="seconds a message keeps being retried while its sends fail transiently (5xx, network, "
        "throttling), counted from its first failure, before it is dead-lettered",
    )
    credentials_probe_interval: float = Field(
        default=300.0,
        gt=0,
        description="while an integration's credentials are refused its deliveries pause; one of them is "
        "tried again this often, seconds",
    )
    send_attempts: int | None = Field(
        default=None,
        description="deprecated and ignored: sends are retried for retry_budget seconds, not a count",
    )
    max_backoff: float = Field(default=300.0, gt=0, description="longest wait between retries, seconds")
    max_pending: int = Field(
        default=20000, ge=1, description="accepted turns waiting for the bot before webhooks get 503"
    )
    poll_interval: float = Field(default=1.0, gt=0, description="how often workers look for work from others")
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how long a crashed worker's claim blocks others; a send must end within 80 % of it "
        "(a slower one is retried)",
    )


#: what a user types (or a button sends) to get the language menu; ``/lang fr`` picks French at once
DEFAULT_TRIGGERS = (
    "/lang",
    "/language",
    "language",
    "languages",
    "语言",
    "語言",
    "idioma",
    "langue",
    "sprache",
    "言語",
)


def fold(text: str) -> str:
    """Text as the language command compares it: NFKC (full-width forms to ASCII), case-folded, trimmed."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


class LanguageSettings(BaseModel):
    """The ``languages:`` section: the built-in language command and language detection.

    See docs/multilingual.md. Detection only runs for integrations with ``auto_detect: true``.
    """

    model_config = ConfigDict(extra="forbid")

    triggers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TRIGGERS),
        description="texts that open the language menu (whole message, any case); an empty list turns typing "
        "it off, the menu's buttons still work",
    )
    confirm: bool = Field(default=True, description="say the new language's name after a switch")
    min_confidence: float = Field(
        default=0.5, gt=0, le=1, description="detection: the detector's least confidence to switch"
    )
    min_words: int = Field(default=3, ge=1, description="detection: fewest words of a text to look at")
    min_cjk_chars: int = Field(
        default=8, ge=1, description="detection: fewest Chinese, Japanese or Korean characters instead"
    )
    accuracy: Literal["high", "low"] = Field(
        default="high",
        description="detection: 'high' (~15 MB a language, best on short texts) or 'low' (trigrams only)",
    )
    detect_also: list[str] = Field(
        default_factory=list,
        description="detection: more languages to tell apart from the bot's (ISO 639-1, e.g. it, pt)",
    )

    @field_validator("triggers")
    @classmethod
    def _triggers(cls, value: list[str]) -> list[str]:
        folded = [fold(t) for t in value]
        if any(not t for t in folded):
            raise ValueError("a trigger cannot be empty")
        return list(dict.fromkeys(folded))

    @field_validator("detect_also")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        out = []
        for code in value:
            tag = parse_tag(code)
            if tag.script or tag.region:
                raise ValueError(f"{code!r}: give a language code without script or region (e.g. it, pt)")
            out.append(tag.language)
        return out


class AdminApiSettings(BaseModel):
    """The ``admin_api:`` section: what integrations created through the admin API may point at."""

    model_config = ConfigDict(extra="forbid")

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="hosts (host or host:port) that endpoint settings such as api_base_url may name through "
        "the API, besides each channel's official hosts (e.g. 127.0.0.1:9090 for `channelgate simulate`)",
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        out = []
        for host in value:
            host = host.strip().lower().rstrip(".")
            if not re.fullmatch(r"[a-z0-9._-]+(:[0-9]{1,5})?|\[[0-9a-f:.]+\](:[0-9]{1,5})?", host):
                raise ValueError(f"{host!r} is not a host or host:port (no scheme, path or wildcard)")
            out.append(host)
        return out


#: how long platforms keep redelivering a webhook (Meta: up to 7 days); the inbox rows are what recognises a
#: redelivery, so history is never pruned sooner
MIN_HISTORY_DAYS = 7.0


class RetentionSettings(BaseModel):
    """The ``retention:`` section: how long finished history is kept (docs/configuration.md, "Retention").

    Finished work and transcripts are the same rows (a transcript is the conversation's inbox and outbox),
    so one horizon decides both. Pending, queued, held and dead work is never pruned."""

    model_config = ConfigDict(extra="forbid")

    history_days: float | None = Field(
        default=30.0,
        description="days a finished turn or message (and so the transcript showing it) is kept after it "
        "finished; 0 or null keeps history forever",
    )
    prune_interval: float = Field(
        default=600.0, gt=0, description="seconds between two runs of the pruning job"
    )
    batch_size: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="rows deleted per statement: bounds how long one delete holds the store's writer",
    )

    @field_validator("history_days")
    @classmethod
    def _history(cls, value: float | None) -> float | None:
        if value is None or value == 0:
            return None
        if value < MIN_HISTORY_DAYS:
            raise ValueError(
                f"must be at least {MIN_HISTORY_DAYS:g} (platforms redeliver webhooks for up to 7 days, and "
                "the stored rows are what recognises a redelivery), or 0 to keep history forever"
            )
        return value

    @property
    def history_seconds(self) -> float | None:
        return None if self.history_days is None else self.history_days * 86400.0


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    store: str = "sqlite:///channelgate.db"
    bot: BotSpec = Field(default_factory=lambda: parse_bot_spec("demo"))
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: reverse proxies whose X-Forwarded-For/-Proto are believed (IP addresses or networks, or "*"); none by
    #: default, so a client cannot claim another address (web chat limits count per address)
    trusted_proxies: list[str] = Field(default_factory=list)
    #: events one webhook may carry; Meta batches up to ~1,000, so more is not a platform (413)
    max_events_per_webhook: int = Field(default=1000, ge=1)
    log_level: str = "info"
    log_format: str = Field(default="text", pattern="^(text|json)$")
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    languages: LanguageSettings = Field(default_factory=LanguageSettings)
    admin_api: AdminApiSettings = Field(default_factory=AdminApiSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    handoff: HandoffSettings = Field(default_factory=HandoffSettings)
    #: SQLite's synchronous pragma: "full" also survives an OS crash or power loss (docs/configuration.md)
    sqlite_synchronous: Literal["normal", "full"] = "normal"
    #: a file holding the Fernet key of secrets at rest when $CHANNELGATE_SECRET_KEY is not set
    secret_key_file: str | None = None
    #: when set, /metrics and /readyz answer only requests with ``Authorization: Bearer <token>``
    monitoring_token: SecretStr | None = None

    @field_validator("bot", mode="before")
    @classmethod
    def _bot(cls, value: Any) -> Any:
        return value if isinstance(value, BaseModel) else parse_bot_spec(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(
                        f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8) or '*'"
                    ) from None
        return value

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
    #: the channel's limits (the language menu uses quick replies up to ``quick_replies_max``, else a list)
    limits: ChannelLimits = field(default_factory=ChannelLimits)
    #: the config's ``languages:`` section, set by parse_config (None: the gateway's, for API-made ones)
    languages: LanguageSettings | None = None
    #: the integration's ``handoff:`` key (None: users cannot ask for a person; no desk)
    handoff: IntegrationHandoff | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel, self.label)

    def callback_url(self, public_url: str) -> str:
        return f"{public_url.rstrip('/')}/webhooks/{self.channel}/{self.label}"

    def handoff_setup(self, public_url: str) -> dict[str, str]:
        """What to paste into the desk next to the platform's settings: the Chatwoot webhook URL (it holds a
        secret, so only setup answers and ``channelgate channels list`` show it), when there is a desk."""
        desk = self.handoff.chatwoot if self.handoff is not None else None
        if desk is None:
            return {}
        return {"chatwoot_webhook_url": desk.callback_url(public_url, self.channel, self.label)}


@dataclass
class GatewayConfig:
    settings: Settings
    integrations: list[Integration]
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)


def substitute_env(text: str, where: str, environ: dict[str, str] | None = None) -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}``; a missing variable without a default is an error.
    Comment lines are left alone, so a commented-out example never needs its variable set."""
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str], line: int) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{where}, line {line}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}} for a default)"
        )

    out = []
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if line.lstrip().startswith("#"):
            out.append(line)
        else:
            out.append(_ENV_REF.sub(lambda m, n=number: replace(m, n), line))  # type: ignore[misc]
    return "".join(out)


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
            f"{where}.label: {label!r} must be 1-63 lower-case letters, digits, '-' or '_' "
            "(it goes in the URL)"
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
    flags = {}
    for key, default in (("auto_detect", False), ("language_command", True)):
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: must be true or false, not {value!r}")
        flags[key] = value
    if flags["auto_detect"] and importlib.util.find_spec("lingua") is None:
        raise ConfigError(
            f"{where}.auto_detect: language detection needs the lingua-language-detector package "
            "(pip install 'channelgate[detect]'), or set auto_detect: false"
        )
    handoff = None
    if raw.get("handoff") is not None:
        try:
            handoff = IntegrationHandoff.model_validate(raw["handoff"])
        except ValidationError as exc:
            raise ConfigError(_format_validation(exc, f"{where}.handoff")) from None
    integration = Integration(
        channel=str(name),
        label=label,
        locale=locale,
        config=config,
        auto_detect=flags["auto_detect"],
        language_command=flags["language_command"],
        source=source,
        limits=cls.limits,
        handoff=handoff,
    )
    return integration, warnings


def bot_locales(settings: Settings) -> list[str] | None:
    """The locales the config says the bot speaks: ``bot.locales``, or the demo bot's own; None when the
    bot does not say (then each integration's locale is what its conversations use)."""
    if settings.bot.locales:
        return list(settings.bot.locales)
    if isinstance(settings.bot, DemoBotSpec):
        return list(DEMO_LOCALES)
    return None


def check_locale(integration: Integration, declared: list[str] | None, where: str) -> None:
    """The integration's locale must be one the bot speaks. A different spelling of the same locale
    (``zh-Hans-CN`` for ``zh-CN``) is taken in the bot's spelling, so the two never count as two languages."""
    if declared is None:
        return
    for tag in declared:
        if same_locale(integration.locale, tag):
            integration.locale = tag
            return
    raise ConfigError(
        f"{where} ({integration.channel}/{integration.label}).locale: {integration.locale!r} is not one of "
        f"the bot's locales ({', '.join(declared)}); use one of them, or add it to bot.locales"
    )


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
    if settings.pipeline.send_attempts is not None:
        warnings.append(
            f"{where}: pipeline.send_attempts is deprecated and ignored: a failing send is retried for "
            f"pipeline.retry_budget seconds ({settings.pipeline.retry_budget:g}); remove send_attempts"
        )
    seen: set[tuple[str, str]] = set()
    declared = bot_locales(settings)
    for i, raw in enumerate(raw_integrations):
        integration, notes = build_integration(raw, registry, f"{where}: integrations[{i}]")
        if integration.key in seen:
            raise ConfigError(
                f"{where}: integrations[{i}]: {integration.channel}/{integration.label} is defined twice "
                "(labels must be unique within a channel)"
            )
        seen.add(integration.key)
        check_locale(integration, declared, f"{where}: integrations[{i}]")
        integration.languages = settings.languages
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
