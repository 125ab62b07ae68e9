"""The ``bot:`` config setting: every accepted shape, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from channelgate.bots import BotSpec, build_bot, parse_bot_spec
from channelgate.bots.demo import DemoBot
from channelgate.bots.http import HttpBot
from channelgate.bots.python import PythonBot
from channelgate.bots.rasa import RasaBot
from channelgate.bots.spec import DEMO_LOCALES, DemoBotSpec, HttpBotSpec, PythonBotSpec, RasaBotSpec


def test_demo_string_builds_the_demo_bot_with_its_six_locales() -> None:
    spec = parse_bot_spec("demo")
    assert isinstance(spec, DemoBotSpec)
    bot = build_bot(spec)
    assert isinstance(bot, DemoBot)
    assert bot.locales == ["en-US", "zh-CN", "es-ES", "fr-FR", "de-DE", "ja-JP"] == list(DEMO_LOCALES)


def test_python_spec_keeps_the_target_and_locales() -> None:
    spec = parse_bot_spec({"python": "mybot.main:respond", "locales": ["en_US", "fr-FR"]})
    assert isinstance(spec, PythonBotSpec)
    assert spec.python == "mybot.main:respond"
    assert spec.locales == ["en-US", "fr-FR"]
    bot = build_bot(spec)
    assert isinstance(bot, PythonBot)
    assert bot.locales == ["en-US", "fr-FR"]
    assert bot.describe() == "python bot mybot.main:respond"


def test_http_spec_has_defaults_for_timeout_retries_and_headers() -> None:
    spec = parse_bot_spec({"http": "http://127.0.0.1:9000/turn"})
    assert isinstance(spec, HttpBotSpec)
    assert (spec.timeout, spec.retries, spec.headers, spec.locales) == (10.0, 2, {}, None)


def test_http_header_values_are_secrets_and_reach_the_adapter() -> None:
    spec = parse_bot_spec(
        {
            "http": "https://bot.example.com/turn",
            "timeout": 3,
            "retries": 0,
            "headers": {"Authorization": "Bearer s3cr3t"},
        }
    )
    assert isinstance(spec, HttpBotSpec)
    assert "s3cr3t" not in repr(spec)
    assert "s3cr3t" not in spec.model_dump_json()
    bot = build_bot(spec)
    assert isinstance(bot, HttpBot)
    assert (bot.timeout, bot.retries) == (3.0, 0)
    assert bot._headers == {"Authorization": "Bearer s3cr3t"}
    assert "s3cr3t" not in bot.describe()


def test_rasa_spec_builds_the_rest_webhook_url() -> None:
    spec = parse_bot_spec({"rasa": "http://localhost:5005/", "timeout": 4.5, "locales": ["de-DE"]})
    assert isinstance(spec, RasaBotSpec)
    bot = build_bot(spec)
    assert isinstance(bot, RasaBot)
    assert bot.url == "http://localhost:5005/webhooks/rest/webhook"
    assert (bot.timeout, bot.locales) == (4.5, ["de-DE"])


def test_a_parsed_spec_is_accepted_again_as_it_is() -> None:
    spec = parse_bot_spec({"rasa": "http://localhost:5005"})
    assert parse_bot_spec(spec) is spec
    assert TypeAdapter(BotSpec).validate_python(spec) == spec


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"http": "localhost:8000/turn"}, "bot.http: not a URL"),
        ({"http": "ftp://example.com/turn"}, "bot.http: not a URL"),
        ({"rasa": "rasa"}, "bot.rasa: not a URL"),
        ({"http": "http://x/turn", "timeout": 0}, "bot.timeout: "),
        ({"http": "http://x/turn", "timeout": "soon"}, "bot.timeout: "),
        ({"http": "http://x/turn", "retries": -1}, "bot.retries: "),
        ({"http": "http://x/turn", "retry": 3}, "bot.retry: is not a setting of a http bot"),
        (
            {"http": "http://x/turn", "headers": {"Bad Name": "x"}},
            "bot.headers: 'Bad Name' is not a valid header name",
        ),
        (
            {"http": "http://x/turn", "headers": {"X-A": "a\r\nX-B: b"}},
            "bot.headers: the value of X-A holds a line break",
        ),
        ({"python": "mybot.respond"}, "bot.python: 'mybot.respond' is not 'package.module:attribute'"),
        ({"python": "mybot:respond", "locales": ["xx-??"]}, "bot.locales"),
        ({"python": "mybot:respond", "locales": []}, "bot.locales: must list at least one locale"),
        (
            {"python": "a:b", "http": "http://x/turn"},
            "bot: name exactly one kind of bot: python, http or rasa (found python, http)",
        ),
        ({"url": "http://x/turn"}, "bot: name exactly one kind of bot"),
        ("echo", "bot: unknown bot 'echo'"),
        (42, "bot: expected demo"),
    ],
)
def test_a_wrong_bot_setting_names_the_field(value: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_bot_spec(value)
    assert message in str(caught.value)


def test_an_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"known: .*timeout.*retries.*headers"):
        parse_bot_spec({"http": "http://x/turn", "retry": 3})
