"""WeChat's API, through the toolkit: :class:`PlatformAPI` for every call, WeChat's ``errcode`` values as
an :class:`ErrorTable`, and one access token shared by every replica (:class:`SharedToken`).

The access token: ``GET /cgi-bin/token``, cached in the store with its expiry and refreshed five minutes
early under a store lock, re-read after the lock is taken, so replicas never refresh twice (each refresh
invalidates the previous token). When WeChat refuses a token (40001, 40014, 42001) the call refreshes it,
unless another replica already has, and is tried once more. ``stable_token`` was not used: the lock already
gives one refresher, and the classic endpoint is the one every account can call. The token travels in the
query string, as WeChat requires; it is scrubbed from every reason (PlatformHTTP logs no request URLs).

Sending: bodies are customer-service API bodies (``render.py``); ``"_api": "template"`` sends to the
template API, and ``"_media"`` names an image URL that is downloaded and uploaded as temporary media first
(the media id is cached for less than the three days WeChat keeps it). Keys starting with ``_`` never
reach WeChat.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import orjson

from channelgate.channels.base import (
    Health,
    InvalidCredentials,
    KeyValue,
    MediaContent,
    Outbound,
    Rejected,
    SendError,
    SendResult,
    Throttled,
    Unavailable,
    WindowClosed,
)
from channelgate.channels.http import NetworkError, PlatformHTTP, Response, TooLarge
from channelgate.channels.platform_api import ErrorTable, PlatformAPI, parse_retry_after
from channelgate.channels.token import AccessToken, SharedToken
from channelgate.channels.wechat.config import WeChatConfig

TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 - a URL path, not a secret
CUSTOM_SEND_PATH = "/cgi-bin/message/custom/send"
TEMPLATE_SEND_PATH = "/cgi-bin/message/template/send"
MEDIA_UPLOAD_PATH = "/cgi-bin/media/upload"
MEDIA_GET_PATH = "/cgi-bin/media/get"

#: Temporary media lives three days on WeChat's side; forget our media id an hour before that.
MEDIA_TTL = 3 * 86400 - 3600
#: Images for customer-service messages: up to 10 MB (WeChat's temporary-media limit).
IMAGE_MAX_BYTES = 10 * 1024 * 1024
#: Media users send (videos): bounded so one message cannot exhaust memory.
MEDIA_DOWNLOAD_MAX_BYTES = 25 * 1024 * 1024

#: the token was refused: refresh it and try once more
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
#: why a window closed, in words (the transcript shows them instead of WeChat's errmsg)
WINDOW_REASONS = {
    45015: "the user has not messaged the account for 48 hours (WeChat 45015)",
    45047: "the customer-service message quota for this user is used up (WeChat 45047)",
}
ERRORS = ErrorTable(
    {
        Throttled: {45009, -1},
        WindowClosed: set(WINDOW_REASONS),
        InvalidCredentials: {40001, 40002, 40013, 40014, 40125, 40164, 41001, 41002, 41004, 42001, 48001},
    },
    credential_statuses=frozenset(),  # WeChat says so in errcode; an HTTP 401 is not ours to fix
)

_SECRET_PARAM = re.compile(r"((?:access_token|secret)=)[^&\s\"'#]+")


def redact(text: str) -> str:
    """``text`` with access tokens and app secrets in URLs replaced."""
    return _SECRET_PARAM.sub(r"\1[redacted]", text)


def credentials_hint(code: str | int | None) -> str:
    """What to fix for a refused credential, by WeChat's code."""
    if code == 40164:
        return "Add the gateway's egress IP to the account's IP allow-list."
    if code == 48001:
        return "The account is not authorised for this API."
    return "Check app_id and app_secret."


class _TokenRefused(Unavailable):
    """WeChat refused the access token on a first try: refresh it and try again (never leaves this module)."""


class _WeChatPlatform(PlatformAPI):
    """The toolkit's client, with WeChat's per-code hint in the integration's health."""

    def refused(self, error: SendError) -> None:
        self.health.fail(f"WeChat refused the credentials ({error.reason}). {credentials_hint(error.code)}")


def errcode(response: Response) -> tuple[int, str]:
    """WeChat's ``errcode``/``errmsg`` (0 for success). Binary answers (media downloads) are successes."""
    mime = response.headers.get("content-type", "")
    if not ("json" in mime or "text/plain" in mime or response.content[:1] == b"{"):
        return 0, ""
    result = answer_json(response)
    try:
        code = int(result.get("errcode", 0) or 0)
    except (TypeError, ValueError):
        code = -1
    return code, str(result.get("errmsg", ""))


def answer_json(response: Response) -> dict[str, Any]:
    """The JSON object WeChat answered, or Unavailable."""
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise Unavailable("WeChat API answered with something that is not JSON") from None
    if not isinstance(value, dict):
        raise Unavailable("WeChat API answered with JSON that is not an object")
    return value


def check(response: Response, *, token_retry: bool = False, minting: bool = False) -> SendError | None:
    """Classify one answer: HTTP errors by status, then WeChat's ``errcode`` by :data:`ERRORS`.

    ``token_retry``: a refused token is :class:`_TokenRefused` (refresh and retry) instead of an error.
    ``minting``: any refusal of the token request is a credentials problem (our AppID/AppSecret)."""
    status = response.status_code
    if status >= 400:
        return ERRORS.error(
            f"WeChat API answered HTTP {status}",
            status=status,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    try:
        code, message = errcode(response)
    except Unavailable as exc:
        return exc
    if code == 0:
        return None
    if token_retry and code in TOKEN_ERRORS:
        return _TokenRefused(f"WeChat refused the access token ({code})", code=code)
    reason = WINDOW_REASONS.get(code) or f"WeChat error {code}: {redact(message)}"
    error = ERRORS.error(reason, codes=[code], code=code)
    if minting and isinstance(error, Rejected):
        return InvalidCredentials(reason, code=code)
    return error


class WeChatAPI:
    """One Official Account's API calls, with its shared access token."""

    def __init__(
        self,
        config: WeChatConfig,
        *,
        http: PlatformHTTP,
        kv: KeyValue,
        health: Health,
        clock: Callable[[], float],
        log: logging.Logger,
        label: str,
    ) -> None:
        self.config = config
        self.http = http
        self.kv = kv
        self.clock = clock
        self.log = log
        self.label = label
        self._recent_tokens: deque[str] = deque(maxlen=4)
        self.platform = _WeChatPlatform(
            http,
            health,
            product="WeChat",
            secrets=lambda: [config.app_secret.get_secret_value(), *self._recent_tokens],
            credentials_hint=credentials_hint(None),
        )
        self.token = SharedToken(kv, f"wechat:{config.app_id}:token", self._mint, clock=lambda: self.clock())

    # --- sending ---

    async def send(self, outbound: Outbound) -> SendResult:
        body = copy.deepcopy(outbound.body)
        api = body.pop("_api", "custom")
        media = body.pop("_media", None)
        for key in [k for k in body if k.startswith("_")]:
            body.pop(key)
        if api not in ("custom", "template"):
            raise Rejected(f"unknown WeChat API {api!r} in the payload")
        if isinstance(media, dict):
            msgtype = str(body.get("msgtype") or media.get("type") or "image")
            media_id = await self._media_id(str(media["url"]), str(media.get("type") or "image"))
            content = body.setdefault(msgtype, {})
            content["media_id"] = media_id
        path = TEMPLATE_SEND_PATH if api == "template" else CUSTOM_SEND_PATH
        response = await self.call("POST", path, content=orjson.dumps(body))
        msgid = answer_json(response).get("msgid")
        return SendResult(platform_message_id=str(msgid) if msgid is not None else None)

    async def download_media(self, media_id: str) -> MediaContent:
        """Media a user sent (voice, video), fetched with our token, which the bot never sees. WeChat answers
        a video's id with JSON holding a ``video_url``, which is then fetched (it needs no token)."""
        response = await self.call("GET", MEDIA_GET_PATH, params={"media_id": media_id})
        mime = response.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
        if "json" in mime or response.content[:1] == b"{":
            video_url = answer_json(response).get("video_url")
            if not isinstance(video_url, str) or not video_url.startswith(("https://", "http://")):
                raise Rejected("WeChat answered the media request without content or a video_url")
            content, mime = await self._download(
                video_url, limit=MEDIA_DOWNLOAD_MAX_BYTES, default_mime="video/mp4"
            )
            return MediaContent(content=content, mime_type=mime)
        return MediaContent(content=response.content, mime_type=mime)

    # --- calls with the token ---

    async def call(
        self, method: str, path: str, *, params: dict[str, str] | None = None, **kwargs: Any
    ) -> Response:
        """Call the API with the shared token; on a refused token refresh it and try once more."""
        if kwargs.get("content") is not None:
            kwargs["headers"] = {"content-type": "application/json; charset=utf-8"}
        for attempt in range(2):
            token = await self.token.get()
            self._recent_tokens.append(token)
            try:
                return await self.platform.request(
                    method,
                    self.config.api_base_url + path,
                    check=partial(check, token_retry=attempt == 0),
                    params={"access_token": token, **(params or {})},
                    **kwargs,
                )
            except _TokenRefused as refused:
                self.log.info(
                    "wechat %s: token refused (%s); refreshing and retrying once", self.label, refused.code
                )
                await self.token.refused(token)
        raise AssertionError("unreachable: the second try never raises _TokenRefused")

    async def _mint(self) -> AccessToken:
        """GET /cgi-bin/token (SharedToken calls this with the store's lock held)."""
        params = {
            "grant_type": "client_credential",
            "appid": self.config.app_id,
            "secret": self.config.app_secret.get_secret_value(),
        }
        response = await self.platform.request(
            "GET",
            self.config.api_base_url + TOKEN_PATH,
            check=partial(check, minting=True),
            params=params,
        )
        result = answer_json(response)
        token, expires_in = result.get("access_token"), result.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise Unavailable("WeChat's token endpoint answered without access_token/expires_in")
        self.log.info("wechat %s: access token refreshed (valid %d s)", self.label, int(expires_in))
        return AccessToken.minted(token, float(expires_in), self.clock())

    # --- media ---

    async def _media_id(self, url: str, kind: str) -> str:
        """The WeChat media id for ``url``: cached in the store, else downloaded and uploaded."""
        key = f"wechat:{self.config.app_id}:media:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"
        cached = await self.kv.get(key)
        if cached:
            return cached
        content, mime = await self._download(url)
        response = await self.call(
            "POST",
            MEDIA_UPLOAD_PATH,
            params={"type": kind},
            files={"media": (_filename(url, mime), content, mime)},
        )
        media_id = answer_json(response).get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise Unavailable("WeChat's media upload answered without a media_id")
        await self.kv.set(key, media_id, ttl=MEDIA_TTL)
        return media_id

    async def _download(
        self, url: str, *, limit: int = IMAGE_MAX_BYTES, default_mime: str = "image/jpeg"
    ) -> tuple[bytes, str]:
        """Fetch ``url`` (at most ``limit`` bytes) with the shared client; errors as SendErrors. Not a
        WeChat call, so not through :class:`PlatformAPI`: a broken media URL says nothing about the
        integration's health."""
        try:
            response = await self.http.request("GET", url, max_bytes=limit)
        except TooLarge:
            raise Rejected(f"the media is over the {limit // (1024 * 1024)} MB limit") from None
        except NetworkError as exc:
            raise Unavailable(
                f"could not fetch the media ({'timeout' if exc.timeout else 'network error'})"
            ) from None
        if response.status_code >= 500:
            raise Unavailable(f"the media URL answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise Rejected(f"the media URL answered HTTP {response.status_code}", code=response.status_code)
        mime = response.headers.get("content-type", "").split(";")[0].strip() or default_mime
        return response.content, mime


def _filename(url: str, mime: str) -> str:
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    if name and "." in name and len(name) <= 100:
        return name
    extension = {"image/png": "png", "image/gif": "gif", "image/bmp": "bmp"}.get(mime, "jpg")
    return f"image.{extension}"
