"""An Instagram integration's settings.

Instagram's messaging API is reached two ways (Meta's Instagram webhooks setup guide): with *Instagram
Login*, an Instagram User token on ``graph.instagram.com``, or with *Facebook Login*, the linked Page's token
on ``graph.facebook.com``. Both take the same Send API bodies; the default is Instagram Login's host, and
``api_base_url`` may name either (or the simulator)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr

from channelgate.channels.base import BaseUrl, ChannelConfig
from channelgate.channels.meta.config import GRAPH_HOSTS, meta_insecure_settings

DEFAULT_API_BASE_URL = "https://graph.instagram.com/v25.0"
#: Where Graph calls may go when the admin API sets ``api_base_url``: Instagram Login's host, and Facebook
#: Login's (a Page token).
INSTAGRAM_HOSTS = ("graph.instagram.com", *GRAPH_HOSTS)


class InstagramConfig(ChannelConfig):
    """``verify_token``: any secret you choose, pasted into the app's Instagram webhook settings too.
    ``app_secret``: App settings → Basic → App secret (Instagram Login apps: Instagram → API setup →
    Instagram app secret); it checks every webhook's ``X-Hub-Signature-256``.
    ``access_token``: the Instagram User token (Instagram → API setup with Instagram login → Generate
    token), or the linked Page's token with Facebook Login.
    ``instagram_account_id``: the Instagram professional account's id (``GET /me?fields=user_id``); sends go
    to ``/{instagram_account_id}/messages`` and events for another account of the same app are skipped.
    ``api_base_url``: ``https://graph.instagram.com/v25.0`` (Instagram Login) or
    ``https://graph.facebook.com/v25.0`` (Facebook Login). ``rate_limit``: send calls per second (default
    300, Meta's Send API limit for Instagram)."""

    verify_token: SecretStr
    app_secret: SecretStr
    access_token: SecretStr
    instagram_account_id: str = Field(pattern=r"^[0-9]{1,64}$")
    api_base_url: BaseUrl = DEFAULT_API_BASE_URL
    #: for local trials only: an empty app_secret is then accepted, and signatures are not checked
    insecure_no_signature: bool = False

    endpoint_hosts: ClassVar[Mapping[str, tuple[str, ...]]] = {"api_base_url": INSTAGRAM_HOSTS}

    def insecure_settings(self) -> dict[str, str]:
        return meta_insecure_settings(self)

    @property
    def graph_node(self) -> str:
        """The node sends and subscriptions go to: the account itself on Instagram Login's host; ``me``
        (the Page the token belongs to) with Facebook Login, whose Send API and subscriptions are the
        Page's, not the Instagram account's."""
        host = urlsplit(self.api_base_url).hostname or ""
        return "me" if host in GRAPH_HOSTS else self.instagram_account_id
