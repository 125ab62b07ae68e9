"""Calls to Google's agent APIs (Business Messages, RCS for Business) through the toolkit's PlatformAPI:
the bearer token from the shared service-account token, Google's errors classified by ``errors``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from channelgate.channels.base import ChannelContext, InvalidCredentials
from channelgate.channels.google.errors import google_check
from channelgate.channels.google.token import ServiceAccountToken
from channelgate.channels.http import Response
from channelgate.channels.platform_api import PlatformAPI


class GoogleAPI:
    """POSTs to one Google agent API with the integration's shared bearer token."""

    def __init__(
        self,
        ctx: ChannelContext,
        tokens: ServiceAccountToken,
        product: str,
        *,
        secrets: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self.tokens = tokens
        self.check = google_check(product)
        self.platform = PlatformAPI(
            ctx.http,
            ctx.health,
            product=product,
            secrets=lambda: [*secrets(), *tokens.secrets()],
            credentials_hint=(
                "Check that the service account in the integration's service_account has access to the agent."
            ),
        )

    async def post(self, url: str, *, json: Any, params: Mapping[str, str] | None = None) -> Response:
        """One call. A refused token is forgotten (here and in the store), so the retry mints a new one."""
        token = await self.tokens.get()
        try:
            return await self.platform.request(
                "POST",
                url,
                check=self.check,
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
        except InvalidCredentials:
            await self.tokens.forget(token)
            raise
