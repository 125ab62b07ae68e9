"""Fixtures for the hand-off tests: the Graph API and Chatwoot simulators on loopback ports, a bot that
records its turns, and a gateway with a WhatsApp integration whose desk is the Chatwoot simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from channelgate.bots.base import Bot
from channelgate.testing.chatwoot import ChatwootSimulator
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from channelgate.turns import EventInput, Reply, TextInput, Turn

WA_ID = "16505551234"


class DeskBot(Bot):
    """Echoes texts; "refund" hands over with a note; answers handoff_ended with "Welcome back"."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        if isinstance(turn.input, EventInput):
            return Reply(messages=["Welcome back"] if turn.input.name == "handoff_ended" else [])
        said = turn.input.text if isinstance(turn.input, TextInput) else turn.input.type
        if said == "refund":
            return Reply.coerce(
                {"messages": ["Let me find someone"], "handoff": {"note": "wants a refund for order 42"}}
            )
        return Reply(messages=[f"You said: {said}"])

    def inputs(self) -> list[Any]:
        return [t.input for t in self.turns]


@pytest.fixture
def graph() -> GraphSimulator:
    return GraphSimulator(kind="whatsapp", access_token="EAAG-handoff", app_secret="handoff-secret")


@pytest.fixture
async def graph_url(graph: GraphSimulator) -> AsyncIterator[str]:
    async with serve_app(graph.app) as url:
        yield graph.api_base_url(url)


@pytest.fixture
def chatwoot() -> ChatwootSimulator:
    return ChatwootSimulator()


@pytest.fixture
async def chatwoot_url(chatwoot: ChatwootSimulator) -> AsyncIterator[str]:
    async with serve_app(chatwoot.app) as url:
        yield url


def gateway_config(
    graph: GraphSimulator,
    graph_url: str,
    chatwoot: ChatwootSimulator | None,
    chatwoot_url: str,
    **handoff: Any,
) -> dict[str, Any]:
    integration: dict[str, Any] = {
        "channel": "whatsapp",
        "label": "shop",
        "locale": "en-US",
        "verify_token": graph.verify_token,
        "app_secret": graph.app_secret,
        "api_base_url": graph_url,
        "access_token": graph.access_token,
        "phone_number_id": graph.phone_number_id,
        "handoff": {"chatwoot": chatwoot.settings(chatwoot_url)} if chatwoot is not None else {},
    }
    return {
        "integrations": [integration],
        "pipeline": {"poll_interval": 0.05, "max_backoff": 0.5},
        "handoff": handoff,
    }


Running = Callable[..., AbstractAsyncContextManager[RunningGateway]]


@pytest.fixture
def running(graph: GraphSimulator, graph_url: str, chatwoot: ChatwootSimulator, chatwoot_url: str) -> Running:
    """``async with running(bot, **handoff) as gw``: the gateway, with Chatwoot's webhook set."""

    @asynccontextmanager
    async def start(bot: Bot, *, desk: bool = True, **handoff: Any) -> AsyncIterator[RunningGateway]:
        config = gateway_config(graph, graph_url, chatwoot if desk else None, chatwoot_url, **handoff)
        async with run_gateway(config, bot=bot) as gw:
            settings = gw.gateway.handoffs.chatwoot("whatsapp", "shop")
            if settings is not None:
                chatwoot.webhook_url = settings.callback_url(gw.url, "whatsapp", "shop")
            yield gw

    return start


def texts_to_user(graph: GraphSimulator) -> list[str]:
    """The texts the user received, in order (read marks and typing left out)."""
    return [s.body["text"]["body"] for s in graph.sent if s.body.get("type") == "text"]


async def user_gets(graph: GraphSimulator, text: str, timeout: float = 5.0) -> None:
    await wait_until(lambda: text in texts_to_user(graph), timeout)


async def say(gw: RunningGateway, graph: GraphSimulator, text: str) -> None:
    answer = await graph.deliver(gw.webhook_url("whatsapp", "shop"), graph.whatsapp_text(WA_ID, text))
    assert answer.status_code == 200


async def conversation_id(gw: RunningGateway) -> str:
    async def found() -> bool:
        return await gw.store.conversations.find("whatsapp", "shop", WA_ID) is not None

    await wait_until(found)
    row = await gw.store.conversations.find("whatsapp", "shop", WA_ID)
    return str(row["id"])


async def holder(gw: RunningGateway) -> str:
    return str(await gw.store.handoffs.holder(await conversation_id(gw)))
