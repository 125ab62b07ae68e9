"""An Official Account's settings, as its console's Basic Configuration (基本配置) shows them, and the
checks that keep a forgotten field from silently turning authentication off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from channelgate.channels.base import BaseUrl, ChannelConfig
from channelgate.channels.wechat.crypto import aes_key

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
#: WeChat's API host and the alternates it documents (general, Shanghai, Shenzhen, Hong Kong).
WECHAT_HOSTS = (
    "api.weixin.qq.com",
    "api2.weixin.qq.com",
    "sh.api.weixin.qq.com",
    "sz.api.weixin.qq.com",
    "hk.api.weixin.qq.com",
)

Mode = Literal["plaintext", "compatible", "safe"]


class WeChatConfig(ChannelConfig):
    """An Official Account: what its console's Basic Configuration (基本配置) shows."""

    app_id: str = Field(min_length=1, description="AppID (开发者ID), e.g. wx1234567890abcdef")
    app_secret: SecretStr = Field(description="AppSecret (开发者密码)")
    token: SecretStr = Field(
        description="Token (令牌) you enter in the Server configuration: 3-32 letters/digits"
    )
    encoding_aes_key: SecretStr | None = Field(
        default=None,
        description="EncodingAESKey (消息加解密密钥): 43 characters, needed in safe and compatible mode",
    )
    encryption_mode: Mode = Field(
        default="safe",
        description=(
            "Message encryption mode as set in the console. Plaintext mode authenticates no message body, "
            "so it must be chosen explicitly"
        ),
    )
    api_base_url: BaseUrl = DEFAULT_API_BASE_URL
    max_clock_skew: float = Field(default=300.0, gt=0, description="Refuse callbacks older/newer than this")
    passive_reply_budget: float = Field(
        default=4.0,
        ge=0,
        lt=5,
        description="Seconds to wait for the bot's reply in the HTTP answer (WeChat: 5)",
    )
    original_id: str | None = Field(
        default=None,
        pattern=r"^gh_[0-9A-Za-z_-]{1,64}$",
        description="The account's original id (原始ID, gh_...: Settings → Account info); when set, a "
        "callback addressed to another account (ToUserName) is refused with 403",
    )

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_base_url": WECHAT_HOSTS}

    @classmethod
    def asked_fields(cls, values: Mapping[str, Any]) -> list[str]:
        """``channels add wechat`` asks for the EncodingAESKey too: safe mode, the default, needs it."""
        if values.get("encryption_mode") == "plaintext":
            return cls.required_fields()
        return [*cls.required_fields(), "encoding_aes_key"]

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not (3 <= len(token) <= 32 and token.isascii() and token.isalnum()):
            raise ValueError("the WeChat Token is 3-32 English letters or digits")
        return value

    @field_validator("encoding_aes_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            aes_key(value.get_secret_value())  # ValueError says what is wrong, never the key
        return value

    def insecure_settings(self) -> dict[str, str]:
        if self.encryption_mode != "plaintext":
            return {}
        return {
            "encryption_mode": "plaintext: callbacks are neither encrypted nor signed over their body, so "
            "one captured callback URL lets anyone post any message as any user within max_clock_skew"
        }

    @model_validator(mode="after")
    def _mode_needs_key(self) -> WeChatConfig:
        """No key means no authenticated bodies: that must be a choice written in the config, never the
        fallback of a forgotten field (docs/channels/wechat.md, "Encryption modes")."""
        if self.encryption_mode != "plaintext" and self.encoding_aes_key is None:
            raise ValueError(
                f"encoding_aes_key is required when encryption_mode is {self.encryption_mode!r}"
                f"{' (the default)' if self.encryption_mode == 'safe' else ''}: copy the EncodingAESKey "
                "from the console's Server configuration (服务器配置). Only if the account really runs in "
                "plaintext mode, set encryption_mode: plaintext (message bodies are then not authenticated)"
            )
        return self
