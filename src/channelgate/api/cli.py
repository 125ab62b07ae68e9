"""CLI commands for proactive messaging and the admin API: ``send``, ``broadcast``, ``conversations``,
``keys``, ``secrets``.

``keys`` works on the store named in the config file (there is no API without a key). The others call a
running gateway's API through :class:`channelgate.Client`: ``--url`` (or ``$CHANNELGATE_URL``; default the
config's ``public_url``) and ``--api-key`` (or ``$CHANNELGATE_API_KEY``). Output is for people by default
and JSON with ``--json``; errors are one line and exit code 2.

Registered on the main ``channelgate`` app by :func:`register`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from channelgate.client import ApiError, Client

DEFAULT_URL = "http://127.0.0.1:8080"

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $CHANNELGATE_CONFIG or ./channelgate.yaml).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of text.")]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="CHANNELGATE_URL",
        show_default=False,
        help="The gateway's URL (default: the config's public_url, else http://127.0.0.1:8080).",
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="CHANNELGATE_API_KEY",
        show_default=False,
        help="An API key (create one with `channelgate keys create --name NAME`).",
    ),
]
ChannelOption = Annotated[str, typer.Option("--channel", help="Channel name, e.g. messenger.")]
LabelOption = Annotated[str, typer.Option("--label", help="The integration's label.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _config_path(path: Path | None) -> Path:
    return Path(path or os.environ.get("CHANNELGATE_CONFIG") or "channelgate.yaml")


def load_cli_config(path: Path | None) -> Any:
    """The gateway config for a command; a bad one ends the command with its message, not a traceback."""
    from channelgate.channels.registry import load_registry
    from channelgate.config import ConfigError, load_config

    try:
        return load_config(path, load_registry())
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _base_url(url: str | None, config: Path | None) -> str:
    if url:
        return url
    if _config_path(config).exists():
        return str(load_cli_config(config).settings.public_url)
    return DEFAULT_URL


def _client(url: str | None, api_key: str | None, config: Path | None) -> Client:
    if not api_key:
        raise fail(
            "an API key is needed: --api-key or $CHANNELGATE_API_KEY "
            "(create one with `channelgate keys create --name NAME`)"
        )
    return Client(_base_url(url, config), api_key)


def _call(client: Client, what: str, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = fn(*args, **kwargs)
        return result
    except ApiError as exc:
        raise fail(f"{what}: {exc.status} {exc.reason}") from None
    except Exception as exc:  # httpx errors: the gateway is not there
        raise fail(f"cannot reach the API at {client.base_url}: {type(exc).__name__}: {exc}") from None


def print_result(data: Any, as_json: bool, lines: list[str]) -> None:
    """A command's answer: ``data`` as JSON for scripts (``--json``), else ``lines`` for people."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for line in lines:
            typer.echo(line)


def read_messages(path: Path) -> list[dict[str, Any]]:
    """A message file: one universal message, a list of them, or ``{"messages": [...]}`` (a bot's reply)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"{path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        data = data["messages"]
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(m, dict) for m in items):
        raise fail(f'{path}: expected a message object, a list of them, or {{"messages": [...]}}')
    return items


def read_recipients(path: Path) -> list[dict[str, Any]]:
    """Recipients: JSON (a list of user ids or ``{"user_id", "parameters"}``), or lines of
    ``user_id[,parameter,...]`` (CSV)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"{path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise fail(f"{path}: {exc}") from None
        if not isinstance(data, list):
            raise fail(f"{path}: expected a JSON list of recipients")
        return [{"user_id": str(r)} if not isinstance(r, dict) else r for r in data]
    out = []
    for row in csv.reader(io.StringIO(text)):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#"):
            continue
        recipient: dict[str, Any] = {"user_id": cells[0]}
        if len(cells) > 1:
            recipient["parameters"] = cells[1:]
        out.append(recipient)
    return out


# --- send -------------------------------------------------------------------------------------------------


def send(
    channel: Annotated[str | None, typer.Option("--channel", help="Channel name, e.g. messenger.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="The integration's label.")] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="The platform's user id (PSID, phone...).")
    ] = None,
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="A conversation id instead.")
    ] = None,
    text: Annotated[list[str] | None, typer.Option("--text", help="A text message (repeatable).")] = None,
    message_file: Annotated[
        Path | None, typer.Option("--message-file", help="Universal message(s) as JSON.")
    ] = None,
    tag: Annotated[
        str | None, typer.Option("--tag", help="Messenger message tag, outside the 24-hour window.")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Makes retries safe.")
    ] = None,
    url: UrlOption = None,
    api_key: KeyOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a proactive message: `channelgate send --channel messenger --label shop --user PSID --text Hi`."""
    messages = [{"type": "text", "text": t} for t in text or []]
    if message_file is not None:
        messages.extend(read_messages(message_file))
    if not messages:
        raise fail("nothing to send: give --text or --message-file")
    if (user is None) == (conversation is None):
        raise fail("give either --user (with --channel and --label) or --conversation")
    if user is not None and (channel is None or label is None):
        raise fail("--channel and --label are required with --user")
    with _client(url, api_key, config) as client:
        answer = _call(
            client,
            "send",
            client.send,
            channel=channel,
            label=label,
            user_id=user,
            conversation_id=conversation,
            messages=messages,
            tag=tag,
            idempotency_key=idempotency_key,
        )
    ids = ", ".join(str(i) for i in answer.get("message_ids", []))
    print_result(
        answer,
        as_json,
        [
            f"queued message(s) {ids} (request {answer.get('request_id')}); "
            f"follow with: channelgate conversations show {answer.get('conversation_id')}"
        ],
    )


# --- broadcast --------------------------------------------------------------------------------------------

broadcast_app = typer.Typer(
    help="Send one message or template to many users, paced; follow or cancel it.", no_args_is_help=True
)


def _broadcast_lines(data: dict[str, Any]) -> list[str]:
    counts = data.get("counts") or {}
    done = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    return [
        f"broadcast {data['id']} on {data['channel']}/{data['label']}: {data['status']}, "
        f"{data['total']} recipient(s){': ' + done if done else ''}"
    ]


@broadcast_app.command("send")
def broadcast_send(
    channel: ChannelOption,
    label: LabelOption,
    user: Annotated[
        list[str] | None, typer.Option("--user", help="A recipient's user id (repeatable).")
    ] = None,
    recipients_file: Annotated[
        Path | None, typer.Option("--recipients-file", help="JSON list, or CSV lines of user_id[,param,...].")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every conversation of the integration.")] = False,
    active_within: Annotated[
        float | None, typer.Option("--active-within", help="With --all: users who wrote within N seconds.")
    ] = None,
    locale: Annotated[
        str | None, typer.Option("--locale", help="With --all: conversations in this locale.")
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="A text message.")] = None,
    message_file: Annotated[
        Path | None, typer.Option("--message-file", help="One universal message as JSON.")
    ] = None,
    template: Annotated[
        str | None, typer.Option("--template", help="A pre-approved template's name.")
    ] = None,
    language: Annotated[str, typer.Option("--language", help="The template's language.")] = "en_US",
    param: Annotated[
        list[str] | None, typer.Option("--param", help="A template parameter (repeatable).")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Messenger message tag.")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Makes retries safe.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the progress until every recipient is handled.")
    ] = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a broadcast to --user/--recipients-file recipients or --all conversations."""
    chosen = [m for m in (text is not None, message_file is not None, template is not None) if m]
    if len(chosen) != 1:
        raise fail("give one of --text, --message-file or --template")
    if template is not None:
        message: dict[str, Any] = {"type": "template", "name": template, "language": language}
        if param:
            message["parameters"] = list(param)
    elif message_file is not None:
        items = read_messages(message_file)
        if len(items) != 1:
            raise fail(f"{message_file}: a broadcast sends one message")
        message = items[0]
    else:
        message = {"type": "text", "text": text}
    recipients: list[Any] = [{"user_id": u} for u in user or []]
    if recipients_file is not None:
        recipients.extend(read_recipients(recipients_file))
    if bool(recipients) == all_:
        raise fail("give recipients (--user, --recipients-file) or --all")
    audience: dict[str, Any] = (
        {"recipients": recipients}
        if recipients
        else {
            "filter": {
                k: v for k, v in {"active_within": active_within, "locale": locale}.items() if v is not None
            }
        }
    )
    with _client(url, api_key, config) as client:
        started = _call(
            client,
            "broadcast",
            client.broadcast,
            channel=channel,
            label=label,
            message=message,
            tag=tag,
            idempotency_key=idempotency_key,
            **audience,
        )
        status = _call(client, "broadcast", client.broadcast_status, started["id"], limit=1)
        while wait and status["status"] == "running":
            time.sleep(0.5)
            status = _call(client, "broadcast", client.broadcast_status, started["id"], limit=1)
            if not as_json:
                typer.echo(_broadcast_lines(status)[0])
    status.pop("recipients", None)
    status.pop("next_cursor", None)
    print_result(status, as_json, _broadcast_lines(status))


@broadcast_app.command("status")
def broadcast_status(
    broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id.")],
    limit: Annotated[int, typer.Option("--limit", help="Recipients to show.")] = 20,
    url: UrlOption = None,
    api_key: KeyOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Progress and per-recipient results of a broadcast."""
    with _client(url, api_key, config) as client:
        data = _call(client, "broadcast", client.broadcast_status, broadcast_id, limit=limit)
    lines = _broadcast_lines(data)
    for r in data.get("recipients", []):
        reason = f" ({r['reason']})" if r.get("reason") else ""
        lines.append(f"  {r['user_id']}: {r['status']}{reason}")
    print_result(data, as_json, lines)


@broadcast_app.command("cancel")
def broadcast_cancel(
    broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id.")],
    url: UrlOption = None,
    api_key: KeyOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel what a broadcast has not handed to the platform yet."""
    with _client(url, api_key, config) as client:
        data = _call(client, "cancel", client.cancel_broadcast, broadcast_id)
    data.pop("recipients", None)
    print_result(data, as_json, _broadcast_lines(data))


@broadcast_app.command("list")
def broadcast_list(
    limit: Annotated[int, typer.Option("--limit")] = 20,
    url: UrlOption = None,
    api_key: KeyOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recent broadcasts."""
    with _client(url, api_key, config) as client:
        data = _call(client, "list", client.broadcasts, limit=limit)
    lines = [
        f"{b['id']}  {b['channel']}/{b['label']}  {b['status']}  {b['total']} recipient(s)"
        for b in data["items"]
    ] or ["no broadcasts yet"]
    print_result(data, as_json, lines)


# --- conversations ----------------------------------------------------------------------------------------

conversations_app = typer.Typer(help="Find conversations and read their transcripts.", no_args_is_help=True)


@conversations_app.command("list")
def conversations_list(
    channel: Annotated[str | None, typer.Option("--channel")] = None,
    label: Annotated[str | None, typer.Option("--label")] = None,
    user: Annotated[str | None, typer.Option("--user", help="A platform user id.")] = None,
    search: Annotated[str | None, typer.Option("--search", help="Part of a user id or name.")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="next_cursor of the previous page.")] = None,
    url: UrlOption = None,
    api_key: KeyOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Conversations, newest first."""
    with _client(url, api_key, config) as client:
        data = _call(
            client,
            "conversations",
            client.conversations,
            channel=channel,
            label=label,
            user_id=user,
            q=search,
            limit=limit,
            cursor=cursor,
        )
    lines = [
        f"{c['id']}  {c['channel']}/{c['label']}  {c['user_id']}"
        f"{'  (' + c['user_name'] + ')' if c.get('user_name') else ''}  {c['locale']}"
        for c in data["items"]
    ]
    if data.get("next_cursor"):
        lines.append(f"more: --cursor {data['next_cursor']}")
    print_result(data, as_json, lines or ["no conversations"])


@conversations_app.command("show")
def conversations_show(
    conversation_id: Annotated[str, typer.Argument(help="The conversation's id.")],
    limit: Annotated[int, typer.Option("--limit")] = 100,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    url: UrlOption = None,
    api_key: KeyOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """A conversation's transcript: what the user sent, what went out, and what became of it."""
    with _client(url, api_key, config) as client:
        data = _call(client, "conversation", client.conversation, conversation_id, limit=limit, cursor=cursor)
    lines = [f"{data['channel']}/{data['label']} user {data['user_id']} ({data['locale']})"]
    for entry in data["transcript"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["at"]))
        if entry["direction"] == "in":
            what = json.dumps(entry.get("input"), ensure_ascii=False)
            lines.append(f"{when}  <  {what}  [{entry['status']}]")
        else:
            reason = f": {entry['reason']}" if entry.get("reason") else ""
            lines.append(f"{when}  >  {entry.get('summary') or entry['kind']}  [{entry['status']}{reason}]")
    if data.get("next_cursor"):
        lines.append(f"more: --cursor {data['next_cursor']}")
    print_result(data, as_json, lines)


@conversations_app.command("delete")
def conversations_delete(
    conversation_ids: Annotated[
        list[str], typer.Argument(help="Conversation ids (find a user's with `conversations list --user`).")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete conversations and everything stored about them, queued and dead messages included (a privacy
    request). There is no undo."""
    if not yes and not typer.confirm(
        f"Delete {len(conversation_ids)} conversation(s) and their whole history for good?"
    ):
        raise fail("nothing deleted")
    results = []
    with _client(url, api_key, config) as client:
        for conversation_id in conversation_ids:
            results.append(
                _call(client, f"conversation {conversation_id}", client.delete_conversation, conversation_id)
            )
    lines = [
        f"{r['id']}: deleted " + ", ".join(f"{n} {table}" for table, n in r["deleted"].items())
        for r in results
    ]
    print_result(results, as_json, lines)


# --- keys -------------------------------------------------------------------------------------------------

keys_app = typer.Typer(help="API keys for the admin API (stored hashed in the store).", no_args_is_help=True)


def with_store(config: Path | None, work: Any) -> Any:
    """Run ``work(store)`` against the configured store, opened and closed around it (local commands)."""
    from channelgate.store import Store

    cfg = load_cli_config(config)

    async def run() -> Any:
        store = Store.from_settings(cfg.settings)
        try:
            await store.create_schema()
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except typer.Exit:
        raise
    except Exception as exc:
        raise fail(f"store {cfg.settings.store.split('@')[-1]}: {type(exc).__name__}: {exc}") from None


def _key_json(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scope": key.scope,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who uses it, e.g. shop-backend.")],
    read_only: Annotated[bool, typer.Option("--read-only", help="May only read (GET).")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key; it is shown once (only its hash is stored)."""
    from channelgate.store import admin

    if not name.strip() or len(name) > 128:
        raise fail("--name is 1-128 characters")
    key, secret = with_store(
        config, lambda store: admin.create_key(store, name, "read" if read_only else "full")
    )
    print_result(
        {**_key_json(key), "key": secret},
        as_json,
        [
            f"created {'read-only' if read_only else 'full'} key {key.id} ({name}):",
            f"  {secret}",
            "Store it now: it is not shown again. Send it as `Authorization: Bearer <key>`.",
        ],
    )


@keys_app.command("list")
def keys_list(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Keys with their scope and state (never the keys themselves)."""
    from channelgate.store import admin

    keys = with_store(config, admin.list_keys)
    lines = [
        f"{k.id}  {k.prefix}…  {k.name}  {k.scope}  "
        f"{'revoked ' + time.strftime('%Y-%m-%d', time.localtime(k.revoked_at)) if k.revoked else 'active'}"
        for k in keys
    ]
    print_result(
        [_key_json(k) for k in keys], as_json, lines or ["no keys: create one with `channelgate keys create`"]
    )


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[
        str, typer.Argument(help="The key's id, or a name (revokes every live key of that name).")
    ],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a key: requests with it get 403 from now on."""
    from channelgate.store import admin

    revoked = with_store(config, lambda store: admin.revoke_key(store, key))
    if not revoked:
        raise fail(f"no live key with id or name {key!r}")
    print_result([_key_json(k) for k in revoked], as_json, [f"revoked {k.id} ({k.name})" for k in revoked])


# --- secrets ----------------------------------------------------------------------------------------------

secrets_app = typer.Typer(
    help="The key that encrypts secrets at rest (docs/security.md): generate one, rotate to a new one.",
    no_args_is_help=True,
)


@secrets_app.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new key for CHANNELGATE_SECRET_KEY (or a secret_key_file)."""
    from channelgate.store.secret_box import generate_key

    typer.echo(generate_key())


@secrets_app.command("rotate")
def secrets_rotate(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Re-encrypt every stored secret with the first key of CHANNELGATE_SECRET_KEY.

    Set CHANNELGATE_SECRET_KEY=NEW,OLD (the old key still opens what it sealed), run this, then keep only
    NEW. Secrets an earlier version stored in clear are encrypted too."""
    from channelgate.channels.registry import load_registry
    from channelgate.store import admin

    names = load_registry().names()
    counts = with_store(config, lambda store: admin.rotate_secrets(store, names))
    print_result(
        counts,
        as_json,
        [
            f"re-encrypted {counts['integrations']} stored integration(s) and {counts['key_values']} "
            "stored value(s) with the first key; the other keys can now be retired"
        ],
    )


def register(app: typer.Typer) -> None:
    """Add ``send``, ``broadcast``, ``conversations`` and ``keys`` to the ``channelgate`` command."""
    app.command("send")(send)
    app.add_typer(broadcast_app, name="broadcast")
    app.add_typer(conversations_app, name="conversations")
    app.add_typer(keys_app, name="keys")
    app.add_typer(secrets_app, name="secrets")
