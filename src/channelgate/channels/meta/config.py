"""The settings every Meta channel has, and how they are checked.

Each channel declares its own ``Config`` (pydantic lists inherited fields first, and each channel shows its
settings in its own order), so what is shared here is the :class:`MetaSettings` shape and the checks on it:
an integration that cannot authenticate its webhooks is refused unless it says it runs insecure.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr

DEFAULT_API_BASE_URL = "https://graph.facebook.com/v25.0"

#: Where Graph API calls may go when the admin API sets ``api_base_url`` (see ChannelConfig.endpoint_hosts).
GRAPH_HOSTS = ("graph.facebook.com",)


class MetaSettings(Protocol):
    """The config fields every Meta channel has (see each channel's ``Config``)."""

    @property
    def verify_token(self) -> SecretStr: ...

    @property
    def app_secret(self) -> SecretStr | None: ...

    @property
    def insecure_no_signature(self) -> bool: ...

    @property
    def api_base_url(self) -> str: ...


def check_meta_config(config: MetaSettings, title: str) -> list[str]:
    """Refuse an integration that cannot authenticate its webhooks, unless explicitly told to run insecure.

    Fails closed: without ``app_secret`` anybody who knows the callback URL could post fake user messages.
    """
    if config.app_secret is None or not config.app_secret.get_secret_value():
        if not config.insecure_no_signature:
            raise ValueError(
                f"{title}: app_secret is required to verify X-Hub-Signature-256 on every webhook "
                "(App Dashboard → App settings → Basic → App secret); set insecure_no_signature: true "
                "only for local trials"
            )
        return [
            f"{title}: webhook signatures are NOT checked (insecure_no_signature: true and no app_secret); "
            "anyone who knows the callback URL can post messages as any user"
        ]
    return []


def meta_insecure_settings(config: MetaSettings) -> dict[str, str]:
    """``insecure_no_signature`` when on, for the admin API's refusal and the health shown in /readyz."""
    if not config.insecure_no_signature:
        return {}
    return {
        "insecure_no_signature": "webhook signatures are not required: without app_secret anyone who knows "
        "the callback URL can post messages as any user"
    }
