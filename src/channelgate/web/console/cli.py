"""``channelgate console``: the operators who may sign in to the console at ``/console``.

The console stays off (404 with how to enable it) until the first operator exists, so a gateway that
nobody set up for people never shows a sign-in page to the internet.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from channelgate.api.cli import ConfigOption, JsonOption, fail, load_cli_config, print_result, with_store

console_app = typer.Typer(
    help="Operators of the console at /console (people who set up channels and look after conversations).",
    no_args_is_help=True,
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise fail("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@console_app.command("add-user")
def add_user(
    name: Annotated[str, typer.Argument(help="The operator's sign-in name, e.g. alice.")],
    read_only: Annotated[
        bool, typer.Option("--read-only", help="May look at everything but change nothing.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add an operator (or set an existing one's password and role); the first one turns the console on."""
    from channelgate.store import operators

    try:
        operators.check_name(name)
        password = operators.check_password(_read_password(password_stdin))
    except ValueError as exc:
        raise fail(str(exc)) from None
    role = "read" if read_only else "full"
    created = with_store(config, lambda store: operators.add_operator(store, name, password, role))
    url = f"{load_cli_config(config).settings.public_url.rstrip('/')}/console"
    role_name = "read-only" if read_only else "full"
    print_result(
        {"name": name, "role": role, "created": created, "console_url": url},
        as_json,
        [f"{'added' if created else 'updated'} {role_name} operator {name}; sign in at {url}"],
    )


@console_app.command("remove-user")
def remove_user(
    name: Annotated[str, typer.Argument(help="The operator's name.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove an operator and end their sessions (the console turns off with the last one)."""
    from channelgate.store import operators

    removed = with_store(config, lambda store: operators.remove_operator(store, name))
    if not removed:
        raise fail(f"no operator {name!r}")
    print_result({"name": name, "removed": True}, as_json, [f"removed operator {name}"])


@console_app.command("list-users")
def list_users(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The operators and their roles."""
    from channelgate.store import operators

    found = with_store(config, operators.list_operators)
    print_result(
        [{"name": o.name, "role": o.role} for o in found],
        as_json,
        [f"{o.name}  {o.role}" for o in found]
        or ["no operators: the console is off; add one with `channelgate console add-user NAME`"],
    )


def register(app: typer.Typer) -> None:
    app.add_typer(console_app, name="console")
