"""``/webhooks/{channel}/{label}``: where every platform calls the gateway.

The order is the security model: find the integration, answer a handshake, check the signature over the
raw bytes (fail closed, before any parsing), parse, durably accept, answer. Nothing a platform sends can
reach the parser unauthenticated, and nothing is acknowledged before it is in the store.

Nothing a platform sends is answered 5xx (a 5xx makes the platform redeliver the whole batch, good events
included, for days): a webhook is either accepted (2xx; events the channel could not read, and events that
break the id and text rules of ``channels.inbound``, are skipped with a logged reason and counted in
``channelgate_skipped_events_total``) or refused with a 4xx and a reason. The channels' strict parsing is what
makes that true; this route is the last line of defence: an unexpected exception while reading a request is
logged once with its traceback and answered ``400 malformed``. A 5xx remains only for the gateway's own
trouble (shutting down, overloaded, the store failing), where a redelivery is exactly what is wanted.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from channelgate.channels.base import WebhookError, WebhookRequest, WebhookResponse
from channelgate.channels.inbound import screen_all, skips_of
from channelgate.gateway import Busy, Gateway
from channelgate.web.written import WrittenResponse

log = logging.getLogger("channelgate.webhooks")


class BodyTooLarge(Exception):
    pass


def error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without reading them all into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def to_response(answer: WebhookResponse) -> Response:
    if answer.written is not None:  # a passive reply: it counts as sent only once written (web/written.py)
        return WrittenResponse(
            answer.body,
            status_code=answer.status,
            media_type=answer.media_type,
            headers=answer.headers,
            written=answer.written,
        )
    return Response(
        answer.body, status_code=answer.status, media_type=answer.media_type, headers=dict(answer.headers)
    )


def _malformed(name: str, label: str, step: str, metrics: Counter) -> JSONResponse:
    """The last line of defence: a channel raised something other than a WebhookError. Logged once with its
    traceback (a bug to fix in that channel's parser), answered 400 so the platform does not redeliver."""
    log.exception("%s/%s: unexpected error while %s a webhook; answered 400", name, label, step)
    metrics.labels(name, "invalid").inc()
    return error(400, "malformed webhook: the gateway could not read it")


async def webhook(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    name = request.path_params["channel"]
    label = request.path_params["label"]
    channel = gateway.channel(name, label)
    metrics = gateway.metrics.webhooks
    if channel is None:
        known = name in gateway.registry.channels
        reason = f"no integration {name}/{label}" if known else f"unknown channel {name!r}"
        return error(404, reason)
    if not gateway.accepting:
        return error(503, "the gateway is shutting down", {"Retry-After": "5"})
    try:
        body = await read_body(request, gateway.settings.max_body_bytes)
    except BodyTooLarge:
        metrics.labels(name, "too_large").inc()
        return error(413, f"body over {gateway.settings.max_body_bytes} bytes")
    hook = WebhookRequest(
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=body,
        # the query string as sent: Twilio signs the URL it called, query included
        notes={"where": f"{name}/{label}", "query_string": request.url.query},
    )
    try:
        answer = channel.handshake(hook)
        if answer is not None:
            metrics.labels(name, "handshake").inc()
            return to_response(answer)
        if request.method != "POST":
            return error(405, "webhooks deliver events with POST")
        verified = channel.authenticate(hook)
        await channel.check_replay(hook, verified)
    except WebhookError as exc:
        metrics.labels(name, "rejected").inc()
        log.warning("%s/%s: webhook refused (%d): %s", name, label, exc.status, exc.reason)
        return error(exc.status, exc.reason)
    except Exception:
        return _malformed(name, label, "authenticating", metrics)
    try:
        events = channel.parse(hook, verified)
    except WebhookError as exc:
        metrics.labels(name, "rejected" if exc.status in (401, 403) else "invalid").inc()
        log.warning("%s/%s: webhook not understood (%d): %s", name, label, exc.status, exc.reason)
        return error(exc.status, exc.reason)
    except Exception:
        return _malformed(name, label, "parsing", metrics)
    limit = gateway.settings.max_events_per_webhook
    if len(events) > limit:
        metrics.labels(name, "too_large").inc()
        log.warning("%s/%s: webhook refused: %d events, over %d", name, label, len(events), limit)
        return error(
            413, f"{len(events)} events in one webhook, over max_events_per_webhook ({limit}); none accepted"
        )
    skipped = skips_of(hook).reasons
    if skipped:
        gateway.metrics.skipped_events.labels(name, "malformed").inc(len(skipped))
    events, refused = screen_all(events)
    if refused:
        gateway.metrics.skipped_events.labels(name, "rules").inc(len(refused))
        for reason in refused[:10]:
            log.warning("%s/%s: event skipped: %s", name, label, reason)
        if len(refused) > 10:
            log.warning("%s/%s: %d more events skipped", name, label, len(refused) - 10)
    try:
        # screened here once (counted and logged above): the store does not screen them again
        answer, accepted = await gateway.answer_webhook(channel, hook, events, screened=True)
    except Busy as exc:
        metrics.labels(name, "busy").inc()
        return error(503, "too much work waiting; redeliver later", {"Retry-After": str(exc.retry_after)})
    outcome = (
        "accepted"
        if accepted.new_turns or accepted.statuses
        else ("duplicate" if accepted.duplicates else "empty")
    )
    metrics.labels(name, outcome).inc()
    return to_response(answer)
