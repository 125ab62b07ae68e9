"""Credentials of the reference vectors and factories for channels in each mode."""

from __future__ import annotations

from typing import Any

from channelgate.channels.base import ChannelContext, WebhookRequest
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.wechat import WeChatChannel, WeChatConfig
from channelgate.testing.memory import MemoryKeyValue, MemoryReplayCache
from channelgate.testing.wechat import WeChatSimulator

# the reference notes, §0.3 and §0.4
TOKEN = "testtoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx1234567890abcdef"
APP_SECRET = "vector-app-secret-0001"
TIMESTAMP = "1700000000"
NONCE = "123456789"
VECTOR_XML = (
    "<xml><ToUserName><![CDATA[gh_abcdef123456]]></ToUserName><FromUserName><![CDATA[oUser123]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content>"
    "<MsgId>1234567890123456</MsgId></xml>"
)
VECTOR_ENCRYPT = (
    "Q3stYC6hdFzMh9T8HCvyDIcCirSsborFsaJyH8LBouF6Q9g5NQdasNIRIQo2An4uCTbsY8Yy68Z6n81uku14dwB8yCum5ObP4lkzbbz2MH69"
    "/86LVFYBoZPcnEAa53ytWspz7knkoc5umjJOky6w+/WVoiKPnCoWgTZsvLDlXHuHKg3UqlBj4u3AuefUPZ476rpb9MpaInzlmByVVFC1jg0D"
    "Gg0p42lA/BL20H4TMiDY7vjR6WcPQTk/VOYJYvVfHJ5k3W2A8jNjW0Rmb4PwEtSx0biEW5GpdoIjxfxoI7v+wwE1NfHtP7RP5ukCEPPROfDl"
    "D1sheMFRHqp0IbEyw77Yfgam5S/Cb4FkXs0cAcgGfxYWgb+VG2ysV9YnztLK"
)
VECTOR_MSG_SIGNATURE = "dd48888ad4068d3e039ab12086137320f35328ca"
VECTOR_SIGNATURE = "563e9d580a3858c0b4412b1cefa4879256828d46"

#: for channels that only render and parse: never used for a request
_IDLE_CLIENT = PlatformHTTP()


def make_config(mode: str = "safe", **overrides: Any) -> WeChatConfig:
    fields: dict[str, Any] = {"app_id": APP_ID, "app_secret": APP_SECRET, "token": TOKEN}
    if mode != "plaintext":
        fields["encoding_aes_key"] = AES_KEY
    fields["encryption_mode"] = mode
    fields.update(overrides)
    return WeChatConfig.model_validate(fields)


def make_context(http: PlatformHTTP | None = None, kv: MemoryKeyValue | None = None) -> ChannelContext:
    return ChannelContext(
        channel="wechat",
        label="shop",
        locale="zh-CN",
        public_url="https://gw.example.com",
        http=http or _IDLE_CLIENT,
        kv=kv or MemoryKeyValue(),
        replay=MemoryReplayCache(),
    )


def make_channel(
    mode: str = "safe",
    *,
    http: PlatformHTTP | None = None,
    kv: MemoryKeyValue | None = None,
    clock: float | None = None,
    **overrides: Any,
) -> WeChatChannel:
    channel = WeChatChannel(make_config(mode, **overrides), make_context(http, kv))
    if clock is not None:
        channel.clock = lambda: clock
    return channel


def webhook(method: str, query: dict[str, str], body: str | bytes = b"") -> WebhookRequest:
    data = body.encode() if isinstance(body, str) else body
    return WebhookRequest(method=method, headers={"content-type": "text/xml"}, query=query, body=data)


def gateway_config(
    api_url: str, mode: str, *, store: str | None = None, budget: float = 3.0
) -> dict[str, Any]:
    """A gateway config with one WeChat integration (wechat/shop) in ``mode``, pointed at a simulator."""
    integration: dict[str, Any] = {
        "channel": "wechat",
        "label": "shop",
        "locale": "zh-CN",
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "token": TOKEN,
        "encryption_mode": mode,
        "api_base_url": api_url,
        "passive_reply_budget": budget,
    }
    if mode != "plaintext":
        integration["encoding_aes_key"] = AES_KEY
    config: dict[str, Any] = {
        "pipeline": {"poll_interval": 0.05, "max_backoff": 0.2},
        "integrations": [integration],
    }
    if store is not None:
        config["store"] = store
    return config


def simulator(callback_timeout: float) -> WeChatSimulator:
    """The WeChat simulator for the account of these helpers' config, calling the gateway back with
    ``callback_timeout`` (WeChat's own is 5 s; tests wait less, or more where a turn runs first)."""
    return WeChatSimulator(
        app_id=APP_ID,
        app_secret=APP_SECRET,
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        account="gh_abcdef123456",
        grace_period=0,
        callback_timeout=callback_timeout,
    )
