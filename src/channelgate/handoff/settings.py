"""The hand-off's settings: the gateway-wide ``handoff:`` section, and the ``handoff:`` key an integration
may carry beside its channel's settings (``handoff: {chatwoot: {url, account_id, inbox_id,
api_access_token}}``).

Only pydantic here: config.py imports it, and nothing of the gateway may be imported back.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

#: what a user types to ask for a person, by language; the whole message, any case, trailing punctuation
#: ignored. Each language's list is matched whatever the conversation's language.
DEFAULT_TRIGGERS: dict[str, list[str]] = {
    "en": ["human", "agent", "operator", "a person", "talk to a person", "talk to a human", "real person"],
    "zh": ["人工", "人工客服", "转人工", "轉人工", "客服", "真人"],
}
#: what the user is told when their request for a person is taken, by language ("" says nothing)
DEFAULT_CONFIRMATIONS: dict[str, str] = {
    "en": "A person will answer you here shortly.",
    "zh": "已为您转接人工客服，请稍候。",  # noqa: RUF001
}


def fold_phrase(text: str) -> str:
    """A phrase as triggers compare it: NFKC, case-folded, inner spaces collapsed, trailing punctuation
    and spaces dropped ("Human!" and full-width "HUMAN" are "human")."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return folded.rstrip(" .!?。！？…,，")  # noqa: RUF001


#: Messenger's Page inbox app (Meta's Handover Protocol docs): passing thread control to it lets the Page's
#: people answer in Meta Business Suite's inbox
PAGE_INBOX_APP_ID = "263902037430900"


class HandoffSettings(BaseModel):
    """The gateway-wide ``handoff:`` section (docs/handoff.md)."""

    model_config = ConfigDict(extra="forbid")

    idle_timeout: float = Field(
        default=86400.0,
        gt=0,
        description="seconds without a message from the user or an agent after which a conversation an "
        "agent holds goes back to the bot (reason idle)",
    )
    triggers: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_TRIGGERS.items()},
        description="by language: whole messages that ask for a person, on integrations with a handoff: "
        "key; an empty mapping turns asking off (the bot and operators can still hand off)",
    )
    confirmations: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_CONFIRMATIONS),
        description="by language: what the user is told when their request is taken ('' for nothing)",
    )
    transcript_messages: int = Field(
        default=20,
        ge=0,
        le=200,
        description="recent messages the desk gets when a conversation is handed off",
    )
    sweep_interval: float = Field(
        default=60.0, gt=0, description="seconds between two looks for idle hand-offs"
    )

    @field_validator("triggers")
    @classmethod
    def _triggers(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out = {}
        for language, phrases in value.items():
            folded = [fold_phrase(p) for p in phrases]
            if any(not p for p in folded):
                raise ValueError(f"{language}: a trigger cannot be empty")
            out[language] = list(dict.fromkeys(folded))
        return out

    def matches(self, text: str) -> bool:
        """Whether a user's whole message asks for a person."""
        folded = fold_phrase(text)
        return bool(folded) and any(folded in phrases for phrases in self.triggers.values())

    def confirmation(self, locale: str) -> str:
        """What the user is told, in their language when there is one for it, else in English."""
        language = locale.split("-")[0].lower()
        return self.confirmations.get(language, self.confirmations.get("en", ""))


class ChatwootSettings(BaseModel):
    """A Chatwoot inbox of the API channel type that agents answer from."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Chatwoot's base URL, e.g. https://app.chatwoot.com")
    account_id: int = Field(ge=1)
    inbox_id: int = Field(ge=1, description="the API-channel inbox")
    api_access_token: SecretStr = Field(description="an agent's or bot's access token (Profile settings)")
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="the inbox's webhook secret, when the Chatwoot version signs webhooks "
        "(X-Chatwoot-Signature): then unsigned callbacks are refused too",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def callback_secret(self, channel: str, label: str) -> str:
        """The unguessable part of our webhook URL: derived from the access token, so it needs no storage
        and changes when the token is replaced."""
        key = self.api_access_token.get_secret_value().encode()
        return hmac.new(key, f"channelgate-handoff:{channel}:{label}".encode(), hashlib.sha256).hexdigest()[
            :40
        ]

    def callback_url(self, public_url: str, channel: str, label: str) -> str:
        secret = self.callback_secret(channel, label)
        return f"{public_url.rstrip('/')}/handoff/chatwoot/{channel}/{label}/{secret}"


class IntegrationHandoff(BaseModel):
    """An integration's ``handoff:`` key: present (even empty) turns on users' requests for a person;
    ``chatwoot`` connects the integration to a Chatwoot inbox. Without a desk, agents answer through the
    admin API (and the console)."""

    model_config = ConfigDict(extra="forbid")

    chatwoot: ChatwootSettings | None = None
    user_request: bool = Field(default=True, description="users may ask for a person with a trigger phrase")
    messenger_inbox: bool = Field(
        default=False,
        description="Messenger only: hand conversations over with the handover protocol, passing thread "
        "control to the Page inbox (or to messenger_app_id) and taking it back",
    )
    messenger_app_id: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,64}$",
        description="Messenger only: the app that gets thread control on a hand-off (default: the Page "
        "inbox, " + PAGE_INBOX_APP_ID + "); setting it turns the handover protocol on",
    )

    wechat_customer_service: bool = Field(
        default=False,
        description="WeChat only: while an agent holds the conversation, answer the user's messages with "
        "the passive reply transfer_customer_service, so WeChat's customer-service tools take them",
    )

    def thread_target(self) -> str | None:
        """The app thread control is passed to on a hand-off; None: no handover protocol."""
        if self.messenger_app_id is not None:
            return self.messenger_app_id
        return PAGE_INBOX_APP_ID if self.messenger_inbox else None


__all__ = [
    "DEFAULT_CONFIRMATIONS",
    "DEFAULT_TRIGGERS",
    "PAGE_INBOX_APP_ID",
    "ChatwootSettings",
    "HandoffSettings",
    "IntegrationHandoff",
    "fold_phrase",
]
