"""The hand-off's pieces on their own: the Reply's contract, the config keys, trigger phrases, Chatwoot's
webhook payloads and signature, Messenger's HUMAN_AGENT tag, and ``channels list``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from channelgate.bots.base import BotError
from channelgate.bots.http import reply_from_json
from channelgate.channels.registry import load_registry
from channelgate.cli import app
from channelgate.config import ConfigError, parse_config
from channelgate.handoff.chatwoot_events import (
    AgentMessage,
    Ignored,
    Resolved,
    read_event,
    sign,
    signature_ok,
)
from channelgate.handoff.service import HandoffService
from channelgate.handoff.settings import HandoffSettings
from channelgate.messages import Media, Text
from channelgate.turns import HandoffRequest, Reply

CHATWOOT = {
    "url": "https://desk.example.com/",
    "account_id": 3,
    "inbox_id": 9,
    "api_access_token": "tok-123456",
}


def test_the_reply_carries_handoff_true_or_a_note() -> None:
    assert Reply.coerce({"handoff": True}).handoff_request == HandoffRequest()
    reply = Reply.coerce({"messages": ["bye"], "handoff": {"note": "angry customer"}})
    assert reply.messages == ["bye"] and reply.handoff_request == HandoffRequest(note="angry customer")
    assert Reply.coerce({"messages": ["hi"]}).handoff_request is None
    assert Reply.coerce({"handoff": False}).handoff_request is None
    assert reply_from_json({"handoff": {"note": "n"}}).handoff_request == HandoffRequest(note="n")
    assert reply_from_json({"messages": [], "handoff": True}).handoff_request == HandoffRequest()
    with pytest.raises(BotError, match="handoff"):
        reply_from_json({"handoff": "yes"})
    with pytest.raises(BotError, match="handoff"):
        reply_from_json({"handoff": {"nope": 1}})


def config(**integration: Any) -> Any:
    raw = {"channel": "webchat", "label": "site", **integration}
    return parse_config({"integrations": [raw], "handoff": {"idle_timeout": 600}}, load_registry(), "t.yaml")


def test_handoff_is_an_integration_level_key_beside_the_channel_settings() -> None:
    parsed = config(handoff={"chatwoot": CHATWOOT})
    handoff = parsed.integrations[0].handoff
    assert handoff is not None and handoff.chatwoot is not None
    assert handoff.chatwoot.url == "https://desk.example.com" and handoff.chatwoot.inbox_id == 9
    assert parsed.settings.handoff.idle_timeout == 600
    assert config().integrations[0].handoff is None
    with pytest.raises(ConfigError, match=r"handoff\.chatwoot\.inbox_id: is required"):
        config(handoff={"chatwoot": {k: v for k, v in CHATWOOT.items() if k != "inbox_id"}})
    with pytest.raises(ConfigError, match=r"handoff\.chatwot: is not a known setting"):
        config(handoff={"chatwot": CHATWOOT})


def test_the_webhook_secret_is_unguessable_and_follows_the_token() -> None:
    one = config(handoff={"chatwoot": CHATWOOT}).integrations[0].handoff.chatwoot
    two = config(handoff={"chatwoot": {**CHATWOOT, "api_access_token": "other-token"}}).integrations[0]
    assert one.callback_secret("webchat", "site") != two.handoff.chatwoot.callback_secret("webchat", "site")
    assert one.callback_secret("webchat", "site") != one.callback_secret("webchat", "other")
    assert len(one.callback_secret("webchat", "site")) == 40
    assert "tok-123456" not in one.callback_url("https://gw", "webchat", "site")


def test_trigger_phrases_per_language() -> None:
    settings = HandoffSettings()
    for text in ("human", "Human!", "  TALK TO A PERSON. ", "人工", "转人工", "ＨＵＭＡＮ"):  # noqa: RUF001
        assert settings.matches(text), text
    for text in ("humans are great", "I want a refund", "", "?"):
        assert not settings.matches(text), text
    custom = HandoffSettings(triggers={"fr": ["Un conseiller"]})
    assert custom.matches("un conseiller !") and not custom.matches("human")
    assert HandoffSettings(triggers={}).matches("human") is False
    assert settings.confirmation("zh-CN").startswith("已为您") and settings.confirmation("de-DE").startswith(
        "A person"
    )


def test_chatwoot_payloads() -> None:
    message = {
        "event": "message_created",
        "id": 5,
        "content": "Hello",
        "message_type": "outgoing",
        "private": False,
        "conversation": {"id": 12},
        "attachments": [{"file_type": "image", "data_url": "https://cdn.example.com/a.png"}],
    }
    assert read_event(message) == AgentMessage(
        "12", "5", [Text(text="Hello"), Media(kind="image", url="https://cdn.example.com/a.png")]
    )
    assert isinstance(read_event({**message, "private": True}), Ignored)
    assert isinstance(read_event({**message, "message_type": "incoming"}), Ignored)
    assert isinstance(read_event({**message, "content": "", "attachments": []}), Ignored)
    assert isinstance(read_event({**message, "conversation": "x"}), Ignored)
    assert read_event({"event": "conversation_status_changed", "id": 12, "status": "resolved"}) == Resolved(
        "12"
    )
    assert isinstance(
        read_event({"event": "conversation_status_changed", "id": 12, "status": "open"}), Ignored
    )
    assert isinstance(read_event([1, 2]), Ignored)


def test_chatwoot_signature() -> None:
    raw = b'{"event":"message_created"}'
    stamp = str(int(time.time()))
    good = sign("s3cret", stamp, raw)
    assert signature_ok("s3cret", stamp, good, raw)
    assert not signature_ok("s3cret", stamp, good, raw + b" ")
    assert not signature_ok("other", stamp, good, raw)
    assert not signature_ok("s3cret", None, good, raw)
    old = str(int(time.time()) - 3600)
    assert not signature_ok("s3cret", old, sign("s3cret", old, raw), raw)


def test_meta_agent_replies_outside_24_hours_carry_human_agent() -> None:
    old = {"last_inbound_at": time.time() - 2 * 86400}
    recent = {"last_inbound_at": time.time() - 3600}
    for name in ("messenger", "instagram"):
        assert HandoffService.agent_tag(name, old) == "HUMAN_AGENT"  # type: ignore[arg-type]
        assert HandoffService.agent_tag(name, recent) is None  # type: ignore[arg-type]
    assert HandoffService.agent_tag("whatsapp", old) is None  # type: ignore[arg-type]


def test_channels_list_shows_the_chatwoot_webhook_url(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        "public_url: https://bot.example.com\nintegrations:\n"
        "  - channel: webchat\n    label: site\n    handoff:\n      chatwoot:\n"
        "        url: https://desk.example.com\n        account_id: 3\n        inbox_id: 9\n"
        "        api_access_token: tok-123456\n"
    )
    result = CliRunner().invoke(app, ["channels", "list", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["chatwoot_webhook_url"].startswith("https://bot.example.com/handoff/chatwoot/webchat/site/")
    text = CliRunner().invoke(app, ["channels", "list", "--config", str(path)]).output
    assert f"chatwoot_webhook_url: {row['chatwoot_webhook_url']}" in text
    assert "tok-123456" not in result.output + text
