"""The web chat channel without a server: config, origins, identity, rendering and send."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from channelgate.channels.base import (
    ChannelContext,
    Forbidden,
    Outbound,
    Rejected,
    RenderContext,
    Unavailable,
    WebhookRequest,
)
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.renderer import Renderer
from channelgate.channels.webchat import WebChatChannel, WebChatConfig
from channelgate.channels.webchat.channel import OFFLINE_RETRY_AFTER
from channelgate.channels.webchat.render import WebChatRenderer
from channelgate.messages import UniversalMessage, parse_message
from channelgate.testing.memory import MemoryKeyValue

PUBLIC_URL = "https://bot.example.com"


@pytest.fixture
async def http() -> AsyncIterator[PlatformHTTP]:
    async with PlatformHTTP() as client:
        yield client


def make_channel(http: PlatformHTTP, kv: MemoryKeyValue | None = None, **config: Any) -> WebChatChannel:
    ctx = ChannelContext(
        channel="webchat",
        label="site",
        locale="en-US",
        public_url=PUBLIC_URL,
        http=http,
        kv=kv or MemoryKeyValue(),
    )
    return WebChatChannel(WebChatConfig.model_validate(config), ctx)


def render_ctx(**fields: Any) -> RenderContext:
    return RenderContext(
        **{"user_id": "wc-user", "locale": "en-US", "now": 1000.0, "reply_to": "in-1", **fields}
    )


def messages(*objs: Any) -> list[UniversalMessage]:
    return [parse_message(o) for o in objs]


# --- config -------------------------------------------------------------------------------------------


def test_config_defaults_and_secret_field() -> None:
    config = WebChatConfig()
    assert (config.title, config.allowed_origins, config.welcome, config.rate_limit, config.secret) == (
        "Chat",
        [],
        None,
        None,
        None,
    )
    assert WebChatConfig.secret_fields() == ["secret"]
    assert WebChatConfig.required_fields() == []


def test_allowed_origins_are_normalised_and_checked() -> None:
    config = WebChatConfig(allowed_origins=["HTTPS://Shop.Example.com/", "*"])
    assert config.allowed_origins == ["https://shop.example.com", "*"]
    with pytest.raises(ValidationError, match="is not an origin"):
        WebChatConfig(allowed_origins=["shop.example.com"])
    with pytest.raises(ValidationError, match="is not an origin"):
        WebChatConfig(allowed_origins=["https://shop.example.com/chat"])


def test_short_secret_is_refused_and_any_origin_is_warned_about() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        WebChatChannel.check_config(WebChatConfig(secret="short"))
    assert WebChatChannel.check_config(WebChatConfig(secret="x" * 32)) == []
    warnings = WebChatChannel.check_config(WebChatConfig(allowed_origins=["*"]))
    assert len(warnings) == 1 and "any web site" in warnings[0]


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ValidationError):
        WebChatConfig.model_validate({"titel": "typo"})


# --- origins ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "origin", "host", "ok"),
    [
        ([], None, "bot.example.com", True),  # not a browser
        ([], "https://bot.example.com", "10.0.0.5:8080", True),  # the public URL's origin
        ([], "http://10.0.0.5:8080", "10.0.0.5:8080", True),  # same origin as the request
        ([], "http://localhost:3000", "bot.example.com", True),
        ([], "http://127.0.0.1:5173", "bot.example.com", True),
        ([], "http://[::1]:8000", "bot.example.com", True),
        ([], "https://evil.example", "bot.example.com", False),
        ([], "https://bot.example.com.evil.example", "bot.example.com", False),
        ([], "null", "bot.example.com", False),
        (["https://shop.example.com"], "https://shop.example.com", "bot.example.com", True),
        (["https://shop.example.com"], "HTTPS://SHOP.EXAMPLE.COM", "bot.example.com", True),
        (["https://shop.example.com"], "http://shop.example.com", "bot.example.com", False),
        (["https://shop.example.com"], "http://localhost:3000", "bot.example.com", False),
        (["https://shop.example.com"], "https://bot.example.com", "bot.example.com", True),
        (["*"], "https://anything.example", "bot.example.com", True),
    ],
)
def test_origin_policy(
    http: PlatformHTTP, allowed: list[str], origin: str | None, host: str, ok: bool
) -> None:
    assert make_channel(http, allowed_origins=allowed).origin_allowed(origin, host) is ok


# --- identity -----------------------------------------------------------------------------------------


async def test_generated_secret_is_shared_through_the_key_value_store(http: PlatformHTTP) -> None:
    kv = MemoryKeyValue()
    first, second = make_channel(http, kv), make_channel(http, kv)
    await first.start()
    await second.start()  # another replica, or the next start
    user_id, token = first.new_identity()
    assert second.verify(user_id, token)
    elsewhere = make_channel(http)  # its own store: its own secret
    await elsewhere.start()
    assert not elsewhere.verify(user_id, token)


async def test_tokens_need_a_started_channel_and_bind_the_user_id(http: PlatformHTTP) -> None:
    channel = make_channel(http, secret="k" * 32)
    with pytest.raises(RuntimeError, match="not started"):
        channel.new_identity()
    await channel.start()
    user_id, token = channel.new_identity()
    other_id, _ = channel.new_identity()
    assert channel.verify(user_id, token)
    assert not channel.verify(other_id, token)
    assert not channel.verify(user_id, token[:-1])
    assert not channel.verify(user_id, None)
    assert not channel.verify("not-a-webchat-id", channel.token_for("not-a-webchat-id"))


# --- webhooks -----------------------------------------------------------------------------------------


def test_webhook_route_is_refused_with_a_reason(http: PlatformHTTP) -> None:
    channel = make_channel(http)
    request = WebhookRequest("POST", {}, {}, b'{"text": "hi"}')
    assert channel.handshake(request) is None
    with pytest.raises(Forbidden, match=r"only over its WebSocket \(/webchat/site/ws\)"):
        channel.authenticate(request)


# --- render -------------------------------------------------------------------------------------------

IMAGE = "https://example.com/a.png"
SAMPLES: list[dict[str, Any]] = [
    {"type": "text", "text": "hi", "quick_replies": [{"type": "reply", "title": "Yes", "payload": "Y"}]},
    {"type": "media", "kind": "image", "url": IMAGE, "caption": "a photo"},
    {"type": "media", "kind": "file", "url": "https://example.com/f.pdf", "filename": "f.pdf"},
    {
        "type": "card",
        "title": "T",
        "description": "D",
        "media": {"url": IMAGE, "alt_text": "alt", "height": "tall"},
        "buttons": [
            {"type": "reply", "title": "R", "payload": "P"},
            {"type": "url", "title": "U", "url": "https://example.com"},
            {"type": "call", "title": "C", "phone": "+15555550100"},
        ],
    },
    {"type": "carousel", "cards": [{"type": "card", "title": "A"}, {"type": "card", "title": "B"}]},
    {
        "type": "list",
        "text": "pick",
        "header": "H",
        "footer": "F",
        "items": [{"title": "one", "payload": "1"}],
    },
    {"type": "location", "latitude": 48.8584, "longitude": 2.2945, "name": "Eiffel Tower"},
    {"type": "template", "name": "hello_world", "language": "en_US", "parameters": ["Ada", 3]},
]


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{s['type']}-{i}" for i, s in enumerate(SAMPLES)])
def test_every_universal_type_is_passed_to_the_browser_as_it_is(
    http: PlatformHTTP, sample: dict[str, Any]
) -> None:
    [outbound] = make_channel(http).render(messages(sample), render_ctx())
    expected = parse_message(sample).model_dump(mode="json", exclude_none=True)
    assert outbound.body["message"] == expected
    assert outbound.body["user_id"] == "wc-user"
    assert outbound.kind == "message" and not outbound.best_effort
    assert outbound.summary.startswith(sample["type"])


def test_brief_format_arrives_translated(http: PlatformHTTP) -> None:
    brief = {
        "type": "rich",
        "title": "T",
        "insideActions": [{"type": "reply", "display": "Go", "payload": "GO"}],
    }
    [outbound] = make_channel(http).render(messages(brief), render_ctx())
    assert outbound.body["message"] == {
        "type": "card",
        "title": "T",
        "buttons": [{"type": "reply", "title": "Go", "payload": "GO"}],
    }


def test_delivery_options_are_not_sent_to_the_browser(http: PlatformHTTP) -> None:
    [outbound] = make_channel(http).render(
        messages({"type": "text", "text": "x", "options": {"tag": "HUMAN_AGENT", "quote": True}}),
        render_ctx(),
    )
    assert outbound.body["message"] == {"type": "text", "text": "x"}


def test_message_ids_are_stable_for_one_render_and_unique_across_renders(http: PlatformHTTP) -> None:
    channel = make_channel(http)
    reply = messages({"type": "text", "text": "same"}, {"type": "text", "text": "same"})
    first = [o.body["id"] for o in channel.render(reply, render_ctx())]
    again = [o.body["id"] for o in channel.render(reply, render_ctx())]
    later = [o.body["id"] for o in channel.render(reply, render_ctx(now=1001.0))]
    other_user = [o.body["id"] for o in channel.render(reply, render_ctx(user_id="wc-other"))]
    assert first == again  # render is pure
    assert len({*first, *later, *other_user}) == 6


def test_long_text_is_truncated_with_a_note(http: PlatformHTTP) -> None:
    ctx = render_ctx()
    [outbound] = make_channel(http).render(messages({"type": "text", "text": "x" * 25_000}), ctx)
    assert len(outbound.body["message"]["text"]) == 20_000
    assert ctx.notes == ["text truncated to 20000 characters"]


def test_channel_specific_webchat_payload_that_is_a_universal_message_is_sent_as_one(
    http: PlatformHTTP,
) -> None:
    payload = {
        "type": "card",
        "title": "Only on the web",
        "buttons": [{"type": "reply", "title": "Ok", "payload": "OK"}],
    }
    message = {"type": "channel", "payloads": {"webchat": payload, "messenger": {"text": "elsewhere"}}}
    [outbound] = make_channel(http).render(messages(message), render_ctx())
    assert outbound.body["message"] == payload


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        ({"text": "plain words"}, "plain words"),
        ({"html": "<b>x</b>"}, '{"html":"<b>x</b>"}'),
        ({"type": "channel", "payloads": {}}, '{"type":"channel","payloads":{}}'),
    ],
    ids=["text-field", "other-json", "nested-channel"],
)
def test_channel_specific_payload_that_is_not_universal_is_shown_as_text(
    http: PlatformHTTP, payload: dict[str, Any], shown: str
) -> None:
    ctx = render_ctx()
    [outbound] = make_channel(http).render(
        messages({"type": "channel", "payloads": {"webchat": payload}}), ctx
    )
    assert outbound.body["message"] == {"type": "text", "text": shown}
    assert "not a universal message" in ctx.notes[0]


def test_channel_specific_without_webchat_entry_uses_the_fallback_or_is_skipped(
    http: PlatformHTTP,
) -> None:
    channel = make_channel(http)
    with_fallback = {
        "type": "channel",
        "payloads": {"wechat": {}},
        "fallback": {"type": "text", "text": "fb"},
    }
    [outbound] = channel.render(messages(with_fallback), render_ctx())
    assert outbound.body["message"] == {"type": "text", "text": "fb"}
    ctx = render_ctx()
    assert channel.render(messages({"type": "channel", "payloads": {"wechat": {}}}), ctx) == []
    assert "skipped" in ctx.notes[0]


def test_rendering_goes_through_the_renderer_base_and_keeps_quick_replies_in_the_message() -> None:
    assert issubclass(WebChatRenderer, Renderer)
    quick = [
        {"type": "reply", "title": "Yes", "payload": "Y"},
        {"type": "url", "title": "Site", "url": "https://x"},
    ]
    ctx = render_ctx()
    fallback = {
        "type": "channel",
        "payloads": {"wechat": {}},
        "fallback": {"type": "text", "text": "fb", "quick_replies": quick},
    }
    bodies = WebChatRenderer(ctx).render_all(
        messages({"type": "text", "text": "hi", "quick_replies": quick}, fallback)
    )
    assert bodies == [
        {"type": "text", "text": "hi", "quick_replies": quick},
        {"type": "text", "text": "fb", "quick_replies": quick},
    ]
    assert ctx.notes == []  # nothing degraded: the browser shows every type


def test_parse_takes_what_authenticate_verified() -> None:
    verified = inspect.signature(WebChatChannel.parse).parameters["verified"]
    assert verified.default is inspect.Parameter.empty


# --- send ---------------------------------------------------------------------------------------------


async def test_send_to_a_user_who_is_not_connected_asks_for_a_later_retry(http: PlatformHTTP) -> None:
    channel = make_channel(http)
    [outbound] = channel.render(messages({"type": "text", "text": "hi"}), render_ctx())
    with pytest.raises(Unavailable, match="not connected") as info:
        await channel.send(outbound)
    assert info.value.retryable and info.value.retry_after == OFFLINE_RETRY_AFTER


async def test_send_of_a_foreign_payload_is_rejected(http: PlatformHTTP) -> None:
    with pytest.raises(Rejected, match="not a web chat payload"):
        await make_channel(http).send(Outbound(body={"recipient": {"id": "x"}}))
