"""Instagram's Send API, subscriptions and user profiles, through the Graph API client
(:mod:`channels.meta.graph`) with Instagram's error codes.

* Sends: ``POST {api_base_url}/{instagram_account_id}/messages`` with the token in the ``Authorization``
  header (never in the URL, where Meta's samples put it); answered ``{"recipient_id", "message_id"}``.
* Setup step 3: ``POST /{instagram_account_id}/subscribed_apps?subscribed_fields=…`` enables the account's
  webhooks for this app, ``GET`` on the same edge reads back what is subscribed.
* With Facebook Login (``graph.facebook.com``, a Page token) both go to ``/me`` instead, the Page
  (:attr:`InstagramConfig.graph_node`).

Errors (:data:`INSTAGRAM_ERRORS`: Graph's table, :data:`channels.meta.graph.GRAPH_ERRORS`, plus what
Meta documents for Instagram; reference ``channel-protocols-2.md`` §2.5):

==========================  ===================================================================
1, 2                        Unavailable: "wait and retry" (2 may also mean the user blocked the
                            business; it stops after the delivery worker's tries)
4, 17, 32, 341, 613, …      Throttled, after ``Retry-After`` / ``X-Business-Use-Case-Usage``
10/2534022, 10/2018278      WindowClosed: sent outside the 24-hour window
190                         InvalidCredentials: the integration turns red until the token is
                            replaced
10, 200-299                 Rejected: a permission the app lacks (App Review, Advanced Access)
368, 551                    Rejected: blocked for policy, or the person is not available
other 4xx / 5xx             Rejected / Unavailable, by HTTP status
==========================  ===================================================================

Graph has no idempotency key: a send whose answer was lost (a 5xx after Meta delivered it) may arrive twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from channelgate.channels.base import (
    InvalidCredentials,
    Outbound,
    Rejected,
    SendResult,
    Throttled,
    Unavailable,
    UserProfile,
    WindowClosed,
)
from channelgate.channels.meta.graph import (
    INVALID_TOKEN_CODE,
    MESSENGER_WINDOW,
    THROTTLING_CODES,
    TRANSIENT_CODES,
    GraphAPI,
)
from channelgate.channels.meta.subscriptions import subscribe_app
from channelgate.channels.platform_api import ErrorTable

#: Instagram's "sent outside of allowed window" (code 10, subcode 2534022).
INSTAGRAM_WINDOW = (10, 2534022)
PERMISSION_CODES = frozenset({10, *range(200, 300)})

INSTAGRAM_ERRORS = ErrorTable(
    {
        Throttled: THROTTLING_CODES | {341},
        WindowClosed: {INSTAGRAM_WINDOW, MESSENGER_WINDOW},
        InvalidCredentials: {INVALID_TOKEN_CODE},
        Unavailable: TRANSIENT_CODES | {1},
        Rejected: PERMISSION_CODES | {368, 551},
    }
)

#: The webhook fields ``connect`` subscribes the account to (Meta's Instagram webhook field names).
SUBSCRIBED_FIELDS = ("messages", "messaging_postbacks", "message_reactions", "messaging_seen")

_GRAPH_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class InstagramAPI:
    """The calls one Instagram professional account makes."""

    def __init__(self, graph: GraphAPI, node: str, log: logging.Logger, label: str) -> None:
        self.graph = graph
        self.node = node
        self.log = log
        self.label = label

    async def send(self, outbound: Outbound) -> SendResult:
        data = await self.graph.call("POST", f"/{self.node}/messages", json=outbound.body)
        message_id = data.get("message_id") if isinstance(data, dict) else None
        return SendResult(str(message_id) if message_id else None)

    async def subscribe(self, fields: Iterable[str] = SUBSCRIBED_FIELDS) -> list[str]:
        """Enable the account's webhooks for this app, then answer the fields Meta reports subscribed."""
        return await subscribe_app(self.graph, self.node, list(fields))

    async def user_profile(self, user_id: str) -> UserProfile | None:
        """The user's name (else username) from the Instagram User Profile API; None when refused (the user
        has not messaged the account, or the app lacks the permission)."""
        if not _GRAPH_ID.fullmatch(user_id):
            return None
        try:
            data = await self.graph.call("GET", f"/{user_id}", params={"fields": "name,username"})
        except Rejected as exc:
            self.log.info("instagram %s: profile of %s not available: %s", self.label, user_id, exc.reason)
            return None
        if not isinstance(data, dict):
            return None
        name = data.get("name") or data.get("username")
        return UserProfile(name=str(name) if name else None)
