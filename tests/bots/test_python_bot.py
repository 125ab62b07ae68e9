"""The python adapter: real modules written to disk and imported from ``package.module:attr``."""

from __future__ import annotations

import itertools
import logging
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from channelgate.bots import BotError, build_bot, parse_bot_spec
from channelgate.bots.python import PythonBot
from channelgate.turns import Reply, Turn

MakeTurn = Callable[..., Turn]
_counter = itertools.count()


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Writes a package with one module holding ``source``; returns its dotted name (unique per call)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str) -> str:
        package = f"cgbot{next(_counter)}"
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "main.py").write_text(textwrap.dedent(source))
        written.append(package)
        return f"{package}.main"

    yield write
    for name in list(sys.modules):
        if name.split(".")[0] in written:
            del sys.modules[name]


async def test_sync_callable_runs_in_a_worker_thread(
    make_turn: MakeTurn, write_module: Callable[[str], str]
) -> None:
    module = write_module(
        """
        import threading

        def respond(turn):
            return [{"type": "text", "text": f"{turn.input.text} from {threading.current_thread().name}"}]
        """
    )
    bot = build_bot(parse_bot_spec({"python": f"{module}:respond"}))
    await bot.start()
    reply = await bot.respond(make_turn("hi"))
    (message,) = reply.messages
    assert message["text"].startswith("hi from ")
    assert message["text"] != f"hi from {threading.current_thread().name}"


async def test_async_callable_is_awaited_and_may_switch_locale(
    make_turn: MakeTurn, write_module: Callable[[str], str]
) -> None:
    module = write_module(
        """
        async def respond(turn):
            return {"messages": [{"type": "text", "text": "bonjour " + turn.user.name}], "locale": "fr-FR"}
        """
    )
    bot = PythonBot(f"{module}:respond")
    await bot.start()
    reply = await bot.respond(make_turn("hi"))
    assert reply == Reply(messages=[{"type": "text", "text": "bonjour Ada"}], locale="fr-FR")


async def test_async_callable_object_and_dotted_attribute_are_supported(
    make_turn: MakeTurn, write_module: Callable[[str], str]
) -> None:
    module = write_module(
        """
        class Bot:
            async def __call__(self, turn):
                return "called"

            @staticmethod
            def answer(turn):
                return None

        bot = Bot()
        """
    )
    called = PythonBot(f"{module}:bot")
    await called.start()
    assert (await called.respond(make_turn("x"))).messages == ["called"]
    method = PythonBot(f"{module}:Bot.answer")
    await method.start()
    assert (await method.respond(make_turn("x"))).messages == []


async def test_missing_module_fails_at_start_naming_the_spec() -> None:
    bot = PythonBot("no_such_package_xyz.main:respond")
    with pytest.raises(BotError) as caught:
        await bot.start()
    assert caught.value.retryable is False
    assert caught.value.reason == (
        "bot.python 'no_such_package_xyz.main:respond': no module named 'no_such_package_xyz' "
        "(is the package installed, or on PYTHONPATH?)"
    )


async def test_missing_attribute_fails_at_start_naming_the_spec(write_module: Callable[[str], str]) -> None:
    module = write_module("def answer(turn):\n    return None\n")
    with pytest.raises(
        BotError, match=rf"bot.python '{module}:respond': module {module} has no attribute 'respond'"
    ):
        await PythonBot(f"{module}:respond").start()


async def test_a_broken_dependency_of_the_module_is_reported_as_such(
    write_module: Callable[[str], str],
) -> None:
    module = write_module("import not_installed_dependency_xyz\n\ndef respond(turn):\n    return None\n")
    with pytest.raises(BotError) as caught:
        await PythonBot(f"{module}:respond").start()
    assert f"importing {module} failed" in caught.value.reason
    assert "not_installed_dependency_xyz" in caught.value.reason


async def test_not_callable_is_refused(write_module: Callable[[str], str]) -> None:
    module = write_module("respond = 42\n")
    with pytest.raises(BotError, match="int is not callable"):
        await PythonBot(f"{module}:respond").start()


async def test_an_exception_becomes_a_non_retryable_bot_error_without_traceback(
    make_turn: MakeTurn, write_module: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    module = write_module(
        """
        def respond(turn):
            raise KeyError("order_id")
        """
    )
    bot = PythonBot(f"{module}:respond")
    await bot.start()
    with (
        caplog.at_level(logging.WARNING, logger="channelgate.bots.python"),
        pytest.raises(BotError) as caught,
    ):
        await bot.respond(make_turn("hi"))
    assert caught.value.retryable is False
    assert caught.value.reason == f"{module}:respond raised KeyError: 'order_id'"
    assert "Traceback" not in caught.value.reason
    assert any(r.exc_info for r in caplog.records)  # the developer still finds the traceback in the log


async def test_a_bot_error_raised_by_the_bot_keeps_its_retryable_flag(
    make_turn: MakeTurn, write_module: Callable[[str], str]
) -> None:
    module = write_module(
        """
        from channelgate.bots import BotError

        async def respond(turn):
            raise BotError("backend busy", retryable=True)
        """
    )
    bot = PythonBot(f"{module}:respond")
    await bot.start()
    with pytest.raises(BotError) as caught:
        await bot.respond(make_turn("hi"))
    assert (caught.value.reason, caught.value.retryable) == ("backend busy", True)


async def test_an_unusable_return_value_is_a_clear_error(
    make_turn: MakeTurn, write_module: Callable[[str], str]
) -> None:
    module = write_module("def respond(turn):\n    return 42\n")
    bot = PythonBot(f"{module}:respond")
    await bot.start()
    with pytest.raises(BotError, match=r"returned an answer channelgate cannot use: .* not int") as caught:
        await bot.respond(make_turn("hi"))
    assert caught.value.retryable is False


async def test_respond_without_start_loads_the_callable(
    make_turn: MakeTurn, write_module: Callable[[str], str]
) -> None:
    module = write_module("def respond(turn):\n    return 'late'\n")
    assert (await PythonBot(f"{module}:respond").respond(make_turn("hi"))).messages == ["late"]
