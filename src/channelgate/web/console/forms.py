"""Forms generated from a channel's ``Config`` model, so a new channel gets its console form for free.

Each pydantic field becomes one input: secrets (``SecretStr``) a password input that is never filled in
with the stored value, booleans a checkbox, ``Literal`` choices a select, numbers a number input, lists a
textarea (one item a line), the rest a text input. Help texts come from the Config class's docstring,
which by convention explains each field as ````name``: text``. Validation is the model's own, so an error
lands next to the field that caused it.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import PydanticUndefined

from channelgate.channels.base import GENERATED_SECRETS, ChannelConfig

_HELP = re.compile(r"``(\w+)``\s*:\s*(.*?)(?=\s*``\w+``\s*:|\Z)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str  # secret | bool | choice | number | list | text
    required: bool
    default: str
    help: str
    choices: tuple[str, ...] = ()
    #: left empty, the gateway makes one (a verify token)
    generated: bool = False


def _args(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def _kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    args = _args(annotation)
    first = args[0] if args else str
    if first is SecretStr:
        return "secret", ()
    if first is bool:
        return "bool", ()
    if typing.get_origin(first) is Literal:
        return "choice", tuple(str(v) for v in typing.get_args(first))
    if first in (int, float):
        return "number", ()
    if typing.get_origin(first) in (list, tuple, set):
        return "list", ()
    return "text", ()


def help_texts(model: type[BaseModel]) -> dict[str, str]:
    """``{"field": "help"}`` from the model's docstring (````field``: help text``)."""
    doc = model.__doc__ or ""
    return {name: " ".join(text.split()) for name, text in _HELP.findall(doc)}


def fields(model: type[ChannelConfig]) -> list[Field]:
    helps = help_texts(model)
    required = set(model.required_fields())
    out = []
    for name in model.settings():
        info = model.model_fields[name]
        kind, choices = _kind(info.annotation)
        default = info.default
        shown = "" if default in (PydanticUndefined, None) or kind == "secret" else default
        if kind == "list" and isinstance(shown, list | tuple):
            shown = "\n".join(str(v) for v in shown)
        generated = name in GENERATED_SECRETS and name in required  # the admin API makes one when left out
        out.append(
            Field(
                name=name,
                kind=kind,
                required=name in required and not generated,
                default=str(shown).lower() if kind == "bool" else str(shown),
                help=helps.get(name, ""),
                choices=choices,
                generated=generated,
            )
        )
    return out


def values_from_form(
    model: type[ChannelConfig], form: dict[str, str], *, keep_secrets: bool = False
) -> dict[str, Any]:
    """The config mapping an operator filled in: empty inputs are left out (the model's default applies),
    checkboxes are true or false, lists are one item a line. With ``keep_secrets`` an empty secret means
    "unchanged" and is sent back as the admin API's mask."""
    config: dict[str, Any] = {}
    for field in fields(model):
        raw = form.get(f"config.{field.name}", "")
        if field.kind == "bool":
            config[field.name] = raw in ("on", "true", "1")
            continue
        if field.kind == "list":
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            if items:
                config[field.name] = items
            continue
        value = raw.strip()
        if not value:
            if field.kind == "secret" and keep_secrets:
                config[field.name] = "***"
            continue
        config[field.name] = _number(value) if field.kind == "number" else value
    return config


def _number(text: str) -> Any:
    """A number typed into a form, stored as a number (as the config file would hold it); text that is not
    one is passed on for the model to name in its error."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def field_errors(model: type[ChannelConfig], config: dict[str, Any]) -> dict[str, str]:
    """What the model says about each field (``{"page_access_token": "Field required"}``); empty when the
    config is valid. Masked secrets count as given."""
    probe = {k: ("x" if v == "***" else v) for k, v in config.items()}
    for field in fields(model):
        if field.generated and not probe.get(field.name):
            probe[field.name] = "x"
    try:
        model.model_validate(probe)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            where = str(err["loc"][0]) if err["loc"] else ""
            errors.setdefault(where, err["msg"])
        return errors
    return {}
