"""Messenger's Send and User Profile APIs, through the Graph API client (:mod:`channels.meta.graph`).

``POST {api_base_url}/me/messages`` with the Page access token in the ``Authorization`` header (not in
``?access_token=`` as Meta's samples do, so the token never appears in a URL or an access log).
"""

from __future__ import annotations

import logging
import re

from channelgate.channels.base import Outbound, Rejected, SendResult, UserProfile
from channelgate.channels.meta.graph import GraphAPI

_GRAPH_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class MessengerAPI:
    """The calls one Page makes. ``log`` and ``label`` name the integration in what it logs."""

    def __init__(self, graph: GraphAPI, log: logging.Logger, label: str) -> None:
        self.graph = graph
        self.log = log
        self.label = label

    async def send(self, outbound: Outbound) -> SendResult:
        data = await self.graph.call("POST", "/me/messages", json=outbound.body)
        message_id = data.get("message_id") if isinstance(data, dict) else None
        return SendResult(str(message_id) if message_id else None)

    async def pass_thread_control(self, page: str, psid: str, target_app_id: str, metadata: str) -> None:
        """The handover protocol: give the thread to another app (the Page inbox, 263902037430900), so a
        person answers there; our app gets the user's messages as ``standby`` until it comes back."""
        body = {"recipient": {"id": psid}, "target_app_id": target_app_id, "metadata": metadata[:1000]}
        await self.graph.call("POST", f"/{page}/pass_thread_control", json=body)

    async def take_thread_control(self, page: str, psid: str, metadata: str) -> None:
        """The handover protocol: take the thread back (our app must be the Page's primary receiver)."""
        body = {"recipient": {"id": psid}, "metadata": metadata[:1000]}
        await self.graph.call("POST", f"/{page}/take_thread_control", json=body)

    async def user_profile(self, user_id: str) -> UserProfile | None:
        """Name and locale from the User Profile API. ``locale`` needs the ``pages_user_locale`` permission,
        so on a refusal the name alone is asked for; a refusal of that too answers None."""
        if not _GRAPH_ID.fullmatch(user_id):
            return None
        for fields in ("first_name,last_name,locale", "first_name,last_name"):
            try:
                data = await self.graph.call("GET", f"/{user_id}", params={"fields": fields})
            except Rejected as exc:
                self.log.info(
                    "messenger %s: profile of %s not available: %s", self.label, user_id, exc.reason
                )
                continue
            if not isinstance(data, dict):
                return None
            name = " ".join(str(data[k]) for k in ("first_name", "last_name") if data.get(k)).strip()
            locale = data.get("locale")
            return UserProfile(name=name or None, locale=str(locale) if locale else None)
        return None
