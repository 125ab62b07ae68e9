"""A bot that shows what it was told, and the same conversation driven on three channels over loopback:
the relay example channel (its peer records the universal messages), WhatsApp and Messenger (through the
Graph API simulator). Tests talk to a :class:`Harness` and read back what the user saw."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from channelgate.bots.base import Bot, BotError
from channelgate.testing.gateway import RunningGateway, run_gateway, wait_until
from channelgate.testing.graph import GraphSimulator
from channelgate.testing.server import serve_app
from channelgate.turns import EventInput, PostbackInput, Reply, TextInput, Turn
from tests.core.relay_peer import SECRET, RelayPeer, deliver, event

SIX = ["en-US", "zh-CN", "es-ES", "fr-FR", "de-DE", "ja-JP"]
LABELS = ["English", "中文", "Español", "Français", "Deutsch", "日本語"]


class LangBot(Bot):
    """Says which locale each turn came in and what it got; ``speak xx`` switches with Reply.locale;
    ``fail`` fails for good (so the user gets the gateway's apology)."""

    def __init__(self, locales: list[str] | None = None) -> None:
        self.locales = list(locales or SIX)
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> Reply:
        self.turns.append(turn)
        data = turn.input
        if isinstance(data, EventInput):
            info = data.data or {}
            return Reply(messages=[f"[{turn.locale}] {data.name} {info.get('from')}>{info.get('to')}"])
        if isinstance(data, TextInput) and data.text.startswith("speak "):
            return Reply(messages=[f"[{turn.locale}] ok"], locale=data.text.split()[1])
        if isinstance(data, TextInput) and data.text == "fail":
            raise BotError("broken on purpose", retryable=False)
        said = data.text if isinstance(data, TextInput) else getattr(data, "payload", data.type)
        return Reply(messages=[f"[{turn.locale}] {said}"])

    def inputs(self) -> list[tuple[str, str, str]]:
        """(locale, kind, what) of every turn: ``("fr-FR", "event", "en-US>fr-FR")``."""
        out = []
        for turn in self.turns:
            data = turn.input
            if isinstance(data, EventInput):
                info = data.data or {}
                out.append((turn.locale, f"event:{data.name}", f"{info.get('from')}>{info.get('to')}"))
            elif isinstance(data, TextInput):
                out.append((turn.locale, "text", data.text))
            elif isinstance(data, PostbackInput):
                out.append((turn.locale, "postback", data.payload))
        return out


@dataclass
class Said:
    """What the user saw in one message: its text and the choices (title, payload) it offered."""

    text: str
    choices: list[tuple[str, str]] = field(default_factory=list)
    #: the list's button label, where the platform shows one (WhatsApp)
    button: str | None = None


@dataclass
class Harness:
    """One user on one channel of a running gateway."""

    channel: str
    gw: RunningGateway
    bot: LangBot
    user: str
    _say: Callable[[str, str], Any]
    _tap: Callable[[str, str, str], Any]
    _seen: Callable[[], list[Said]]
    #: the Graph API simulator, on WhatsApp and Messenger
    sim: GraphSimulator | None = None
    _count: int = 0

    async def say(self, text: str) -> None:
        self._count += 1
        response = await self._say(f"{self.channel}-{self.user}-{self._count}", text)
        assert response.status_code == 200, response.text

    async def tap(self, payload: str, title: str) -> None:
        self._count += 1
        response = await self._tap(f"{self.channel}-{self.user}-{self._count}", payload, title)
        assert response.status_code == 200, response.text

    def seen(self) -> list[Said]:
        return self._seen()

    async def wait_seen(self, n: int, timeout: float = 8.0) -> list[Said]:
        """The first ``n`` messages the user saw (waits for them)."""
        await wait_until(lambda: len(self.seen()) >= n, timeout=timeout)
        return self.seen()[:n]

    def texts(self) -> list[str]:
        return [s.text for s in self.seen()]

    async def conversation(self) -> Any:
        return await self.gw.store.conversations.find(self.channel, "main", self.user)

    @property
    def integration(self) -> Any:
        return self.gw.gateway.integrations[(self.channel, "main")]


# --- the channels ------------------------------------------------------------------------------------


def _relay_said(message: dict[str, Any]) -> Said:
    if message.get("type") == "list":
        return Said(
            message["text"], [(i["title"], i["payload"]) for i in message["items"]], message.get("button")
        )
    choices = [(q["title"], q["payload"]) for q in message.get("quick_replies") or []]
    return Said(message.get("text", message.get("type", "")), choices)


def _whatsapp_said(body: dict[str, Any]) -> Said | None:
    if body.get("type") == "text":
        return Said(body["text"]["body"])
    if body.get("type") != "interactive":
        return None  # read marks and typing indicators
    interactive = body["interactive"]
    action = interactive.get("action", {})
    if interactive["type"] == "list":
        rows = [(r["title"], r["id"]) for s in action["sections"] for r in s["rows"]]
        return Said(interactive["body"]["text"], rows, action.get("button"))
    buttons = [(b["reply"]["title"], b["reply"]["id"]) for b in action.get("buttons", [])]
    return Said(interactive["body"]["text"], buttons)


def _messenger_said(body: dict[str, Any]) -> Said | None:
    message = body.get("message")
    if not isinstance(message, dict) or "text" not in message:
        return None  # sender actions (mark_seen, typing_on)
    choices = [(q["title"], q["payload"]) for q in message.get("quick_replies") or []]
    return Said(message["text"], choices)


def base_config(integration: dict[str, Any], store: str, **languages: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "store": store,
        "pipeline": {"poll_interval": 0.05, "max_backoff": 0.2},
        "integrations": [{"label": "main", "locale": "en-US", **integration}],
    }
    if languages:
        config["languages"] = languages
    return config


@asynccontextmanager
async def relay_harness(
    store: str, bot: LangBot, integration: dict[str, Any], **languages: Any
) -> AsyncIterator[Harness]:
    peer = RelayPeer()
    async with serve_app(peer.app) as peer_url:
        relay = {"channel": "relay", "secret": SECRET, "send_url": f"{peer_url}/send", **integration}
        async with (
            run_gateway(base_config(relay, store, **languages), bot=bot) as gw,
            httpx.AsyncClient() as client,
        ):
            url = gw.webhook_url("relay", "main")

            async def say(event_id: str, text: str) -> httpx.Response:
                return await deliver(client, url, event(event_id, "u1", text))

            async def tap(event_id: str, payload: str, title: str) -> httpx.Response:
                return await deliver(
                    client, url, event(event_id, "u1", postback={"payload": payload, "title": title})
                )

            def seen() -> list[Said]:
                return [_relay_said(r["message"]) for r in peer.received]

            yield Harness("relay", gw, bot, "u1", say, tap, seen)


@asynccontextmanager
async def graph_harness(
    kind: str, store: str, bot: LangBot, integration: dict[str, Any], **languages: Any
) -> AsyncIterator[Harness]:
    sim = GraphSimulator(kind=kind)  # type: ignore[arg-type]
    user = "16505551234" if kind == "whatsapp" else "PSID1"
    async with serve_app(sim.app) as sim_url:
        values: dict[str, Any] = {
            "channel": kind,
            "verify_token": sim.verify_token,
            "app_secret": sim.app_secret,
            "api_base_url": sim.api_base_url(sim_url),
            **integration,
        }
        if kind == "whatsapp":
            values.update(access_token=sim.access_token, phone_number_id=sim.phone_number_id)
        else:
            values["page_access_token"] = sim.access_token
        async with run_gateway(base_config(values, store, **languages), bot=bot) as gw:
            url = gw.webhook_url(kind, "main")

            async def say(event_id: str, text: str) -> httpx.Response:
                if kind == "whatsapp":
                    return await sim.deliver(url, sim.whatsapp_text(user, text, wamid=f"wamid.{event_id}"))
                return await sim.deliver(url, sim.messenger_text(user, text, mid=f"m_{event_id}"))

            async def tap(event_id: str, payload: str, title: str) -> httpx.Response:
                if kind == "whatsapp":
                    reply = sim.whatsapp_list_reply(user, payload, title, wamid=f"wamid.{event_id}")
                    return await sim.deliver(url, reply)
                return await sim.deliver(
                    url, sim.messenger_quick_reply(user, title, payload, mid=f"m_{event_id}")
                )

            def seen() -> list[Said]:
                read = _whatsapp_said if kind == "whatsapp" else _messenger_said
                return [s for s in (read(m.body) for m in sim.sent) if s]

            yield Harness(kind, gw, bot, user, say, tap, seen, sim)


def open_harness(channel: str, store: str, bot: LangBot | None = None, **integration: Any) -> Any:
    """A harness for ``channel``; ``languages`` (a dict) becomes the config's languages section."""
    languages = integration.pop("languages", {})
    bot = bot or LangBot()
    if channel == "relay":
        return relay_harness(store, bot, integration, **languages)
    return graph_harness(channel, store, bot, integration, **languages)
