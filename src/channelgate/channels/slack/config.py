"""The Slack integration's settings: the app's signing secret (checks every request Slack sends), the bot
token (``xoxb-…``, sends the replies), where the Web API is (``api_base_url``, pointed at the simulator in
tests) and whether replies go into a thread under the message they answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from channelgate.channels.base import BaseUrl, ChannelConfig

DEFAULT_API_BASE_URL = "https://slack.com/api"
#: Where Web API calls may go when the admin API sets ``api_base_url`` (see ChannelConfig.endpoint_hosts).
SLACK_HOSTS = ("slack.com",)
#: Bot tokens (``xoxb-``), also when token rotation is on (``xoxe.xoxb-``).
BOT_TOKEN_PREFIXES = ("xoxb-", "xoxe.xoxb-")


class SlackConfig(ChannelConfig):
    """``signing_secret``: api.slack.com/apps → your app → Basic Information → App Credentials → Signing
    Secret. ``bot_token``: OAuth & Permissions → Bot User OAuth Token (``xoxb-…``), after installing the
    app to the workspace. ``api_base_url``: the Web API (default ``https://slack.com/api``; the simulator
    in tests). ``reply_in_thread``: answer in a thread under the user's message instead of in the
    conversation (a message written inside a thread is always answered in that thread).
    ``rate_limit``: send calls per second for this workspace (default 100 a minute, Slack's Tier 4)."""

    signing_secret: SecretStr
    bot_token: SecretStr
    api_base_url: BaseUrl = DEFAULT_API_BASE_URL
    reply_in_thread: bool = Field(
        default=False, description="Answer in a thread under the message being answered."
    )

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_base_url": SLACK_HOSTS}

    @field_validator("signing_secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value().strip()
        if not secret or any(c.isspace() for c in secret):
            raise ValueError("expected the app's Signing Secret (Basic Information → App Credentials)")
        return SecretStr(secret)

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value().strip()
        if not token.startswith(BOT_TOKEN_PREFIXES) or any(c.isspace() for c in token):
            raise ValueError(
                "expected the Bot User OAuth Token (OAuth & Permissions), which starts with xoxb-; a user "
                "token (xoxp-) or an app-level token (xapp-) cannot post as the bot"
            )
        return SecretStr(token)
