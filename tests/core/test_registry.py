"""Channels are found through the `channelgate.channels` entry point group; a broken one is reported."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import pytest

from channelgate.channels import registry as registry_module
from channelgate.channels.registry import load_registry


def test_the_example_external_package_is_loaded_through_its_entry_point() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="channelgate.channels")}
    assert names.get("relay") == "channelgate_relay:RelayChannel"  # installed by `make test`
    assert "relay" not in registry_module.BUILTIN
    channels = load_registry()
    assert channels.get("relay") is not None
    assert channels.get("relay").title.startswith("Relay")  # type: ignore[union-attr]


def test_every_official_channel_loads() -> None:
    channels = load_registry()
    assert set(registry_module.BUILTIN) <= set(channels.names())
    assert channels.broken == {}


def test_a_broken_external_package_is_reported_and_the_rest_still_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = entry_points

    def with_broken(group: str) -> list[EntryPoint]:
        found = list(real(group=group))
        found.append(EntryPoint("fax", "channelgate_fax_missing:FaxChannel", group))
        found.append(EntryPoint("impostor", "channelgate.messages:Text", group))
        return found

    monkeypatch.setattr(registry_module, "entry_points", with_broken)
    channels = load_registry()
    assert "No module named 'channelgate_fax_missing'" in channels.broken["fax"]
    assert "not a channelgate Channel" in channels.broken["impostor"]
    assert "relay" in channels.names() and "messenger" in channels.names()
