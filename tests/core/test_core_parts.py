"""The core's parts on their own: each takes the collaborators it uses, so each is tested without a gateway.

Passive replies, the send lanes, credential pauses and the turn runner's count, then the one gateway method
that replaces an integration live.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from channelgate_relay import RelayChannel

from channelgate.channels.base import Health, InvalidCredentials, Outbound, Rejected, Unavailable
from channelgate.config import PipelineSettings, build_integration
from channelgate.lanes import Lanes
from channelgate.languages import Languages
from channelgate.metrics import Metrics
from channelgate.passive import HeldReply, PassiveReplies
from channelgate.pauses import PAUSED_NOTE, CredentialPauses
from channelgate.pipeline import TurnRunner
from channelgate.testing import ChannelHarness
from channelgate.testing.gateway import wait_until

from .relay_peer import SECRET, RelayPeer, deliver, event
from .test_pipeline import RecordingBot

# --- passive replies ---


async def test_a_claimed_waiter_gets_the_held_reply() -> None:
    passive = PassiveReplies()
    passive.register(7)
    waiting = asyncio.create_task(passive.wait(7, budget=5))
    await asyncio.sleep(0)
    waiter = passive.claim(7)
    assert waiter is not None and len(passive) == 0
    reply = HeldReply([1, 2], [Outbound(body={"a": 1}), Outbound(body={"b": 2})])
    passive.resolve(waiter, reply)
    assert await waiting == reply


async def test_a_request_out_of_budget_lets_the_reply_go_through_the_api() -> None:
    passive = PassiveReplies()
    passive.register(7)
    assert await passive.wait(7, budget=0.01) is None
    assert passive.claim(7) is None  # the runner queues the reply instead of holding it
    assert await passive.wait(8, budget=1) is None  # nobody registered


async def test_a_request_giving_up_while_the_turn_commits_tells_the_runner() -> None:
    # the runner claimed the waiter and is committing the held reply when the request's budget runs out:
    # resolve says so, and the runner queues what it held instead of leaving it held until recovery
    passive = PassiveReplies()
    passive.register(7)
    waiting = asyncio.create_task(passive.wait(7, budget=0.01))
    await asyncio.sleep(0)
    waiter = passive.claim(7)
    assert waiter is not None
    assert await waiting is None
    assert passive.resolve(waiter, HeldReply([1], [Outbound(body={"a": 1})])) is False


async def test_shutdown_cancels_waiters_and_a_late_resolve_is_harmless() -> None:
    passive = PassiveReplies()
    waiter = passive.register(7)
    claimed = passive.claim(7)
    assert claimed is waiter
    passive.cancel_all()  # nothing left registered: the claimed waiter is the runner's now
    passive.register(8)
    passive.cancel_all()
    assert passive.resolve(waiter, HeldReply([], [])) is True  # claimed before shutdown: still its own
    assert waiter.future.result() == HeldReply([], [])
    cancelled = passive.claim(8)
    assert cancelled is None  # cancelled at shutdown: the turn's reply is queued


# --- lanes ---


class FakeChannel(SimpleNamespace):
    @property
    def send_rate(self) -> float:  # as Channel.send_rate: the integration's rate_limit, else the platform's
        return float(self.config.rate_limit or self.limits.send_rate)


def fake_channel(rate_limit: float | None = None, label: str = "main") -> Any:
    return FakeChannel(
        name="relay",
        ctx=SimpleNamespace(label=label, health=Health()),
        config=SimpleNamespace(rate_limit=rate_limit),
        limits=SimpleNamespace(send_rate=20.0, send_concurrency=8),
    )


def test_a_lane_per_integration_until_it_is_forgotten() -> None:
    lanes = Lanes()
    channel = fake_channel(rate_limit=5)
    lane = lanes.of(channel)
    assert lanes.of(channel) is lane
    assert lane.limiter.rate == 5 and lane.window.maximum == 8
    assert lanes.of(fake_channel(label="other")).limiter.rate == 20  # the platform's rate by default
    lanes.forget(("relay", "main"))
    channel.config.rate_limit = 2
    assert lanes.of(channel) is not lane and lanes.of(channel).limiter.rate == 2


# --- credential pauses ---


class FakeDeliveries:
    """Records what the pauses write."""

    def __init__(self) -> None:
        self.retries: list[tuple[Any, ...]] = []
        self.resumed: list[tuple[str, str]] = []

    async def mark_retry(self, *args: Any) -> None:
        self.retries.append(args)

    async def resume(self, channel: str, label: str) -> None:
        self.resumed.append((channel, label))


def row(i: int) -> dict[str, Any]:
    return {"id": i, "conversation_id": "c1", "retry_since": None}


async def test_refused_credentials_pause_until_a_probe_goes_through() -> None:
    deliveries, woken = FakeDeliveries(), []
    channel = fake_channel()
    live: dict[tuple[str, str], Any] = {("relay", "main"): channel}
    pauses = CredentialPauses(
        deliveries,  # type: ignore[arg-type]
        Metrics(),
        probe_interval=60,
        channel=lambda c, label: live.get((c, label)),
        wake=lambda: woken.append(True),
    )
    assert pauses.of(channel) is None and not await pauses.hold(channel, row(1), 1)

    await pauses.pause(channel, row(1), 3, InvalidCredentials("token expired"))
    pause = pauses.of(channel)
    assert pause is not None and pause.reason == "paused: credentials refused: token expired"
    assert channel.ctx.health.status == "failing" and PAUSED_NOTE in channel.ctx.health.message
    assert deliveries.retries[-1][2] == 2  # no try used up

    assert await pauses.hold(channel, row(2), 1)  # waits for the probe time
    pause.probe_at = time.time() - 1
    assert not await pauses.hold(channel, row(3), 1)  # this one is the probe
    assert await pauses.hold(channel, row(4), 1)  # the others wait for it
    await pauses.after_failure(channel, Unavailable("503"))  # says nothing about the credentials
    assert pauses.of(channel) is pause and not pause.probing

    await pauses.went_through(channel)
    assert pauses.of(channel) is None and deliveries.resumed == [("relay", "main")] and woken
    assert channel.ctx.health.status == "ok"


async def test_pauses_resume_when_the_platform_takes_the_credentials_or_the_channel_is_replaced() -> None:
    deliveries = FakeDeliveries()
    channel = fake_channel()
    live: dict[tuple[str, str], Any] = {("relay", "main"): channel}
    pauses = CredentialPauses(
        deliveries,  # type: ignore[arg-type]
        Metrics(),
        probe_interval=60,
        channel=lambda c, label: live.get((c, label)),
        wake=lambda: None,
    )
    await pauses.pause(channel, row(1), 1, InvalidCredentials("bad token"))
    await pauses.after_failure(channel, Rejected("bad recipient"))  # the platform read the message
    assert pauses.of(channel) is None and deliveries.resumed == [("relay", "main")]

    await pauses.pause(channel, row(1), 1, InvalidCredentials("bad token"))
    await pauses.resume_replaced()
    assert pauses.of(channel) is not None  # still the same channel
    live[("relay", "main")] = fake_channel()
    await pauses.resume_replaced()
    assert pauses.of(channel) is None and len(deliveries.resumed) == 2


# --- the turn runner's count ---


class IdleInbox:
    async def claim_conversation(self, *args: Any) -> None:
        return None


class IdleStore:
    """A store with no turn to run."""

    inbox = IdleInbox()

    async def depths(self) -> dict[str, int]:
        return {"inbox_pending": 5}


async def test_the_runner_owns_its_count_of_waiting_turns() -> None:
    runner = TurnRunner(
        IdleStore(),  # type: ignore[arg-type]
        PipelineSettings(max_pending=6),
        bot=RecordingBot(),
        metrics=Metrics(),
        languages=Languages(),
        channel=lambda c, label: None,
        integration=lambda c, label: None,
        locales_for=lambda channel: ["en-US"],
        passive=PassiveReplies(),
        wake_delivery=lambda: None,
    )
    await runner.count_pending()
    assert runner.pending == 5 and not runner.full
    runner.accepted(["c1"])
    assert runner.pending == 6 and runner.full
    with pytest.raises(AttributeError):
        runner.pending = 0  # type: ignore[misc]
    await runner.stop(1.0)


# --- replacing an integration live ---


def relay_integration(peer: RelayPeer, gw: ChannelHarness, **extra: Any) -> Any:
    raw = {
        "channel": "relay",
        "label": "main",
        "locale": "en-US",
        "secret": SECRET,
        "send_url": f"{peer.url}/send",  # type: ignore[attr-defined]
        **extra,
    }
    integration, _ = build_integration(raw, gw.gateway.registry, "test")
    return integration


async def test_replace_integration_swaps_the_channel_in_one_step(
    peer: RelayPeer,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stopped: list[Any] = []
    stop = RelayChannel.stop

    async def recording_stop(self: RelayChannel) -> None:
        stopped.append(self)
        await stop(self)

    monkeypatch.setattr(RelayChannel, "stop", recording_stop)
    bot = RecordingBot()
    settings = {"secret": SECRET, "send_url": f"{peer.url}/send"}  # type: ignore[attr-defined]
    async with ChannelHarness(
        "relay", settings, label="main", bot=bot, store=f"sqlite:///{tmp_path}/store.db"
    ) as gw:
        gateway = gw.gateway
        old = gateway.channel("relay", "main")
        assert old is not None
        old_lane = gateway.delivery.lanes.of(old)

        new = await gateway.replace_integration(relay_integration(peer, gw, rate_limit=3))
        assert gateway.channel("relay", "main") is new and new is not old
        assert stopped == [old]
        assert gateway.delivery.lanes.of(new) is not old_lane
        assert gateway.delivery.lanes.of(new).limiter.rate == 3

        async def broken_start(self: RelayChannel) -> None:
            raise RuntimeError("cannot reach the platform")

        monkeypatch.setattr(RelayChannel, "start", broken_start)
        with pytest.raises(RuntimeError):
            await gateway.replace_integration(relay_integration(peer, gw))
        assert gateway.channel("relay", "main") is new and stopped == [old]  # nothing changed

        async with httpx.AsyncClient() as client:
            response = await deliver(client, gw.webhook_url("relay", "main"), event("e1", "u1", "hi"))
        assert response.status_code == 200
        await peer.wait_for(1)
        await wait_until(lambda: gateway.turns.pending == 0)
