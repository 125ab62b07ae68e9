"""The ``channelgate`` command: set up integrations, serve, inspect.

Output is for people by default and for scripts with ``--json``. Errors are one line that says what is
wrong and what to do, never a traceback.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from channelgate import __version__
from channelgate.channels.base import GENERATED_SECRETS
from channelgate.channels.registry import load_registry
from channelgate.config import (
    DEFAULT_CONFIG,
    ConfigError,
    GatewayConfig,
    Integration,
    build_integration,
    load_config,
)

if TYPE_CHECKING:
    from channelgate.store import Store

app = typer.Typer(
    name="channelgate",
    help="A gateway between your bot and the messaging channels your customers use.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
channels_app = typer.Typer(
    help="List, add and remove integrations (channel + label + locale + credentials).", no_args_is_help=True
)
app.add_typer(channels_app, name="channels")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help=f"Config file (default: $CHANNELGATE_CONFIG or ./{DEFAULT_CONFIG}).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of text.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _config_path(path: Path | None) -> Path:
    return Path(path or os.environ.get("CHANNELGATE_CONFIG") or DEFAULT_CONFIG)


def _load(path: Path | None) -> GatewayConfig:
    try:
        return load_config(path, load_registry())
    except ConfigError as exc:
        raise fail(str(exc)) from None


def write_private(path: Path, text: str) -> None:
    """Write a file that may hold secrets (tokens, keys): created 0600, and an existing one made 0600
    too, whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, 0o600)
        fh.write(text)


def _dump_yaml(path: Path, data: Any) -> None:
    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    write_private(path, buffer.getvalue())


def setup_logging(level: str, fmt: str) -> None:
    from channelgate.logs import configure

    configure(level, fmt)


# --- init -------------------------------------------------------------------------------------------------

STARTER = """\
# channelgate configuration. Docs: docs/configuration.md
# Secrets can come from the environment: page_access_token: ${{MESSENGER_TOKEN}} (comments are left alone)

# The address platforms use to reach this gateway (behind your HTTPS proxy in production).
public_url: http://127.0.0.1:8080
host: 127.0.0.1
port: 8080

# sqlite:///file.db for one process; postgresql://user:pass@host/db for several replicas.
store: sqlite:///channelgate.db

# Your bot: demo | {{python: "package.module:respond"}} | {{http: "http://host/path"}} | {{rasa: "http://host:5005"}}
bot: demo

integrations:
  # The web chat served at {public}/webchat/site
  - channel: webchat
    label: site
    locale: en-US

  # Add platform channels with `channelgate channels add CHANNEL --label L --locale en-US`, where
  # CHANNEL is messenger, whatsapp, instagram, telegram, line, slack, twilio, wechat, gbm or rbm
  # (`channelgate channels available` lists them all); `channelgate channels connect CHANNEL/L` then
  # sets the platform's webhook.
"""


@app.command()
def init(
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config with the demo bot and a web chat."""
    path = _config_path(config)
    if path.exists() and not force:
        raise fail(f"{path} exists already (use --force to overwrite it)")
    write_private(path, STARTER.format(public="http://127.0.0.1:8080"))
    typer.echo(f"wrote {path}; start the gateway with: channelgate serve --config {path}")
    typer.echo(
        "the console (/console) turns on with its first operator: "
        f"channelgate console add-user NAME --config {path}"
    )


# --- serve ------------------------------------------------------------------------------------------------


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (overrides the config).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (overrides the config).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            envvar="CHANNELGATE_WORKERS",
            help="Worker processes on this port, sharing the work through the store: 1 on SQLite (one "
            "writer), up to the number of cores on PostgreSQL.",
        ),
    ] = 1,
) -> None:
    """Start the gateway: webhooks, web chat, health and metrics."""
    import uvicorn

    from channelgate.gateway import Gateway
    from channelgate.web.app import create_app
    from channelgate.web.serving import CONFIG_ENV, server_options, workers_refusal

    cfg = _load(config)
    refusal = workers_refusal(workers, cfg.settings.store)
    if refusal is not None:
        raise fail(refusal)
    setup_logging(cfg.settings.log_level, cfg.settings.log_format)
    # like `uvicorn --app-dir .`: `bot: {python: "mybot:respond"}` finds mybot.py in the current directory
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    registry = load_registry()
    from channelgate.store.secret_box import SecretKeyError

    try:
        gateway = Gateway(cfg, registry)
    except SecretKeyError as exc:  # a malformed key, a missing secret_key_file
        raise fail(str(exc)) from None
    if not gateway.store.secrets.usable:  # say it in one line here rather than in a startup traceback
        raise fail(gateway.store.secrets.missing_reason)
    app_ = create_app(gateway)
    listen_host = host or cfg.settings.host
    listen_port = port or cfg.settings.port
    typer.echo(f"channelgate {__version__} listening on http://{listen_host}:{listen_port}")
    for integration in cfg.integrations:
        typer.echo(f"  {integration.channel}/{integration.label}: {_integration_url(integration, cfg)}")
    config_arg = f" --config {cfg.path}" if cfg.path else ""
    typer.echo(
        f"  console: {cfg.settings.public_url}/console "
        f"(operators: channelgate console add-user NAME{config_arg})"
    )
    options: dict[str, Any] = {
        "host": listen_host,
        "port": listen_port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 15,
        "lifespan": "on",
        **server_options(cfg.settings),
    }
    if workers == 1:
        uvicorn.run(app_, **options)
        return
    # N processes accept on the one socket the parent binds; each builds its gateway from the same file
    # (web/serving.py, worker_app) and the store shares the work between them
    typer.echo(f"  {workers} worker processes")
    assert cfg.path is not None  # _load read a file
    os.environ[CONFIG_ENV] = str(cfg.path.resolve())
    uvicorn.run("channelgate.web.serving:worker_app", factory=True, workers=workers, **options)


# --- channels ---------------------------------------------------------------------------------------------


def _integration_url(integration: Integration, cfg: GatewayConfig) -> str:
    """Where the integration is reached: the web chat's page, or the callback URL for the platform."""
    if integration.channel == "webchat":
        return f"{cfg.settings.public_url}/webchat/{integration.label}"
    return integration.callback_url(cfg.settings.public_url)


def _integration_rows(cfg: GatewayConfig, integrations: list[Integration]) -> list[dict[str, Any]]:
    rows = []
    for integration in integrations:
        setup = {}
        cls = load_registry().get(integration.channel)
        for name in getattr(cls, "setup_fields", ()):
            value = getattr(integration.config, name, None)
            if value is not None:
                setup[name] = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        rows.append(
            {
                "channel": integration.channel,
                "label": integration.label,
                "locale": integration.locale,
                ("page_url" if integration.channel == "webchat" else "callback_url"): _integration_url(
                    integration, cfg
                ),
                **setup,
                **integration.handoff_setup(cfg.settings.public_url),
                **({"source": "api"} if integration.source == "store" else {}),
            }
        )
    return rows


def _stored_integrations(cfg: GatewayConfig) -> tuple[list[Integration], str | None]:
    """The integrations created through the admin API, as the gateway would start them (the same loader:
    shadowed, invalid or no longer allowed ones are left out), and why they could not be read, if so. A
    SQLite store that does not exist yet holds none: listing never creates a database or a key file."""
    from channelgate.store import Store, admin
    from channelgate.store.secret_box import sqlite_path

    url = cfg.settings.store
    database = sqlite_path(url)
    if url.startswith("sqlite") and (database is None or not database.exists()):
        return [], None

    async def read() -> list[Integration]:
        store = Store.from_settings(cfg.settings)
        try:
            return await admin.load_stored_integrations(
                store,
                load_registry(),
                skip=[i.key for i in cfg.integrations],
                allowed_hosts=cfg.settings.admin_api.allowed_hosts,
            )
        finally:
            await store.close()

    try:
        return asyncio.run(read()), None
    except Exception as exc:  # the file's integrations are still worth listing
        return [], f"{type(exc).__name__}: {exc}"


@channels_app.command("list")
def channels_list(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Each integration (of the config file, then those created through the admin API, marked ``source:
    api``) with the callback URL (and verify token, Chatwoot webhook URL) to paste into the platform."""
    cfg = _load(config)
    stored, unreadable = _stored_integrations(cfg)
    if unreadable is not None:
        typer.secho(f"integrations created through the API not listed: {unreadable}", err=True, fg="yellow")
    rows = _integration_rows(cfg, [*cfg.integrations, *stored])
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(
            "no integrations yet: add one with `channelgate channels add CHANNEL --label L --locale X`"
        )
    for row in rows:
        made = "  [created through the API]" if row.get("source") == "api" else ""
        typer.echo(f"{row['channel']}/{row['label']}  ({row['locale']}){made}")
        for key, value in row.items():
            if key not in ("channel", "label", "locale", "source"):
                typer.echo(f"  {key}: {value}")


@channels_app.command("available")
def channels_available(as_json: JsonOption = False) -> None:
    """The installed channels (official and external) and the settings each needs."""
    registry = load_registry()
    rows = []
    for name in registry.names():
        cls = registry.channels[name]
        rows.append(
            {
                "channel": name,
                "title": cls.title,
                "required": cls.Config.required_fields(),
                "secrets": cls.Config.secret_fields(),
            }
        )
    if as_json:
        typer.echo(json.dumps({"channels": rows, "broken": registry.broken}, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['channel']:<10} {row['title']}  (needs: {', '.join(row['required']) or 'nothing'})")
    for name, reason in registry.broken.items():
        typer.secho(f"{name:<10} failed to load: {reason}", fg=typer.colors.YELLOW)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


@channels_app.command("add")
def channels_add(
    channel: Annotated[
        str,
        typer.Argument(help="Channel name: webchat, messenger, whatsapp, instagram, telegram, wechat, ..."),
    ],
    label: Annotated[
        str, typer.Option(help="A name for this integration, unique within the channel (in the URL).")
    ],
    locale: Annotated[
        str, typer.Option(help="Default locale of the conversation (BCP 47, e.g. en-US).")
    ] = "en-US",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="A channel setting as key=value (repeatable).")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add an integration to the config file, asking for the channel's required settings."""
    path = _config_path(config)
    if not path.exists():
        raise fail(f"{path}: no such file (create one with `channelgate init`)")
    registry = load_registry()
    cls = registry.get(channel)
    if cls is None:
        raise fail(f"unknown channel {channel!r}; installed: {', '.join(registry.names())}")
    values: dict[str, Any] = {"channel": channel, "label": label, "locale": locale}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--set {item!r}: write it as key=value")
        values[key.strip()] = value
    secrets_ = set(cls.Config.secret_fields())
    for name in cls.Config.asked_fields(values):
        if name in values:
            continue
        if name in GENERATED_SECRETS:
            values[name] = secrets.token_urlsafe(24)
            continue
        if not sys.stdin.isatty():
            raise fail(f"{channel}: setting {name!r} is required (pass --set {name}=...)")
        values[name] = typer.prompt(name, hide_input=name in secrets_)
    try:
        integration, warnings = build_integration(values, registry, f"{path}: new integration")
    except ConfigError as exc:
        raise fail(str(exc)) from None
    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8")) or {}
    items = data.setdefault("integrations", [])
    if any(i.get("channel") == channel and i.get("label") == label for i in items):
        raise fail(f"{channel}/{label} exists already in {path}")
    items.append(values)
    _dump_yaml(path, data)
    cfg = _load(path)
    row = next(
        r for r in _integration_rows(cfg, cfg.integrations) if r["channel"] == channel and r["label"] == label
    )
    if as_json:
        typer.echo(json.dumps(row, indent=2))
        return
    for warning in warnings:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW)
    typer.echo(f"added {channel}/{label} to {path}")
    if "callback_url" in row:
        typer.echo(f"  callback URL: {row['callback_url']}  (set it as the webhook on the platform)")
    else:
        typer.echo(f"  page: {row['page_url']}")
    for key, value in row.items():
        if key not in ("channel", "label", "locale", "callback_url", "page_url"):
            typer.echo(f"  {key}: {value}")
    del integration  # validated above; the file is re-read for the row


@channels_app.command("connect")
def channels_connect(
    target: Annotated[str, typer.Argument(help="The integration, CHANNEL/LABEL (e.g. telegram/support).")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Setup step 3: set the integration's callback URL as the platform's webhook and check it took.

    Platforms with an API for it (Telegram, LINE, Twilio, Meta) are set for you with the integration's
    credentials; for the others the command prints the exact console steps and values to paste."""
    from channelgate.channels.base import SendError
    from channelgate.connecting import connect

    channel, _, label = target.partition("/")
    if not channel or not label:
        raise fail(f"{target!r}: name the integration as CHANNEL/LABEL (see `channelgate channels list`)")
    cfg = _load(config)
    try:
        result = asyncio.run(connect(cfg, channel, label))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except SendError as exc:
        raise fail(f"{channel}/{label}: not connected: {exc.reason}", code=1) from None
    if as_json:
        typer.echo(json.dumps({"connected": result.connected, "detail": result.detail}, indent=2))
        return
    typer.echo(f"{channel}/{label}: {'connected' if result.connected else 'set the webhook by hand'}")
    typer.echo(result.detail)


@channels_app.command("remove")
def channels_remove(
    channel: Annotated[str, typer.Argument(help="Channel name.")],
    label: Annotated[str, typer.Option(help="The integration's label.")],
    config: ConfigOption = None,
) -> None:
    """Remove an integration from the config file (its conversations stay in the store)."""
    path = _config_path(config)
    if not path.exists():
        raise fail(f"{path}: no such file")
    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8")) or {}
    items = data.get("integrations") or []
    keep = [i for i in items if not (i.get("channel") == channel and i.get("label") == label)]
    if len(keep) == len(items):
        raise fail(f"no integration {channel}/{label} in {path}")
    items[:] = keep
    _dump_yaml(path, data)
    typer.echo(f"removed {channel}/{label} from {path}")


# --- schema, doctor, simulate -----------------------------------------------------------------------------


@app.command()
def schema(
    which: Annotated[
        str, typer.Argument(help="universal (what bots send), brief (the brief's format), or both")
    ] = "universal",
) -> None:
    """Print the JSON Schema of bot messages."""
    from channelgate.messages import brief_schema, universal_schema

    if which == "universal":
        out: Any = universal_schema()
    elif which == "brief":
        out = brief_schema()
    elif which == "both":
        out = {"universal": universal_schema(), "brief": brief_schema()}
    else:
        raise fail(f"unknown schema {which!r}: use universal, brief or both")
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


@app.command()
def doctor(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Check the config, the store and the bot, and say what to fix."""
    checks: list[dict[str, Any]] = []
    registry = load_registry()
    for name, reason in registry.broken.items():
        checks.append({"check": f"channel package {name}", "ok": False, "detail": reason})
    try:
        cfg = load_config(config, registry)
        checks.append(
            {"check": "config", "ok": True, "detail": f"{cfg.path}: {len(cfg.integrations)} integration(s)"}
        )
        for warning in cfg.warnings:
            checks.append({"check": "config warning", "ok": True, "detail": warning})
        checks.extend(_private_file_checks(cfg))
    except ConfigError as exc:
        checks.append({"check": "config", "ok": False, "detail": str(exc)})
        cfg = None
    if cfg is not None:
        checks.extend(asyncio.run(_doctor_runtime(cfg)))
    ok = all(c["ok"] for c in checks)
    if as_json:
        typer.echo(json.dumps({"ok": ok, "checks": checks}, indent=2))
    else:
        for c in checks:
            mark = (
                typer.style("ok  ", fg=typer.colors.GREEN)
                if c["ok"]
                else typer.style("FAIL", fg=typer.colors.RED)
            )
            typer.echo(f"{mark} {c['check']}: {c['detail']}")
    raise typer.Exit(0 if ok else 1)


def _private_file_checks(cfg: GatewayConfig) -> list[dict[str, Any]]:
    """Files that hold secrets and that others than their owner can read: a warning naming the fix."""
    from channelgate.store.secret_box import sqlite_path

    database = sqlite_path(cfg.settings.store)
    files = [cfg.path, database, database.with_name(database.name + ".key") if database else None]
    if cfg.settings.secret_key_file:
        files.append(Path(cfg.settings.secret_key_file).expanduser())
    checks = []
    for path in files:
        if path is None or not path.exists():
            continue
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            detail = f"{path} is readable by others ({mode:o}) and may hold secrets: chmod 600 {path}"
            checks.append({"check": "file permissions", "ok": True, "detail": detail})
    return checks


async def _doctor_store(store: Store) -> list[dict[str, Any]]:
    """The secret key's source and the store's answer (the store is closed afterwards)."""
    checks: list[dict[str, Any]] = []
    if store.secrets.usable:
        detail = f"secrets at rest are encrypted with the key from {store.secrets.source}"
        checks.append({"check": "secret key", "ok": True, "detail": detail})
    else:
        checks.append({"check": "secret key", "ok": False, "detail": store.secrets.missing_reason})
    try:
        await store.create_schema()
        depths = await store.depths()
        checks.append(
            {
                "check": "store",
                "ok": True,
                "detail": f"{store.engine.url.render_as_string(hide_password=True)} {depths}",
            }
        )
    except Exception as exc:
        checks.append({"check": "store", "ok": False, "detail": f"{type(exc).__name__}: {exc}"})
    finally:
        await store.close()
    return checks


async def _doctor_runtime(cfg: GatewayConfig) -> list[dict[str, Any]]:
    from channelgate.bots.spec import build_bot
    from channelgate.store import Store
    from channelgate.store.secret_box import SecretKeyError
    from channelgate.turns import TextInput, Turn, User

    checks: list[dict[str, Any]] = []
    try:
        store = Store.from_settings(cfg.settings)
    except SecretKeyError as exc:
        checks.append({"check": "secret key", "ok": False, "detail": str(exc)})
    else:
        checks.extend(await _doctor_store(store))
    try:
        bot = build_bot(cfg.settings.bot)
        await bot.start()
        try:
            turn = Turn(
                id="doctor",
                conversation_id="doctor",
                channel="doctor",
                label="doctor",
                user=User(id="doctor"),
                locale=cfg.integrations[0].locale if cfg.integrations else "en-US",
                input=TextInput(text="hello"),
            )
            async with asyncio.timeout(15):
                reply = await bot.respond(turn)
            checks.append(
                {
                    "check": "bot",
                    "ok": True,
                    "detail": f"{bot.describe()} answered with {len(reply.messages)} message(s)",
                }
            )
        finally:
            await bot.stop()
    except Exception as exc:
        checks.append({"check": "bot", "ok": False, "detail": f"{type(exc).__name__}: {exc}"})
    return checks


#: what ``channelgate simulate`` serves: the simulator module in channelgate.testing for each platform name
SIMULATORS = {
    "messenger": "graph",
    "whatsapp": "graph",
    "instagram": "instagram",
    "wechat": "wechat",
    "google": "google",
    "gbm": "google",
    "rbm": "google",
    "line": "line",
    "twilio": "twilio",
    "slack": "slack",
}


@app.command()
def simulate(
    platform: Annotated[str, typer.Argument(help=f"One of: {', '.join(SIMULATORS)}.")],
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 9090,
) -> None:
    """Run a platform simulator: point an integration's api_base_url at it to try a bot with no account."""
    if platform not in SIMULATORS:
        raise fail(f"unknown platform {platform!r}: use one of {', '.join(SIMULATORS)}")
    module = importlib.import_module(f"channelgate.testing.{SIMULATORS[platform]}")
    if SIMULATORS[platform] == "graph":
        module.main(platform, host, port)  # one Graph simulator serves both Meta products
    else:
        module.main(host, port)


def _register_api_commands() -> None:
    from channelgate.api.cli import register

    register(app)  # send, broadcast, conversations, keys


_register_api_commands()


def _register_console_commands() -> None:
    from channelgate.web.console.cli import register

    register(app)  # console add-user / remove-user / list-users


_register_console_commands()


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
