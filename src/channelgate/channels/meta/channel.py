"""The inbound half Messenger and WhatsApp share: the hub handshake, the signature over the raw body, and
the webhook envelope (``object`` and ``entry``)."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar, cast

from pydantic import SecretStr

from channelgate.channels.base import (
    BadRequest,
    Channel,
    ChannelConfig,
    ChannelContext,
    Verified,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.inbound import load_json
from channelgate.channels.meta.config import MetaSettings, check_meta_config
from channelgate.channels.meta.graph import GRAPH_ERRORS, GraphAPI
from channelgate.channels.meta.webhook import check_signature, handshake
from channelgate.channels.platform_api import ErrorTable

MetaConfigT = TypeVar("MetaConfigT", bound=ChannelConfig)


class MetaChannel(Channel[MetaConfigT]):
    """Their Config models provide the :class:`MetaSettings` fields."""

    #: the payload's ``object`` for this product (``page``, ``whatsapp_business_account``)
    webhook_object: ClassVar[str]
    #: the product's name in errors and health, and the config field holding its access token
    product: ClassVar[str]
    token_field: ClassVar[str]
    #: Graph's error codes, and the product's own where it has some
    graph_errors: ClassVar[ErrorTable] = GRAPH_ERRORS

    def __init__(self, config: MetaConfigT, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.graph = GraphAPI(
            ctx.http,
            ctx.health,
            base_url=cast(MetaSettings, config).api_base_url,
            token=cast(SecretStr, getattr(config, self.token_field)),
            product=self.product,
            config_field=self.token_field,
            errors=self.graph_errors,
        )

    @classmethod
    def check_config(cls, config: MetaConfigT) -> list[str]:
        return check_meta_config(cast(MetaSettings, config), cls.title)

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        return handshake(request, cast(MetaSettings, self.config).verify_token)

    def authenticate(self, request: WebhookRequest) -> Verified:
        """The signature covers the raw body as it is: nothing to decode yet, so ``content`` stays None."""
        check_signature(request, cast(MetaSettings, self.config))
        return Verified(request.body)

    def webhook_entries(self, verified: Verified) -> list[Any]:
        """The verified body's entries, decoded once. Another product's webhook on the same app (e.g.
        Instagram) gives none: it is acknowledged and ignored, so Meta does not retry it for days."""
        data = load_json(verified.body)
        if not isinstance(data, dict):
            raise BadRequest("expected a JSON object")
        if data.get("object") != self.webhook_object:
            self.ctx.log.info(
                "%s %s: ignored a webhook for object %r", self.name, self.ctx.label, data.get("object")
            )
            return []
        entries = data.get("entry")
        if not isinstance(entries, list):
            raise BadRequest("'entry' must be a list")
        return entries
