"""Prometheus metrics, one registry per gateway (so tests can run several gateways in one process).

The hot path counts five things per message (webhook, turn, bot latency, delivery, best-effort action),
each by channel and outcome. prometheus_client's ``labels()`` validates and converts the values and takes a
lock on every call; the metrics here keep each labelled child once made, so a repeated ``labels()`` is one
dict lookup (docs/benchmarks.md, "What each change bought").
"""

from __future__ import annotations

from typing import Any, Self

import prometheus_client


class _KeepsChildren:
    """``labels()`` with positional values answered from the children already made. A child is never
    dropped here: the gateway does not ``remove()`` labelled series (``remove``/``clear`` forget the kept
    children too, should anyone)."""

    _kept: dict[tuple[object, ...], Any]

    def labels(self, *values: object, **kwargs: object) -> Self:
        if kwargs:
            return super().labels(*values, **kwargs)  # type: ignore[misc, no-any-return]
        kept = self.__dict__.get("_kept")
        if kept is None:
            kept = self._kept = {}
        child = kept.get(values)
        if child is None:
            child = kept[values] = super().labels(*values)  # type: ignore[misc]
        return child  # type: ignore[no-any-return]

    def remove(self, *values: Any) -> None:
        self.__dict__.pop("_kept", None)
        super().remove(*values)  # type: ignore[misc]

    def clear(self) -> None:
        self.__dict__.pop("_kept", None)
        super().clear()  # type: ignore[misc]


class Counter(_KeepsChildren, prometheus_client.Counter):
    pass


class Gauge(_KeepsChildren, prometheus_client.Gauge):
    pass


class Histogram(_KeepsChildren, prometheus_client.Histogram):
    pass


CollectorRegistry = prometheus_client.CollectorRegistry


class Metrics:
    """The gateway's metrics (their children kept: see the module's docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "channelgate_webhooks_total",
            "Webhook requests by channel and outcome "
            "(accepted, duplicate, handshake, rejected, invalid, too_large, busy, empty)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.skipped_events = Counter(
            "channelgate_skipped_events_total",
            "Platform events dropped from an accepted webhook: malformed (unreadable) or rules (an id or "
            "text the gateway does not store; see channels.inbound)",
            ["channel", "kind"],
            registry=self.registry,
        )
        self.turns = Counter(
            "channelgate_turns_total",
            "Bot turns by channel and outcome",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.bot_latency = Histogram(
            "channelgate_bot_latency_seconds",
            "Time the bot took to answer a turn",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.deliveries = Counter(
            "channelgate_deliveries_total",
            "Send attempts by channel and outcome (sent, retry, paused, failed, dead, fallback)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.routed = Counter(
            "channelgate_routed_total",
            "Work handed to this replica because it holds the connection (connection_routes.py): webchat "
            "(sends a peer found the user away for), passive (WeChat replies a peer's turn held for the "
            "request waiting here)",
            ["kind"],
            registry=self.registry,
        )
        self.best_effort = Counter(
            "channelgate_best_effort_total",
            "Typing indicators and read marks by channel and outcome (sent, skipped: no rate budget, stale "
            "or paused; failed)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.invalid_messages = Counter(
            "channelgate_invalid_bot_messages_total",
            "Bot messages that were not valid universal messages",
            ["channel"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "channelgate_queue_depth", "Work waiting in the durable queues", ["queue"], registry=self.registry
        )
        self.fleet_replicas = Gauge(
            "channelgate_fleet_replicas",
            "Processes sharing the fleet's limits, this one included, as it last read them (1 on SQLite)",
            registry=self.registry,
        )
        self.fleet_share = Gauge(
            "channelgate_fleet_share",
            "The part of every rate limit and web chat limit this process uses (1/N); 0: it sends nothing, "
            "not yet admitted or cut off from the store",
            registry=self.registry,
        )
        self.pruned = Counter(
            "channelgate_pruned_rows_total",
            "Rows the retention job deleted, by table (inbox, outbox, kv, locks)",
            ["table"],
            registry=self.registry,
        )
        self.handoffs = Counter(
            "channelgate_handoffs_total",
            "Conversations handed to a person, by integration and reason (bot, user, operator, agent)",
            ["channel", "label", "reason"],
            registry=self.registry,
        )
        self.handoffs_ended = Counter(
            "channelgate_handoffs_ended_total",
            "Conversations given back to the bot, by integration and reason (resolved, released, idle)",
            ["channel", "label", "reason"],
            registry=self.registry,
        )
        self.first_agent_reply = Histogram(
            "channelgate_handoff_first_agent_reply_seconds",
            "Time from a hand-off to the first reply of a person",
            ["channel", "label"],
            buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
            registry=self.registry,
        )
        self.handoffs_held = Gauge(
            "channelgate_handoffs_held",
            "Conversations a person holds now, by integration",
            ["channel", "label"],
            registry=self.registry,
        )
