"""The ``bot:`` setting of the config: which bot answers, and how to reach it.

Four shapes are accepted, because each kind of bot needs different things and nothing else::

    bot: demo
    bot: {python: "package.module:respond"}
    bot: {http: "https://bot.example.com/turn", timeout: 10, retries: 2, headers: {Authorization: "..."}}
    bot: {rasa: "http://localhost:5005", timeout: 10}

Each mapping may also carry ``locales: [en-US, fr-FR]`` (BCP 47): the languages the bot speaks, which the
gateway offers in its language menu. :func:`parse_bot_spec` turns the YAML value into one of the models
below, or raises ValueError naming the field (``bot.http: not a URL``), because a wrong config is read by
a person in a terminal. :func:`build_bot` makes the adapter.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from channelgate.locale import normalize_locale

if TYPE_CHECKING:
    from channelgate.bots.base import Bot

#: languages of the built-in demo bot
DEMO_LOCALES = ("en-US", "zh-CN", "es-ES", "fr-FR", "de-DE", "ja-JP")

_TARGET = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
)
#: RFC 9110 token characters, the only ones allowed in a header name
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def check_url(value: str, example: str) -> str:
    """An absolute http(s) URL with a host, or ValueError. Kept as text: the HTTP client parses it at use."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a URL (expected something like {example})")
    return value.strip()


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the config key naming the kind (``python``, ``http``, ``rasa``), or the string ``demo``
    kind: ClassVar[str]

    locales: list[str] | None = Field(default=None, description="languages the bot speaks (BCP 47)")

    @field_validator("locales")
    @classmethod
    def _locales(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must list at least one locale, or be left out")
        return [normalize_locale(tag) for tag in value]


class DemoBotSpec(_Spec):
    """``bot: demo``: the built-in bot that shows what every channel renders."""

    kind: ClassVar[str] = "demo"


class PythonBotSpec(_Spec):
    """``bot: {python: "package.module:respond"}``: a callable in this process."""

    kind: ClassVar[str] = "python"

    python: str = Field(description="package.module:attribute of a sync or async callable taking a Turn")

    @field_validator("python")
    @classmethod
    def _target(cls, value: str) -> str:
        value = value.strip()
        if not _TARGET.match(value):
            raise ValueError(f"{value!r} is not 'package.module:attribute' (for example mybot.main:respond)")
        return value


class HttpBotSpec(_Spec):
    """``bot: {http: URL}``: a web service that answers each Turn POSTed to it with a Reply."""

    kind: ClassVar[str] = "http"

    http: str = Field(description="URL the Turn JSON is POSTed to")
    timeout: float = Field(default=10.0, gt=0, le=300, description="seconds to wait for one answer")
    retries: int = Field(default=2, ge=0, le=10, description="extra tries on connection errors, 5xx and 429")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="sent with every request (for example Authorization); never logged"
    )

    @field_validator("http")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, "https://bot.example.com/turn")

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if any(c in secret.get_secret_value() for c in "\r\n\0"):
                raise ValueError(f"the value of {name} holds a line break")
        return value


class RasaBotSpec(_Spec):
    """``bot: {rasa: URL}``: a Rasa server with its REST channel enabled."""

    kind: ClassVar[str] = "rasa"

    rasa: str = Field(description="base URL of the Rasa server, for example http://localhost:5005")
    timeout: float = Field(default=10.0, gt=0, le=300, description="seconds to wait for Rasa's answer")

    @field_validator("rasa")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, "http://localhost:5005")


BotSpec: TypeAlias = DemoBotSpec | PythonBotSpec | HttpBotSpec | RasaBotSpec

_MAPPED: dict[str, type[PythonBotSpec | HttpBotSpec | RasaBotSpec]] = {
    "python": PythonBotSpec,
    "http": HttpBotSpec,
    "rasa": RasaBotSpec,
}
_FORMS = "demo, {python: 'package.module:respond'}, {http: URL} or {rasa: URL}"


def parse_bot_spec(value: Any) -> BotSpec:
    """The bot spec for a config value; ValueError naming the field when the value is wrong."""
    if isinstance(value, DemoBotSpec | PythonBotSpec | HttpBotSpec | RasaBotSpec):
        return value
    if isinstance(value, str):
        if value.strip() == "demo":
            return DemoBotSpec()
        raise ValueError(f"bot: unknown bot {value!r} (write one of {_FORMS})")
    if not isinstance(value, dict):
        raise ValueError(f"bot: expected {_FORMS}, not {type(value).__name__}")
    kinds = [key for key in _MAPPED if key in value]
    if len(kinds) != 1:
        found = f"found {', '.join(kinds)}" if kinds else "found none"
        raise ValueError(f"bot: name exactly one kind of bot: python, http or rasa ({found})")
    model = _MAPPED[kinds[0]]
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ValueError(_describe(exc, model)) from None


def _describe(exc: ValidationError, model: type[BaseModel]) -> str:
    """``bot.http: not a URL; bot.timeout: ...`` from pydantic's errors."""
    known = ", ".join(model.model_fields)
    parts = []
    for err in exc.errors():
        where = ".".join(["bot", *(str(p) for p in err["loc"])])
        if err["type"] == "extra_forbidden":
            msg = f"is not a setting of a {model.kind} bot (known: {known})"  # type: ignore[attr-defined]
        elif err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "value_error":
            msg = str(err.get("ctx", {}).get("error", err["msg"]))
        else:
            msg = err["msg"]
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def build_bot(spec: BotSpec) -> Bot:
    """The adapter for a spec. Nothing is contacted or imported yet: that happens in ``Bot.start()``."""
    # imported here so that reading the config does not pull in every adapter (and its HTTP client)
    if isinstance(spec, DemoBotSpec):
        from channelgate.bots.demo import DemoBot

        return DemoBot(locales=spec.locales)
    if isinstance(spec, PythonBotSpec):
        from channelgate.bots.python import PythonBot

        return PythonBot(spec.python, locales=spec.locales)
    if isinstance(spec, HttpBotSpec):
        from channelgate.bots.http import HttpBot

        return HttpBot(
            spec.http,
            timeout=spec.timeout,
            retries=spec.retries,
            headers={name: secret.get_secret_value() for name, secret in spec.headers.items()},
            locales=spec.locales,
        )
    from channelgate.bots.rasa import RasaBot

    return RasaBot(spec.rasa, timeout=spec.timeout, locales=spec.locales)
