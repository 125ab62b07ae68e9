"""The built-in demo bot: greets, echoes, and shows every universal message type on request.

It exists so that a newcomer sees the whole path work before writing any bot, and so that whoever sets up a
channel can see how that channel renders each type: type ``help`` for the list, then ``card``,
``carousel``, ``list``... It answers its own short texts in the conversation's language and switches
language on ``locale fr-FR``. It is deterministic: the same turns give the same answers, so tests can
rely on it.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from channelgate.bots.base import Bot
from channelgate.bots.spec import DEMO_LOCALES
from channelgate.locale import normalize_locale
from channelgate.turns import EventInput, LocationInput, MediaInput, PostbackInput, Reply, TextInput, Turn

IMAGE_URL = "https://picsum.photos/seed/channelgate/600/400"
WEBSITE_URL = "https://example.com/"
#: a number reserved for fiction (NANP 555-0100 to 555-0199), so nobody real gets called
PHONE = "+15555550100"

# --- the bot's own texts, in its languages -----------------------------------------------------------------

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "greeting": (
            "Hello! I am the channelgate demo bot. Type help to see what each message type looks like here."
        ),
        "help": (
            "Type or tap a command to see how this channel shows it (or locale fr-FR to switch language):"
        ),
        "you_said": "You said: {text}",
        "you_picked": "You picked {choice}.",
        "you_sent": "You sent: {kind}",
        "location": "You are at {lat}, {lon}",
        "switched": "OK, I switched the language to {tag}.",
        "bad_locale": "I do not know the locale {tag!r}. Try locale en-US.",
    },
    "zh": {
        "greeting": "你好!我是 channelgate 演示机器人。输入 help 查看各种消息类型在这里的显示效果。",
        "help": "输入或点按一个命令,看看这个渠道如何显示它(输入 locale en-US 可切换语言):",
        "you_said": "你说:{text}",
        "you_picked": "你选择了 {choice}。",
        "you_sent": "你发送了:{kind}",
        "location": "你的位置:{lat}, {lon}",
        "switched": "好的,语言已切换为 {tag}。",
        "bad_locale": "我不认识语言代码 {tag!r}。试试 locale zh-CN。",
    },
    "es": {
        "greeting": (
            "¡Hola! Soy el bot de demostración de channelgate. Escribe help para ver cada tipo de mensaje."
        ),
        "help": (
            "Escribe o toca un comando para ver cómo lo muestra este "
            "canal (o locale en-US para cambiar de idioma):"
        ),
        "you_said": "Dijiste: {text}",
        "you_picked": "Elegiste {choice}.",
        "you_sent": "Enviaste: {kind}",
        "location": "Estás en {lat}, {lon}",
        "switched": "De acuerdo, cambié el idioma a {tag}.",
        "bad_locale": "No conozco el idioma {tag!r}. Prueba locale es-ES.",
    },
    "fr": {
        "greeting": (
            "Bonjour ! Je suis le bot de démonstration de channelgate. "
            "Tapez help pour voir chaque type de message."
        ),
        "help": (
            "Tapez ou touchez une commande pour voir comment ce canal "
            "l'affiche (ou locale en-US pour changer de langue) :"
        ),
        "you_said": "Vous avez dit : {text}",
        "you_picked": "Vous avez choisi {choice}.",
        "you_sent": "Vous avez envoyé : {kind}",
        "location": "Vous êtes à {lat}, {lon}",
        "switched": "D'accord, la langue est maintenant {tag}.",
        "bad_locale": "Je ne connais pas la langue {tag!r}. Essayez locale fr-FR.",
    },
    "de": {
        "greeting": (
            "Hallo! Ich bin der Demo-Bot von channelgate. Schreib help, um jeden Nachrichtentyp zu sehen."
        ),
        "help": (
            "Schreib oder tippe einen Befehl, um zu sehen, wie dieser Kanal ihn "
            "zeigt (oder locale en-US für eine andere Sprache):"
        ),
        "you_said": "Du hast gesagt: {text}",
        "you_picked": "Du hast {choice} gewählt.",
        "you_sent": "Du hast gesendet: {kind}",
        "location": "Du bist bei {lat}, {lon}",
        "switched": "Alles klar, die Sprache ist jetzt {tag}.",
        "bad_locale": "Die Sprache {tag!r} kenne ich nicht. Versuch locale de-DE.",
    },
    "ja": {
        "greeting": (
            "こんにちは!channelgate のデモボットです。help と入力すると各メッセージの表示を確認できます。"
        ),
        "help": (
            "コマンドを入力またはタップすると、このチャネルでの表示を確認できます"
            "(locale en-US で言語を切り替え):"
        ),
        "you_said": "あなたの発言:{text}",
        "you_picked": "{choice} を選びました。",
        "you_sent": "送信されたもの:{kind}",
        "location": "現在地:{lat}, {lon}",
        "switched": "言語を {tag} に切り替えました。",
        "bad_locale": "言語 {tag!r} はわかりません。locale ja-JP を試してください。",
    },
}

#: words that get a greeting instead of an echo, in the bot's languages
_GREETINGS = frozenset(
    {
        "hi",
        "hello",
        "hey",
        "start",
        "get started",
        "你好",
        "您好",
        "hola",
        "bonjour",
        "salut",
        "hallo",
        "こんにちは",
    }
)
#: events that open a conversation (Messenger's Get Started arrives as a postback, see _GREETING_PAYLOADS)
_GREETING_EVENTS = frozenset({"subscribed", "conversation_started", "started", "referral", "welcome"})
_GREETING_PAYLOADS = frozenset({"GET_STARTED", "get_started"})
_LOCALE_COMMAND = re.compile(r"^(?:locale|language|lang)\s+(\S+)$", re.IGNORECASE)
_REMEMBERED = 10_000
#: what "Hello!" and "¿help?" carry around the word that matters
_PUNCTUATION = re.compile(r"^[\s¡¿]+|[\s!?.。!?]+$")


def text_for(locale: str, key: str, **values: Any) -> str:
    """The bot's text ``key`` in ``locale``'s language, English when it does not speak that one."""
    language = locale.replace("_", "-").split("-")[0].lower()
    table = _TEXTS.get(language, _TEXTS["en"])
    return table[key].format(**values)


# --- the samples ----------------------------------------------------------------------------------------


def _reply(title: str, payload: str) -> dict[str, Any]:
    return {"type": "reply", "title": title, "payload": payload}


def sample_text() -> list[dict[str, Any]]:
    return [
        {
            "type": "text",
            "text": (
                "This is a text message. 👋\nIt can span several lines, carry "
                "emoji and links like https://example.com."
            ),
        }
    ]


def sample_media() -> list[dict[str, Any]]:
    return [{"type": "media", "kind": "image", "url": IMAGE_URL, "caption": "An image with a caption"}]


def sample_card() -> list[dict[str, Any]]:
    return [
        {
            "type": "card",
            "title": "channelgate",
            "description": "A card with an image and three kinds of buttons.",
            "media": {"url": IMAGE_URL, "alt_text": "A sample photo", "height": "medium"},
            "buttons": [
                _reply("Tell me more", "CARD_MORE"),
                {"type": "url", "title": "Open website", "url": WEBSITE_URL},
                {"type": "call", "title": "Call us", "phone": PHONE},
            ],
        }
    ]


def sample_carousel() -> list[dict[str, Any]]:
    cards = [
        {
            "type": "card",
            "title": f"Option {n}",
            "description": f"The card number {n} of a carousel.",
            "media": {"url": f"https://picsum.photos/seed/channelgate-{n}/600/400", "alt_text": f"Photo {n}"},
            "buttons": [_reply(f"Pick {n}", f"CAROUSEL_{n}")],
        }
        for n in (1, 2, 3)
    ]
    return [{"type": "carousel", "cards": cards}]


def sample_list() -> list[dict[str, Any]]:
    return [
        {
            "type": "list",
            "header": "Plans",
            "text": "Which plan suits you?",
            "footer": "You can change it later",
            "button": "See plans",
            "items": [
                {"title": "Free", "description": "For trying things out", "payload": "PLAN_FREE"},
                {"title": "Team", "description": "For small teams", "payload": "PLAN_TEAM"},
                {"title": "Business", "description": "For the whole company", "payload": "PLAN_BUSINESS"},
            ],
        }
    ]


def sample_location() -> list[dict[str, Any]]:
    return [
        {
            "type": "location",
            "latitude": 48.8584,
            "longitude": 2.2945,
            "name": "Eiffel Tower",
            "address": "Champ de Mars, 5 Av. Anatole France, 75007 Paris, France",
        }
    ]


def sample_quick() -> list[dict[str, Any]]:
    return [
        {
            "type": "text",
            "text": "Pick a colour:",
            "quick_replies": [
                _reply("Red", "COLOUR_RED"),
                _reply("Green", "COLOUR_GREEN"),
                _reply("Blue", "COLOUR_BLUE"),
            ],
        }
    ]


def sample_template() -> list[dict[str, Any]]:
    # hello_world is the sample template every new WhatsApp Business account has, approved in en_US
    return [{"type": "template", "name": "hello_world", "language": "en_US"}]


def sample_channel() -> list[dict[str, Any]]:
    note = "a channel-specific message, written in the platform's own format"
    return [
        {
            "type": "channel",
            "payloads": {
                # Messenger's Send API "message" object: a button template
                "messenger": {
                    "attachment": {
                        "type": "template",
                        "payload": {
                            "template_type": "button",
                            "text": f"Messenger: {note}.",
                            "buttons": [{"type": "postback", "title": "Nice", "payload": "CHANNEL_NICE"}],
                        },
                    }
                },
                # WhatsApp Cloud API message body without messaging_product and to
                "whatsapp": {"type": "text", "text": {"body": f"WhatsApp: {note}.", "preview_url": False}},
                # WeChat customer-service message without touser
                "wechat": {"msgtype": "text", "text": {"content": f"WeChat: {note}."}},
            },
            "fallback": {
                "type": "text",
                "text": "This channel has no special version of this message, so it shows this fallback.",
            },
        }
    ]


def sample_brief() -> list[dict[str, Any]]:
    return [
        {
            "type": "rich",
            "title": "A message in the brief's rich format",
            "description": "Translated by the gateway into a card with quick replies.",
            "richMedia": {"fileUrl": IMAGE_URL, "altText": "A sample photo", "height": "MEDIUM"},
            "insideActions": [
                {"type": "reply", "display": "Like", "payload": "BRIEF_LIKE"},
                {"type": "click", "display": "Website", "url": WEBSITE_URL},
                {"type": "call", "display": "Call", "phoneNumber": PHONE},
            ],
            "floatActions": [{"type": "reply", "display": "Menu", "payload": "help"}],
        }
    ]


#: command → the messages it shows, in the order the help lists them
SAMPLES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "text": sample_text,
    "media": sample_media,
    "card": sample_card,
    "carousel": sample_carousel,
    "list": sample_list,
    "location": sample_location,
    "quick": sample_quick,
    "template": sample_template,
    "channel": sample_channel,
    "brief": sample_brief,
}
HELP_COMMANDS = frozenset({"help", "menu"})


# --- the bot --------------------------------------------------------------------------------------------


class DemoBot(Bot):
    """Answers from the tables above; remembers (in memory, bounded) which conversations it has greeted."""

    def __init__(self, locales: list[str] | None = None) -> None:
        self.locales = list(locales) if locales else list(DEMO_LOCALES)
        self._greeted: OrderedDict[str, None] = OrderedDict()

    def describe(self) -> str:
        return "demo bot"

    async def respond(self, turn: Turn) -> Reply:
        first_contact = self._first_contact(turn.conversation_id)
        reply = self._answer(turn)
        if first_contact and not self._is_greeting(turn) and not isinstance(turn.input, EventInput):
            reply.messages.insert(
                0, {"type": "text", "text": text_for(reply.locale or turn.locale, "greeting")}
            )
        return reply

    def _first_contact(self, conversation_id: str) -> bool:
        if conversation_id in self._greeted:
            self._greeted.move_to_end(conversation_id)
            return False
        self._greeted[conversation_id] = None
        if len(self._greeted) > _REMEMBERED:
            self._greeted.popitem(last=False)
        return True

    @staticmethod
    def _is_greeting(turn: Turn) -> bool:
        data = turn.input
        if isinstance(data, TextInput):
            return _normalize(data.text) in _GREETINGS
        if isinstance(data, PostbackInput):
            return data.payload in _GREETING_PAYLOADS
        return isinstance(data, EventInput) and data.name in _GREETING_EVENTS

    def _answer(self, turn: Turn) -> Reply:
        data = turn.input
        locale = turn.locale
        if self._is_greeting(turn):
            return Reply(messages=[_greeting(locale)])
        if isinstance(data, TextInput):
            return self._on_text(data.text, locale)
        if isinstance(data, PostbackInput):
            command = _normalize(data.payload)
            if command in SAMPLES or command in HELP_COMMANDS:
                return _command(command, locale)
            choice = data.title or data.payload
            return Reply(messages=[_text(text_for(locale, "you_picked", choice=choice))])
        if isinstance(data, MediaInput):
            kind = data.kind + (f" ({data.caption})" if data.caption else "")
            return Reply(messages=[_text(text_for(locale, "you_sent", kind=kind))])
        if isinstance(data, LocationInput):
            where = text_for(locale, "location", lat=f"{data.latitude:.5f}", lon=f"{data.longitude:.5f}")
            if data.name:
                where += f" ({data.name})"
            return Reply(messages=[_text(where)])
        return Reply()  # unsubscribed and other events: nothing to say

    def _on_text(self, text: str, locale: str) -> Reply:
        command = _normalize(text)
        if command in SAMPLES or command in HELP_COMMANDS:
            return _command(command, locale)
        match = _LOCALE_COMMAND.match(text.strip())
        if match:
            return _switch_locale(match.group(1), locale)
        return Reply(messages=[_text(text_for(locale, "you_said", text=text))])


def _normalize(text: str) -> str:
    return _PUNCTUATION.sub("", text).lower()


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _greeting(locale: str) -> dict[str, Any]:
    return {**_text(text_for(locale, "greeting")), "quick_replies": [_reply("help", "help")]}


def _help(locale: str) -> dict[str, Any]:
    commands = [*SAMPLES, "help"]
    return {**_text(text_for(locale, "help")), "quick_replies": [_reply(c, c) for c in commands]}


def _command(command: str, locale: str) -> Reply:
    if command in HELP_COMMANDS:
        return Reply(messages=[_help(locale)])
    return Reply(messages=SAMPLES[command]())


def _switch_locale(requested: str, current: str) -> Reply:
    try:
        locale = normalize_locale(requested)
    except ValueError:
        return Reply(messages=[_text(text_for(current, "bad_locale", tag=requested))])
    return Reply(messages=[_text(text_for(locale, "switched", tag=locale))], locale=locale)
