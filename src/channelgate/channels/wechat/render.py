"""Universal messages as customer-service API bodies (``{"touser", "msgtype", ...}``), on the toolkit's
:class:`Renderer`.

What WeChat shows natively, and so what is overridden here: text (split at 2048 UTF-8 bytes), reply buttons
as a ``msgmenu`` whose item ids are the payloads, images (uploaded by ``send``: the body carries the URL in
``"_media"``), a card as a one-article ``news``, a list as a ``msgmenu``, and template messages (marked
``"_api": "template"``). Keys starting with ``_`` never reach WeChat.

WeChat has no quick replies apart from a message: a message's reply buttons become the ``msgmenu`` of its
own text (or follow it as one), so each type's method places them and :meth:`quick_replies` attaches
nothing more. Carousels, locations and non-image media keep the texts they always had here (numbered
entries with their links; name, address and coordinates; caption, file name and link), which differ from
the toolkit's defaults.

:func:`render` adds what is not per type: the 48-hour customer-service window, outside which a proactive
message must be a template (or has ``options.template_fallback`` sent instead).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

from channelgate.channels.base import Outbound, RenderContext, SendRefused
from channelgate.channels.renderer import Renderer
from channelgate.channels.rendering import action_as_text, numbered_choices, split_text, truncate_bytes
from channelgate.messages import (
    Action,
    Card,
    Carousel,
    ChannelSpecific,
    ListMessage,
    Location,
    Media,
    ReplyAction,
    Template,
    Text,
    UniversalMessage,
    UrlAction,
)

#: Text limit of passive replies and customer-service messages, in UTF-8 bytes (a Chinese character is 3).
TEXT_MAX_BYTES = 2048
#: ``msgmenu`` limits (WeChat's customer-service docs; the item limits are WeCom's, assumed here too).
MENU_HEAD_MAX_BYTES = 1024
MENU_TAIL_MAX_BYTES = 1024
MENU_ITEMS_MAX = 10
MENU_ID_MAX_BYTES = 64
MENU_CONTENT_MAX_BYTES = 128
#: Customer-service messages may follow a user's message for 48 hours (and 5 messages).
WINDOW_SECONDS = 48 * 3600


def utf8_len(text: str) -> int:
    return len(text.encode())


def render(messages: list[UniversalMessage], ctx: RenderContext) -> list[Outbound]:
    """Every message's bodies, with the 48-hour window applied and template fallbacks attached."""
    renderer = WeChatRenderer(ctx)
    closed = ctx.proactive and not ctx.within(WINDOW_SECONDS)
    out: list[Outbound] = []
    for message in messages:
        fallback = ctx.option(message, "template_fallback")
        if closed and not is_template(message):
            if fallback is None:
                raise SendRefused(
                    "outside WeChat's 48-hour customer-service window: a proactive message must be a "
                    "template (or set options.template_fallback)"
                )
            ctx.note("outside the 48-hour window: sent the template fallback instead")
            out.append(
                Outbound(body=template_body(fallback, ctx.user_id), summary=f"[template] {fallback.name}")
            )
            continue
        rendered = renderer.render(message)
        if fallback is not None and not is_template(message):
            tpl = template_body(fallback, ctx.user_id)
            rendered = [replace(o, fallback=tpl) for o in rendered]
        out.extend(rendered)
    return out


def is_template(message: UniversalMessage) -> bool:
    """Whether ``message`` goes to the template API (which the 48-hour window does not limit)."""
    if isinstance(message, Template):
        return True
    if isinstance(message, ChannelSpecific):
        payload = message.payloads.get("wechat")
        if payload is not None:
            return "template_id" in payload
        return message.fallback is not None and is_template(message.fallback)
    return False


def template_body(template: Template, user_id: str) -> dict[str, Any]:
    """A template message for ``/cgi-bin/message/template/send``.

    ``name`` is the template id. Plain parameters fill ``keyword1``, ``keyword2``... in order; a parameter
    ``{"name": "thing2", "value": "...", "color": "#173177"}`` fills a named field; any other mapping is
    merged into the body as is (``url``, ``miniprogram``, ``client_msg_id``, or a whole ``data`` object).
    """
    data: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    position = 0
    for param in template.parameters or []:
        if isinstance(param, dict) and "name" in param and "value" in param:
            field: dict[str, Any] = {"value": str(param["value"])}
            if param.get("color"):
                field["color"] = str(param["color"])
            data[str(param["name"])] = field
        elif isinstance(param, dict):
            extras.update(param)
        else:
            position += 1
            data[f"keyword{position}"] = {"value": str(param)}
    data = {**(extras.pop("data", None) or {}), **data}
    return {"_api": "template", "touser": user_id, "template_id": template.name, **extras, "data": data}


def _body(user_id: str, msgtype: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"touser": user_id, "msgtype": msgtype, msgtype: content}


def _menu_fits(items: Sequence[tuple[str, str]]) -> bool:
    return 0 < len(items) <= MENU_ITEMS_MAX and all(0 < utf8_len(i) <= MENU_ID_MAX_BYTES for i, _ in items)


class WeChatRenderer(Renderer[Outbound]):
    """One batch of messages for one user (``ctx.user_id``)."""

    channel: ClassVar[str] = "wechat"
    product: ClassVar[str] = "WeChat"

    @property
    def user(self) -> str:
        return self.ctx.user_id

    # --- the toolkit's primitives ---

    def texts(self, text: str) -> list[Outbound]:
        parts = split_text(text, TEXT_MAX_BYTES, measure=utf8_len) if text.strip() else []
        if len(parts) > 1:
            self.ctx.note(f"text split into {len(parts)} messages of at most {TEXT_MAX_BYTES} bytes")
        return [self._text(p) for p in parts]

    def passthrough(self, payload: dict[str, Any]) -> Outbound:
        """``payloads.wechat`` as is, to the customer-service API, or the template API with a template_id."""
        body = copy.deepcopy(payload)
        body.setdefault("touser", self.user)
        if "template_id" in body:
            body.setdefault("_api", "template")
        return Outbound(body=body, summary=f"[wechat] {body.get('msgtype') or 'template'}")

    # --- the types WeChat shows its own way ---

    def text(self, message: Text) -> list[Outbound]:
        return self.with_actions(message.text, message.quick_replies)

    def media(self, message: Media) -> list[Outbound]:
        if message.kind == "image":
            body = {**_body(self.user, "image", {}), "_media": {"type": "image", "url": message.url}}
            out = [Outbound(body=body, summary=f"[image] {message.url}")]
            if message.caption or message.quick_replies:
                out += self.with_actions(message.caption or "", message.quick_replies)
            return out
        self.ctx.note(
            f"{message.kind} sent as a link (customer-service {message.kind} needs WeChat-side media)"
        )
        text = "\n".join(p for p in (message.caption, message.filename, message.url) if p)
        return self.with_actions(text, message.quick_replies)

    def card(self, message: Card) -> list[Outbound]:
        """A news article (image, title, description; a tap opens the first URL button), then the
        card's other buttons."""
        buttons = list(message.buttons or [])
        link = next((b for b in buttons if isinstance(b, UrlAction)), None)
        rest = [b for b in buttons if b is not link] + list(message.quick_replies or [])
        if message.media is None and link is None:
            text = "\n".join(p for p in (message.title, message.description) if p)
            return self.with_actions(text, rest)
        article = {"title": message.title, "description": message.description or ""}
        if link is not None:
            article["url"] = link.url
        if message.media is not None:
            article["picurl"] = message.media.url
        news = _body(self.user, "news", {"articles": [article]})
        out = [Outbound(body=news, summary=f"[card] {message.title}")]
        if rest:
            head = message.title if any(isinstance(b, ReplyAction) for b in rest) else ""
            out += self.with_actions(head, rest)
        return out

    def carousel(self, message: Carousel) -> list[Outbound]:
        self.ctx.note(f"carousel of {len(message.cards)} cards sent as numbered text")
        entries = []
        for card in message.cards:
            lines = [card.title + (f" - {card.description}" if card.description else "")]
            lines += [
                "   " + action_as_text(b, self.ctx.gettext)
                for b in card.buttons or []
                if not isinstance(b, ReplyAction)
            ]
            entries.append("\n".join(lines))
        prompt = any(isinstance(b, ReplyAction) for c in message.cards for b in c.buttons or [])
        text = numbered_choices("", entries, self.ctx, prompt=prompt)
        return self.with_actions(text, message.quick_replies)

    def list_message(self, message: ListMessage) -> list[Outbound]:
        items = [
            (i.payload, i.title + (f" - {i.description}" if i.description else "")) for i in message.items
        ]
        extra = list(message.quick_replies or [])
        items += [(a.payload, a.title) for a in extra if isinstance(a, ReplyAction)]
        tail = [action_as_text(a, self.ctx.gettext) for a in extra if not isinstance(a, ReplyAction)]
        if message.footer:
            tail.insert(0, message.footer)
        head = "\n".join(p for p in (message.header, message.text) if p)
        return self.menu(head, items, tail)

    def location(self, message: Location) -> list[Outbound]:
        coordinates = f"{message.latitude:.6f}, {message.longitude:.6f}"
        text = "\n".join(p for p in (message.name, message.address, coordinates) if p)
        return self.with_actions(text, message.quick_replies)

    def template(self, message: Template) -> list[Outbound]:
        return [Outbound(body=template_body(message, self.user), summary=f"[template] {message.name}")]

    def quick_replies(self, bodies: list[Outbound], actions: Sequence[Action]) -> list[Outbound]:
        """Already placed by each type's method (a ``msgmenu`` of its text); a template takes none."""
        return bodies

    # --- menus ---

    def with_actions(self, text: str, actions: Sequence[Action] | None) -> list[Outbound]:
        """Text followed by buttons: reply buttons as a ``msgmenu``, links and calls as lines of text."""
        replies = [a for a in actions or [] if isinstance(a, ReplyAction)]
        lines = [action_as_text(a, self.ctx.gettext) for a in actions or [] if not isinstance(a, ReplyAction)]
        if not replies:
            return self.texts("\n".join(p for p in (text, *lines) if p))
        return self.menu(text, [(r.payload, r.title) for r in replies], lines)

    def menu(self, head: str, items: list[tuple[str, str]], tail_lines: list[str]) -> list[Outbound]:
        """A ``msgmenu`` whose item ids are the payloads, or numbered text when it cannot be one."""
        if not _menu_fits(items):
            self.ctx.note(
                f"{len(items)} choices sent as numbered text (a WeChat menu holds {MENU_ITEMS_MAX} choices "
                f"with ids of at most {MENU_ID_MAX_BYTES} bytes)"
            )
            choices = numbered_choices(head, [title for _, title in items], self.ctx)
            return self.texts("\n".join([choices, *tail_lines]))
        parts = split_text(head or self.ctx.gettext("Please choose:"), TEXT_MAX_BYTES, measure=utf8_len)
        last = parts.pop()
        if utf8_len(last) > MENU_HEAD_MAX_BYTES:
            more = split_text(last, MENU_HEAD_MAX_BYTES, measure=utf8_len)
            last = more.pop()
            parts += more
        out = [self._text(p) for p in parts]
        tail = "\n".join(tail_lines)
        after: list[Outbound] = []
        if utf8_len(tail) > MENU_TAIL_MAX_BYTES:
            after, tail = self.texts(tail), ""
        listing = []
        for item_id, title in items:
            content = truncate_bytes(title, MENU_CONTENT_MAX_BYTES)
            if content != title:
                self.ctx.note(f"menu choice truncated to {MENU_CONTENT_MAX_BYTES} bytes")
            listing.append({"id": item_id, "content": content})
        body = _body(self.user, "msgmenu", {"head_content": last, "list": listing, "tail_content": tail})
        summary = f"{last[:80]} [{' | '.join(t for _, t in items)}]"
        return [*out, Outbound(body=body, summary=summary), *after]

    def _text(self, part: str) -> Outbound:
        return Outbound(body=_body(self.user, "text", {"content": part}), summary=part[:120])
