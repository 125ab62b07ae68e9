"""What Slack posts → inbound events.

Slack posts three kinds of request to the one Request URL, all signed the same way (``channel.py``):

* **Events API**: JSON, ``{"type": "event_callback", "event_id", "event": {...}, ...}``, one event per
  request, redelivered with the same ``event_id`` (and ``X-Slack-Retry-Num``) until answered 2xx within
  3 s. The ``event_id`` is the dedup key. ``url_verification`` (the challenge) is answered by the channel.
* **Interactivity**: a form with one field, ``payload=<JSON>`` (``block_actions``, ``view_submission``,
  ``shortcut``, ...).
* **Slash commands**: a form with ``command``, ``text``, ``channel_id``, ``user_id``, ``trigger_id``...

==========================  ==================================================================================
``message``, ``app_mention``
                            text → text (an app mention without the leading ``<@bot>``); ``files`` → media by
                            file id (fetched through the gateway with the bot token); ``file_share``,
                            ``thread_broadcast``, ``me_message`` read like messages; other subtypes
                            (``message_deleted``, ``channel_join``...) → an event named for the subtype
bot messages, edits         messages with a ``bot_id`` (the bot's own replies come back in its DMs) and the
                            ``bot_message``, ``message_changed`` and ``message_replied`` subtypes are skipped
                            on purpose with a logged reason: a bot never answers itself or an edit (nor an
                            ``app_mention`` in a DM: its ``message.im`` event is the same message)
``block_actions``           a button → postback (its value, its label); a menu choice → postback (the chosen
                            option); any other element → an event ``block_actions`` with the action
other interactions          an event named for the type with the whole payload
slash commands              an event ``slash_command`` with every field
any other event             an event named for its type with all its fields
==========================  ==================================================================================

Conversations are per Slack conversation: the user id is the channel id (``D…`` for a direct message,
``C…``/``G…`` for a channel), which is where replies go; an event naming no channel is the user's (a reply
to a user id lands in their DM with the app), and one naming neither (``app_uninstalled``,
``tokens_revoked``) is the workspace's. ``platform_message_id`` is the message's ``ts``, with the thread it
is in (``ts@thread_ts``), so a reply can go into that thread (``render.thread_for``). The deprecated
verification ``token`` Slack still puts in every payload is removed from what is stored and given to bots.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

import orjson

from channelgate.channels.base import BadRequest, InboundEvent, InboundMessage
from channelgate.channels.inbound import (
    SkipEvent,
    array,
    ident,
    load_json,
    mapping,
    optional_number,
    string,
)
from channelgate.turns import EventInput, Input, MediaInput, PostbackInput, TextInput, User

Kind = Literal["envelope", "interaction", "command"]

#: Message subtypes that carry what a user said, read like plain messages.
TEXT_SUBTYPES = frozenset({"file_share", "thread_broadcast", "me_message"})
#: Message subtypes skipped on purpose: a bot's messages (its own replies come back in its DMs) and edits.
IGNORED_SUBTYPES = {
    "bot_message": "a bot's message: never answered, so a bot does not talk to itself or to other bots",
    "message_changed": "an edit of an earlier message, which was answered when it was sent",
    "message_replied": "a thread's parent updated with a new reply, which arrives as its own message",
}
#: Form fields Slack sends that are not part of what a request says (the deprecated verification token).
_TOKEN = "token"  # noqa: S105 - a field name
#: Slack's forms have about a dozen fields (a slash command); far more is not a Slack request.
MAX_FIELDS = 200
_MENTION = re.compile(r"\s*<@([A-Z0-9]+)(?:\|[^>]*)?>\s*")


class Ignored(Exception):
    """An authentic event skipped on purpose (the bot's own message, an edit): logged with ``reason``,
    not counted as malformed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Decoded:
    """What ``authenticate`` decoded: an Events API envelope, an interaction payload or a slash command."""

    kind: Kind
    data: dict[str, Any]


def decode(body: bytes) -> Decoded:
    """The request in a signed body, or BadRequest: JSON for events, a form for the others."""
    if body.lstrip().startswith(b"{"):
        data = load_json(body)
        if not isinstance(data, dict):
            raise BadRequest("expected a JSON object (a Slack Events API envelope)")
        return Decoded("envelope", data)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the form body is not UTF-8") from None
    try:
        pairs = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise BadRequest(f"a form of more than {MAX_FIELDS} fields is not something Slack sends") from None
    fields = {k: v[0] for k, v in pairs.items()}
    if "payload" in fields:
        payload = load_json(fields["payload"], "payload")
        if not isinstance(payload, dict):
            raise BadRequest("the interactivity payload is not a JSON object")
        return Decoded("interaction", payload)
    if "command" in fields:
        return Decoded("command", fields)
    raise BadRequest("neither an Events API envelope, an interactivity payload nor a slash command")


def parse(decoded: Decoded) -> list[InboundEvent]:
    """The events in a decoded request; SkipEvent (malformed) or Ignored (on purpose) with the reason."""
    if decoded.kind == "interaction":
        return parse_interaction(decoded.data)
    if decoded.kind == "command":
        return [parse_command(decoded.data)]
    kind = decoded.data.get("type")
    if kind == "event_callback":
        return parse_event_callback(decoded.data)
    raise SkipEvent(f"envelope of type {str(kind)[:64]!r}, not one this channel reads")


def without_token(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the deprecated verification token, for what is stored and given to bots."""
    return {k: v for k, v in data.items() if k != _TOKEN}


def reply_ref(ts: str | None, thread_ts: str | None) -> str | None:
    """The ``platform_message_id`` of a message: its ``ts``, and the thread it is in when it is in one."""
    if ts is None:
        return None
    return ts if thread_ts is None or thread_ts == ts else f"{ts}@{thread_ts}"


# --- Events API -------------------------------------------------------------------------------------------


def parse_event_callback(envelope: dict[str, Any]) -> list[InboundEvent]:
    event_id = ident(envelope.get("event_id"), "event_id")
    event = mapping(envelope.get("event"), "event")
    kind = string(event.get("type"), "event.type")
    if kind is None:
        raise SkipEvent("event.type is missing")
    key = f"event:{event_id}"
    raw = without_token(envelope)
    if kind in ("message", "app_mention"):
        return _message(key, envelope, event, kind, raw)
    return [
        InboundMessage(
            dedup_key=key,
            user=User(id=_where(event, envelope)),
            input=EventInput(name=kind, data=event),
            raw=raw,
            timestamp=optional_number(envelope.get("event_time")),
        )
    ]


def _message(
    key: str, envelope: dict[str, Any], event: dict[str, Any], kind: str, raw: dict[str, Any]
) -> list[InboundEvent]:
    subtype = string(event.get("subtype"), "event.subtype")
    bot = string(event.get("bot_id"), "event.bot_id")
    if bot is not None:
        raise Ignored(f"{kind} from bot {bot[:32]}: {IGNORED_SUBTYPES['bot_message']}")
    if subtype in IGNORED_SUBTYPES:
        raise Ignored(f"{kind} subtype {subtype}: {IGNORED_SUBTYPES[subtype]}")
    channel = ident(event.get("channel"), "event.channel")
    if kind == "app_mention" and channel.startswith("D"):
        raise Ignored("app_mention in a direct message: its message.im event carries the same message")
    ts = string(event.get("ts"), "event.ts")
    timestamp = optional_number(ts) or optional_number(envelope.get("event_time"))
    if subtype is not None and subtype not in TEXT_SUBTYPES:
        return [
            InboundMessage(
                dedup_key=key,
                user=User(id=channel),
                input=EventInput(name=subtype, data=event),
                raw=raw,
                timestamp=timestamp,
            )
        ]
    inputs: list[Input] = []
    text = string(event.get("text"), "event.text")
    if text is not None and kind == "app_mention":
        text = strip_mention(text, bot_users(envelope))
    if text is not None and text.strip():
        inputs.append(TextInput(text=text))
    for item in array(event.get("files"), "event.files"):
        inputs.append(file_input(mapping(item, "event.files[]")))
    if not inputs:
        inputs.append(EventInput(name=kind, data=event))
    ref = reply_ref(ts, string(event.get("thread_ts"), "event.thread_ts"))
    return [
        InboundMessage(
            dedup_key=key if i == 0 else f"{key}#{i}",
            user=User(id=channel),
            input=item,
            raw=raw,
            platform_message_id=ref,
            timestamp=timestamp,
        )
        for i, item in enumerate(inputs)
    ]


def bot_users(envelope: dict[str, Any]) -> set[str]:
    """The app's bot user ids as the envelope names them (``authorizations``, older ``authed_users``)."""
    found: set[str] = set()
    for item in envelope.get("authorizations") or []:
        if isinstance(item, dict) and item.get("is_bot") and isinstance(item.get("user_id"), str):
            found.add(item["user_id"])
    found.update(u for u in envelope.get("authed_users") or [] if isinstance(u, str))
    return found


def strip_mention(text: str, bots: set[str]) -> str:
    """``<@U123> hello`` → ``hello``: the mention that addressed the bot is not part of what was said."""
    match = _MENTION.match(text)
    if match and (not bots or match.group(1) in bots):
        return text[match.end() :]
    return text


def file_input(item: dict[str, Any]) -> MediaInput:
    """A file the user shared, by id (downloaded through the gateway: its URL needs the bot token)."""
    mime = string(item.get("mimetype"), "file.mimetype")
    major = (mime or "").split("/")[0]
    kind: Literal["image", "video", "audio", "file"] = (
        major if major in ("image", "video", "audio") else "file"  # type: ignore[assignment]
    )
    return MediaInput(kind=kind, media_id=ident(item.get("id"), "file.id"), mime_type=mime)


def _where(event: dict[str, Any], envelope: dict[str, Any]) -> str:
    """The conversation an event belongs to: its channel, else its user (their DM with the app), else the
    workspace (``app_uninstalled``, ``tokens_revoked``)."""
    item = event.get("item") if isinstance(event.get("item"), dict) else {}
    assert isinstance(item, dict)
    for value, what in (
        (event.get("channel"), "event.channel"),
        (item.get("channel"), "event.item.channel"),
        (event.get("user"), "event.user"),
        (envelope.get("team_id"), "team_id"),
    ):
        if isinstance(value, dict):
            value, what = value.get("id"), f"{what}.id"
        if value not in (None, ""):
            return ident(value, what)
    raise SkipEvent("the event names no channel, user or workspace")


# --- interactivity ----------------------------------------------------------------------------------------


def parse_interaction(payload: dict[str, Any]) -> list[InboundEvent]:
    kind = string(payload.get("type"), "payload.type")
    if kind is None:
        raise SkipEvent("payload.type is missing")
    raw = without_token(payload)
    user = _clicker(payload)
    if kind == "block_actions":
        return _block_actions(payload, user, raw)
    trigger = string(payload.get("trigger_id"), "trigger_id") or string(payload.get("action_ts"), "action_ts")
    key = f"{kind}:{trigger or digest(payload)}"
    return [InboundMessage(dedup_key=key, user=user, input=EventInput(name=kind, data=raw), raw=raw)]


def _clicker(payload: dict[str, Any]) -> User:
    """The conversation of an interaction: the channel it happened in, else the user's DM with the app."""
    who = mapping(payload.get("user"), "payload.user")
    user_id = ident(who.get("id"), "user.id")
    name = string(who.get("name"), "user.name") or string(who.get("username"), "user.username")
    channel = payload.get("channel") if isinstance(payload.get("channel"), dict) else {}
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    assert isinstance(channel, dict) and isinstance(container, dict)
    channel_id = string(channel.get("id"), "channel.id") or string(container.get("channel_id"), "channel_id")
    if channel_id is None:
        return User(id=user_id, name=name)
    channel_id = ident(channel_id, "channel.id")
    if channel_id.startswith("D"):  # a direct message: the conversation is the user's
        return User(id=channel_id, name=name)
    return User(id=channel_id, name=string(channel.get("name"), "channel.name"))


def _block_actions(payload: dict[str, Any], user: User, raw: dict[str, Any]) -> list[InboundEvent]:
    trigger = string(payload.get("trigger_id"), "trigger_id")
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    assert isinstance(container, dict) and isinstance(message, dict)
    ts = string(container.get("message_ts"), "container.message_ts") or string(
        message.get("ts"), "message.ts"
    )
    thread = string(message.get("thread_ts"), "message.thread_ts") or string(
        container.get("thread_ts"), "container.thread_ts"
    )
    ref = reply_ref(ts, thread)
    events: list[InboundEvent] = []
    for index, item in enumerate(array(payload.get("actions"), "actions")):
        action = mapping(item, "actions[]")
        action_ts = string(action.get("action_ts"), "action.action_ts")
        key = f"action:{trigger or user.id}:{action_ts or index}"
        events.append(
            InboundMessage(
                dedup_key=key if index == 0 else f"{key}#{index}",
                user=user,
                input=action_input(action),
                raw=raw,
                platform_message_id=ref,
                timestamp=optional_number(action_ts),
            )
        )
    if not events:
        raise SkipEvent("block_actions without actions")
    return events


def action_input(action: dict[str, Any]) -> Input:
    """A button's value, or a menu's chosen option, as a postback; any other element as an event."""
    value = string(action.get("value"), "action.value")
    if value is not None:
        return PostbackInput(payload=value, title=_text(action.get("text")))
    option = action.get("selected_option")
    if isinstance(option, dict) and string(option.get("value"), "selected_option.value") is not None:
        return PostbackInput(payload=str(option["value"]), title=_text(option.get("text")))
    return EventInput(name="block_actions", data=action)


def _text(value: Any) -> str | None:
    """The string of a Block Kit text object (``{"type": "plain_text", "text": ...}``)."""
    return string(value.get("text"), "text.text") if isinstance(value, dict) else None


def parse_command(fields: dict[str, Any]) -> InboundMessage:
    """A slash command, as an event with every field but the verification token."""
    trigger = ident(fields.get("trigger_id"), "trigger_id")
    user_id = ident(fields.get("user_id"), "user_id")
    channel = string(fields.get("channel_id"), "channel_id")
    name = string(fields.get("user_name"), "user_name")
    if channel is None or channel.startswith("D"):  # a direct message: the conversation is the user's
        user = User(id=ident(channel or user_id, "channel_id"), name=name)
    else:
        user = User(id=ident(channel, "channel_id"), name=string(fields.get("channel_name"), "channel_name"))
    data = without_token(fields)
    return InboundMessage(
        dedup_key=f"command:{trigger}", user=user, input=EventInput(name="slash_command", data=data), raw=data
    )


def digest(payload: dict[str, Any]) -> str:
    """A stable key for a payload that carries no id of its own (a redelivery is the same bytes)."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
