"""WhatsApp's Cloud API calls, through the Graph API client (:mod:`channels.meta.graph`): sending a message
(``POST {api_base_url}/{phone_number_id}/messages``) and downloading the media a user sent."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from channelgate.channels.base import MediaContent, Outbound, Rejected, SendResult
from channelgate.channels.meta.graph import GraphAPI

_MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
#: Where the Cloud API's media download URLs point (``lookaside.fbsbx.com`` today).
_MEDIA_HOSTS = ("fbsbx.com", "facebook.com", "fbcdn.net", "whatsapp.net")


class WhatsAppAPI:
    """The calls one phone number makes."""

    def __init__(self, graph: GraphAPI, phone_number_id: str) -> None:
        self.graph = graph
        self.phone_number_id = phone_number_id

    async def send(self, outbound: Outbound) -> SendResult:
        data = await self.graph.call("POST", f"/{self.phone_number_id}/messages", json=outbound.body)
        messages = data.get("messages") if isinstance(data, dict) else None
        if (
            isinstance(messages, list)
            and messages
            and isinstance(messages[0], dict)
            and messages[0].get("id")
        ):
            return SendResult(str(messages[0]["id"]))
        return SendResult(None)

    async def download_media(self, media_id: str) -> MediaContent:
        """``GET /{media_id}`` for a short-lived URL, then download it with the access token (which therefore
        only goes to Meta's own hosts over HTTPS, or to the configured API host). Raises a SendError subclass
        when Graph refuses, or Rejected for an id or URL that cannot be one of Meta's."""
        if not _MEDIA_ID.fullmatch(media_id):
            raise Rejected(f"{media_id!r} is not a WhatsApp media id")
        info = await self.graph.call("GET", f"/{media_id}")
        url = info.get("url") if isinstance(info, dict) else None
        if not isinstance(url, str) or not self.trusted_media_url(url):
            raise Rejected(f"Graph API gave no usable download URL for media {media_id}")
        response = await self.graph.request("GET", url)
        mime = (info.get("mime_type") if isinstance(info, dict) else None) or response.headers.get(
            "content-type"
        )
        return MediaContent(content=response.content, mime_type=str(mime or "application/octet-stream"))

    def trusted_media_url(self, url: str) -> bool:
        """Whether the access token may follow ``url``: Meta's media hosts over HTTPS, or the API's own
        origin (a simulator or proxy configured as ``api_base_url``)."""
        parts, api = urlsplit(url), urlsplit(self.graph.base_url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and any(host == d or host.endswith("." + d) for d in _MEDIA_HOSTS):
            return True
        return (parts.scheme, parts.netloc) == (api.scheme, api.netloc)
