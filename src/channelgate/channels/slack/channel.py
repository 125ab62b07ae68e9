"""Slack, through a Slack app: the Events API and interactivity post to the callback URL, replies go out
with the bot token through the Web API.

Inbound: every request carries ``X-Slack-Signature`` over ``v0:{timestamp}:{raw body}`` with the app's
signing secret, and ``X-Slack-Request-Timestamp``; both are checked before anything is parsed (missing:
401; wrong, or a timestamp more than five minutes off: 403), in constant time. ``url_verification`` is
answered with its challenge only then. Redeliveries (``X-Slack-Retry-Num``) carry the same ``event_id``, the
dedup key, so they are answered once. What each request becomes: ``inbound.py``.

Outbound: ``render.py`` (Block Kit), ``api.py`` (``chat.postMessage`` and Slack's ``{"ok": false}``
errors), ``pacing.py`` (about one message a second per channel). :meth:`SlackChannel.connect` is step 3:
Slack has no API to set the Request URL with a bot token, so it checks the token with ``auth.test`` and
prints the clicks.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import orjson

from channelgate.channels.base import (
    BadRequest,
    Channel,
    ChannelConfig,
    ChannelContext,
    ChannelLimits,
    Connection,
    Forbidden,
    InboundEvent,
    MediaContent,
    Outbound,
    Rejected,
    RenderContext,
    SendResult,
    Unauthorized,
    Verified,
    WebhookRequest,
    WebhookResponse,
)
from channelgate.channels.inbound import each
from channelgate.channels.slack.api import SlackAPI
from channelgate.channels.slack.config import SLACK_HOSTS, SlackConfig
from channelgate.channels.slack.inbound import Decoded, Ignored, decode, parse
from channelgate.channels.slack.pacing import channel_pacer
from channelgate.channels.slack.render import MESSAGE_TEXT_MAX, SlackRenderer, summarise, thread_for
from channelgate.channels.slack.signature import MAX_AGE, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from channelgate.messages import UniversalMessage
from channelgate.turns import EventInput

#: Where ``parse`` leaves a ``url_verification`` challenge for ``ack`` to answer.
CHALLENGE = "slack_challenge"
#: The bot events and scopes the setup steps name.
BOT_EVENTS = ("message.im", "app_mention")
SCOPES = ("chat:write", "im:history", "app_mentions:read")


class SlackChannel(Channel[SlackConfig]):
    name: ClassVar[str] = "slack"
    title: ClassVar[str] = "Slack"
    Config: ClassVar[type[ChannelConfig]] = SlackConfig
    # chat.postMessage: ~1 message/s per channel (pacing.py) under a workspace-wide cap Slack does not
    # publish; 100 a minute is its Tier 4 figure, the highest documented. Raise rate_limit if yours allows.
    limits: ClassVar[ChannelLimits] = ChannelLimits(
        text_max=MESSAGE_TEXT_MAX,
        quick_replies_max=25,
        buttons_max=25,
        send_rate=100 / 60,
        send_concurrency=16,
    )

    def __init__(self, config: SlackConfig, ctx: ChannelContext) -> None:
        super().__init__(config, ctx)
        self.api = SlackAPI(ctx.http, ctx.health, config.api_base_url, config.bot_token.get_secret_value())
        self.pacer = channel_pacer()
        #: what "now" is for the timestamp check (tests set a fixed clock for the documented vector)
        self.clock: Callable[[], float] = time.time

    # --- inbound ---

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        """Slack's ``ssl_check=1`` probe (sent when a Request URL is saved): answered 200, it says nothing
        and creates nothing."""
        if request.method != "POST" or b"ssl_check=" not in request.body or len(request.body) > 512:
            return None
        fields = parse_qs(request.body.decode("utf-8", "replace"))
        if fields.get("ssl_check") == ["1"] and not fields.keys() - {"token", "ssl_check"}:
            return WebhookResponse(200, b"")
        return None

    def authenticate(self, request: WebhookRequest) -> Verified:
        """The v0 signature over the raw bytes, in constant time, and the timestamp's age; then the body."""
        signature = request.header(SIGNATURE_HEADER)
        timestamp = request.header(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise Unauthorized(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
        expected = sign(self.config.signing_secret.get_secret_value(), timestamp, request.body)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise Forbidden(f"{SIGNATURE_HEADER} does not match the body signed with the signing_secret")
        try:
            sent = int(timestamp)
        except ValueError:
            raise Forbidden(f"{TIMESTAMP_HEADER} is not a number of seconds") from None
        if abs(self.clock() - sent) > MAX_AGE:
            raise Forbidden(f"{TIMESTAMP_HEADER} is more than five minutes from now: a replayed request")
        return Verified(request.body, content=decode(request.body))

    def parse(self, request: WebhookRequest, verified: Verified) -> list[InboundEvent]:
        decoded = verified.content
        if not isinstance(decoded, Decoded):
            raise TypeError("a Slack request is parsed after authenticate, which decodes it")
        retry = request.header("X-Slack-Retry-Num")
        if retry:
            reason = request.header("X-Slack-Retry-Reason") or "unknown"
            self.ctx.log.info("slack %s: Slack's retry %s (%s)", self.ctx.label, retry[:8], reason[:64])
        if decoded.kind == "envelope":
            kind = decoded.data.get("type")
            if kind == "url_verification":
                challenge = decoded.data.get("challenge")
                if not isinstance(challenge, str) or not challenge:
                    raise BadRequest("url_verification without a challenge string")
                request.notes[CHALLENGE] = challenge
                return []
            if kind == "app_rate_limited":
                self.ctx.log.warning(
                    "slack %s: Slack reports it is not delivering this app's events (app_rate_limited, "
                    "minute %s): too many events for the workspace",
                    self.ctx.label,
                    str(decoded.data.get("minute_rate_limited"))[:32],
                )
                return []
        try:
            events = each(request, [decoded], parse, "request")
        except Ignored as exc:
            self.ctx.log.info("slack %s: event skipped: %s", self.ctx.label, exc.reason)
            return []
        self._watch_uninstall(events)
        return events

    def _watch_uninstall(self, events: list[InboundEvent]) -> None:
        """The app removed, or its bot token revoked: the integration turns red at once, before a send
        would find out."""
        for event in events:
            value = getattr(event, "input", None)
            if not isinstance(value, EventInput):
                continue
            tokens = (value.data or {}).get("tokens")
            revoked = value.name == "tokens_revoked" and isinstance(tokens, dict) and tokens.get("bot")
            if value.name == "app_uninstalled" or revoked:
                self.ctx.health.fail(
                    f"Slack reports {value.name}: reinstall the app and update bot_token. "
                    f"{self.api.platform.credentials_hint}"
                )

    def ack(self, request: WebhookRequest, events: list[InboundEvent]) -> WebhookResponse:
        """200 with nothing in it (a modal submission closes, a button stops spinning); the challenge for
        ``url_verification``."""
        challenge = request.notes.get(CHALLENGE)
        if isinstance(challenge, str):
            return WebhookResponse(200, orjson.dumps({"challenge": challenge}), "application/json")
        return WebhookResponse(200, b"")

    # --- outbound ---

    def render(self, messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
        thread = thread_for(ctx.reply_to, self.config.reply_in_thread)
        outbounds: list[Outbound] = []
        for body in SlackRenderer(ctx).render_all(messages):
            full = {**body, "channel": ctx.user_id}
            if thread is not None:
                full["thread_ts"] = thread
            outbounds.append(Outbound(body=full, summary=summarise(body)))
        return outbounds

    async def send(self, outbound: Outbound) -> SendResult:
        await self._pace(str(outbound.body.get("channel")))
        answer = await self.api.call("chat.postMessage", outbound.body)
        ts = answer.get("ts")
        return SendResult(str(ts) if ts else None)

    async def _pace(self, channel: str) -> None:
        await self.pacer.wait(
            channel, f"pacing channel {channel}: Slack allows about one message a second per channel"
        )

    async def download_media(self, media_id: str) -> MediaContent:
        """A file a user shared: ``files.info`` gives its private URL, fetched with the bot token (the bot
        gets the bytes through the gateway, never the token). Needs the ``files:read`` scope."""
        answer = await self.api.get("files.info", {"file": media_id})
        info = answer.get("file") if isinstance(answer.get("file"), dict) else {}
        assert isinstance(info, dict)
        url = info.get("url_private_download") or info.get("url_private")
        if not isinstance(url, str) or not url:
            raise Rejected(f"Slack gives no download URL for file {media_id!r}")
        if not self._may_send_token(url):
            raise Rejected(f"file {media_id!r} is not on a Slack host: the bot token is not sent there")
        response = await self.api.download(url)
        mime = info.get("mimetype") or response.headers.get("content-type", "").split(";")[0].strip()
        return MediaContent(response.content, str(mime or "application/octet-stream"))

    def _may_send_token(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        api_host = (urlsplit(self.config.api_base_url).hostname or "").lower()
        return host == api_host or any(host == h or host.endswith(f".{h}") for h in SLACK_HOSTS)

    # --- setup, step 3 ---

    async def connect(self) -> Connection:
        """Slack has no API to set an app's Request URL with a bot token: check the token with
        ``auth.test`` (InvalidCredentials if Slack refuses it), say which workspace and bot it is, and print
        the clicks."""
        answer = await self.api.call("auth.test")
        who = f"{answer.get('user') or '?'} ({answer.get('user_id') or '?'})"
        team = f"{answer.get('team') or '?'} ({answer.get('team_id') or '?'}"
        team += f", {answer['url']})" if answer.get("url") else ")"
        return Connection(False, f"The bot token works: bot {who} in workspace {team}.\n{self.setup_steps()}")

    def setup_steps(self) -> str:
        url = self.ctx.callback_url
        return "\n".join(
            [
                "Slack has no API to set the Request URL with a bot token. At https://api.slack.com/apps, "
                "open your app, then:",
                f"1. Event Subscriptions: turn on Enable Events; Request URL = {url} (Slack shows Verified "
                "once channelgate answers its challenge with the right signing_secret).",
                f"2. Subscribe to bot events: {', '.join(BOT_EVENTS)}; Save Changes.",
                f"3. Interactivity & Shortcuts: turn on Interactivity; Request URL = {url}; Save Changes.",
                f"4. OAuth & Permissions → Bot Token Scopes: {', '.join(SCOPES)} (and files:read for files "
                "users share); reinstall the app if you added one.",
                "5. App Home → Messages Tab: allow users to send messages to the app.",
            ]
        )
