"""The OAuth2 access token of a service account: the toolkit's SharedToken, minted by the JWT-bearer grant.

google-auth loads the key and signs the JWT assertion (RS256, ``kid`` = the key's ``private_key_id``); the
exchange at the key's ``token_uri`` runs on the gateway's pooled async client through PlatformAPI
(google-auth's own transports are synchronous). SharedToken keeps the token in the store's key-value
table, so replicas share one token and one refresh, under the store's lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from google.auth import jwt as google_jwt
from google.oauth2 import service_account
from pydantic import SecretStr

from channelgate.channels.base import ChannelContext, InvalidCredentials, SendError, Unavailable
from channelgate.channels.google.credentials import credentials_from, load_service_account
from channelgate.channels.google.errors import retry_after
from channelgate.channels.google.fields import as_dict, as_str
from channelgate.channels.http import Response
from channelgate.channels.platform_api import ErrorTable, PlatformAPI, json_or_none
from channelgate.channels.token import AccessToken, SharedToken

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600

#: The token endpoint's answers (RFC 6749 §5.2 error codes): any refusal but 429 means the key does not
#: work, which retrying will not change; 429 is a rate limit, 5xx an outage.
TOKEN_ERRORS = ErrorTable(
    {InvalidCredentials: {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"}},
    credential_statuses=frozenset(range(400, 500)) - {429},
)


class ServiceAccountToken:
    """Access tokens for one service account and scope, shared by every replica through the store."""

    def __init__(
        self,
        ctx: ChannelContext,
        service_account_value: SecretStr,
        scope: str,
        *,
        product: str,
        config_field: str = "service_account",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ctx = ctx
        self.scope = scope
        self.product = product
        self.config_field = config_field
        self.clock = clock
        self._value = service_account_value
        self._credentials: service_account.Credentials | None = None
        self._token_uri = ""
        self._shared: SharedToken | None = None
        self._assertion = ""
        self._last = ""
        self._endpoint = PlatformAPI(
            ctx.http,
            ctx.health,
            product=f"{product} OAuth",
            secrets=lambda: [self._assertion],
            credentials_hint=f"Check the integration's {config_field}.",
        )

    @property
    def key(self) -> str:
        """Where the token is shared in the store: one per service account and scope."""
        return f"google-oauth-token:{self._load().service_account_email}:{self.scope}"

    async def get(self) -> str:
        """A valid access token (see SharedToken.get)."""
        self._last = await self._shared_token().get()
        return self._last

    async def forget(self, token: str) -> None:
        """Drop a token the API refused, here and in the store (unless a newer one is there)."""
        await self._shared_token().forget(token)

    def secrets(self) -> list[str]:
        """What must never reach a log: the last token handed out."""
        return [self._last] if self._last else []

    def assertion(self) -> str:
        """The signed JWT for the jwt-bearer grant."""
        credentials = self._load()
        now = int(time.time())  # wall time for the server; ``clock`` only drives cache freshness
        payload = {
            "iss": credentials.service_account_email,
            "scope": self.scope,
            "aud": self._token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        signed: bytes = google_jwt.encode(credentials.signer, payload)  # type: ignore[no-untyped-call]
        return signed.decode()

    async def mint(self) -> AccessToken:
        """One exchange of a fresh assertion for an access token (SharedToken calls it under the lock)."""
        self._assertion = self.assertion()
        started = self.clock()
        response = await self._endpoint.request(
            "POST",
            self._token_uri,
            check=self._check,
            data={"grant_type": JWT_BEARER_GRANT, "assertion": self._assertion},
            headers={"Accept": "application/json"},
        )
        return self._parse(json_or_none(response), started)

    def _shared_token(self) -> SharedToken:
        if self._shared is None:
            self._shared = SharedToken(self.ctx.kv, self.key, self.mint, clock=self.clock)
        return self._shared

    def _load(self) -> service_account.Credentials:
        if self._credentials is None:
            try:
                info = load_service_account(self._value)
                self._credentials = credentials_from(info)
            except ValueError as exc:
                self.ctx.health.fail(f"{self.product}: {exc}. Check the integration's {self.config_field}.")
                raise InvalidCredentials(str(exc)) from None
            self._token_uri = str(info["token_uri"])
        return self._credentials

    def _check(self, response: Response) -> SendError | None:
        if response.is_success:
            return None
        body = as_dict(json_or_none(response))
        error = as_str(body.get("error"))
        reason = f"{self.product}: token endpoint answered HTTP {response.status_code}"
        if error is not None:  # RFC 6749 error and error_description, bounded for logs and health
            description = as_str(body.get("error_description"))
            reason += f": {error}: {description}"[:200] if description else f": {error}"[:200]
        return TOKEN_ERRORS.error(
            reason,
            codes=[error],
            status=response.status_code,
            code=response.status_code,
            retry_after=retry_after(response),
        )

    def _parse(self, body: Any, started: float) -> AccessToken:
        token = body.get("access_token") if isinstance(body, dict) else None
        lifetime = body.get("expires_in", 3600) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise Unavailable(f"{self.product}: token endpoint answered without access_token/expires_in")
        return AccessToken.minted(token, float(lifetime), started)
