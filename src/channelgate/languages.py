"""Language switching inside a conversation: the language command, the user's pick, detection.

The pipeline asks :meth:`Languages.decide` before each turn. A decision may answer the user itself (the
language menu, a confirmation), change the conversation's locale, replace what the bot receives (a
``locale_changed`` event) or skip the bot entirely. The bot's own ``Reply.locale`` is the third way to
switch; the pipeline applies it after the bot answers.

* **The command.** A whole message equal to one of ``languages.triggers`` (``/lang``, ``language``,
  ``语言``...; any case, full-width forms folded) opens the menu: the supported languages, each in its own
  language, as quick replies with ``locale:<tag>`` payloads (a list when there are more than the channel
  shows). ``/lang fr``, ``language français``, ``语言 日本語`` pick at once. A postback whose payload is a
  trigger opens the menu too, so a bot can offer a "Language" button with the payload ``/lang``.
* **The pick.** A ``locale:<tag>`` postback, or, right after the menu, the text of a language's name or its
  number. The conversation's locale changes and the bot receives
  ``{"type": "event", "name": "locale_changed", "data": {"from": ..., "to": ...}}`` instead of the pick.
* **Detection** (``auto_detect: true`` on the integration): a text long enough, in a language the bot
  speaks, detected with confidence, switches the conversation; the text itself still goes to the bot.

Names in the menu follow one rule: the language's name in that language from CLDR (Babel), its first letter
capitalised as at the start of a menu line ("Français", "Español", "中文", "日本語"). When the bot speaks
two variants of one language, each gets CLDR's own name for the variant ("简体中文" and "繁體中文",
"American English" and "British English"), or "name (region)" where CLDR has none ("Français (France)").
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from channelgate.config import LanguageSettings, fold
from channelgate.i18n import _, gettext_for
from channelgate.locale import language_of, maximize, negotiate, parse_locale, parse_tag, same_locale
from channelgate.messages import ListItem, ListMessage, ReplyAction, Text, UniversalMessage
from channelgate.turns import EventInput, Input, PostbackInput, TextInput

if TYPE_CHECKING:
    from channelgate.config import Integration

log = logging.getLogger("channelgate.languages")

#: payload prefix of the menu's buttons; a postback ``locale:fr-FR`` picks French
PAYLOAD_PREFIX = "locale:"
#: the event the bot receives when the user (or detection) changed the conversation's language
LOCALE_CHANGED = "locale_changed"
#: key of the language state in the conversation's ``state``
STATE_KEY = "languages"
#: seconds after the menu during which a bare number or name picks from it
MENU_TTL = 30 * 60.0

# Translators: above the list of languages, each shown in its own language
MENU_PROMPT = _("Choose a language:")
# Translators: the button that opens the list of languages (at most 20 characters on WhatsApp)
MENU_BUTTON = _("Languages")
# Translators: said after the user chose a language; {language} is its name in that language ("Français")
CONFIRMATION = _("Language: {language}")

#: punctuation a user may end a command with (full-width forms are folded to these first)
_TRAILING = re.compile(r"[\s.!?:,;)\u3001\u3002]+$")
_NUMBER = re.compile(r"^(\d{1,3})[.)]?$")


@dataclass
class LanguageDecision:
    #: what the gateway says itself before the bot's reply (the menu, a confirmation)
    messages: list[UniversalMessage] = field(default_factory=list)
    #: the conversation's new locale, if it changes
    locale: str | None = None
    #: what the bot receives instead of the user's input; None means the bot is not called
    bot_input: Input | None = None
    #: inputs the bot receives first, each in its own call, when ``bot_input`` is still the user's own
    #: (``locale_changed`` after a detected switch); their replies go before the reply to ``bot_input``
    events: list[EventInput] = field(default_factory=list)
    #: the conversation's new ``state`` (all of it), or None to leave it as it is
    state: dict[str, Any] | None = None


# --- names --------------------------------------------------------------------------------------------


def _capitalise(name: str) -> str:
    return name[:1].upper() + name[1:]


def language_label(tag: str, supported: Iterable[str] = ()) -> str:
    """The name of ``tag`` in its own language, as the menu shows it (see the module docstring); the tag
    itself for one Babel cannot name (a bot may report anything as its locales)."""
    try:
        locale = parse_locale(tag)
        language, script, region = maximize(tag)
    except ValueError:
        return tag
    siblings = [s for s in supported if not same_locale(s, tag) and language_of(s) == language]
    name = locale.languages.get(language) or language
    if siblings:
        scripts = {maximize(s)[1] for s in siblings}
        key = f"{language}_{script}" if script not in scripts else f"{language}_{region}"
        qualifier = locale.scripts.get(script) if script not in scripts else locale.territories.get(region)
        variant = locale.languages.get(key)
        if variant:
            name = variant
        elif qualifier:
            name = f"{name} ({qualifier})"
    return _capitalise(name)


@lru_cache(maxsize=512)
def _names(tag: str, supported: tuple[str, ...], current: str) -> frozenset[str]:
    """Everything a user may type to mean ``tag``: its menu label, its own, English and current-language
    names, the tag itself (``fr``, ``fr-FR``, ``fr_FR``)."""
    names = {language_label(tag, supported), tag}
    try:
        parsed = parse_tag(tag)
    except ValueError:
        return frozenset(fold(n) for n in names)
    language = parsed.language
    names.update({str(parsed), parsed.posix, language})
    for where in (tag, "en", current):
        try:
            names.add(parse_locale(where).languages.get(language) or language)
        except ValueError:
            continue
    return frozenset(fold(n) for n in names if n)


def _clean(text: str) -> str:
    return _TRAILING.sub("", fold(text))


def resolve(text: str, supported: list[str], current: str) -> str | None:
    """The supported locale ``text`` names: a label ("Français"), a name in English or the current
    language ("French", "francés"), or a tag ("fr", "fr-CA" → fr-FR by negotiation). None otherwise."""
    wanted = _clean(text)
    if not wanted:
        return None
    matches = [tag for tag in supported if wanted in _names(tag, tuple(supported), current)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        exact = [tag for tag in matches if fold(language_label(tag, supported)) == wanted]
        return exact[0] if exact else negotiate([language_of(matches[0])], matches)
    try:
        parse_tag(wanted)
    except ValueError:
        return None
    return negotiate([wanted], supported)


# --- detection ----------------------------------------------------------------------------------------

#: close languages the detector must also know, so that a neighbour is not taken for the bot's language
#: (Portuguese for Spanish, Dutch for German): Romance, Germanic, Slavic, Nordic, CJK and other families
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "en": ("nl", "de"),
    "es": ("pt", "it", "ca"),
    "pt": ("es", "it", "ca"),
    "fr": ("it", "ca", "es"),
    "it": ("es", "pt", "fr"),
    "ca": ("es", "fr", "it"),
    "ro": ("it", "es"),
    "de": ("nl", "da"),
    "nl": ("de", "af"),
    "af": ("nl",),
    "sv": ("nb", "nn", "da"),
    "da": ("nb", "nn", "sv"),
    "nb": ("nn", "da", "sv"),
    "nn": ("nb", "da", "sv"),
    "zh": ("ja", "ko"),
    "ja": ("zh", "ko"),
    "ko": ("ja", "zh"),
    "ru": ("uk", "be", "bg"),
    "uk": ("ru", "be"),
    "be": ("ru", "uk"),
    "bg": ("mk", "ru"),
    "mk": ("bg", "sr"),
    "pl": ("cs", "sk"),
    "cs": ("sk", "pl"),
    "sk": ("cs", "pl"),
    "hr": ("bs", "sr", "sl"),
    "bs": ("hr", "sr"),
    "sr": ("hr", "bs"),
    "sl": ("hr",),
    "id": ("ms",),
    "ms": ("id",),
    "tr": ("az",),
    "az": ("tr",),
    "hi": ("mr",),
    "mr": ("hi",),
    "ar": ("fa", "ur"),
    "fa": ("ar", "ur"),
    "ur": ("ar", "fa"),
}
#: CLDR language codes Lingua spells otherwise
_TO_LINGUA = {"fil": "tl", "no": "nb"}
_FROM_LINGUA = {v: k for k, v in _TO_LINGUA.items()}

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+")
_HANDLE = re.compile(r"[@#]\w+")
_CJK = re.compile(
    r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\uff66-\uff9f]"
)
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class Detection:
    language: str
    confidence: float


def clean_for_detection(text: str) -> str:
    """The text without what says nothing of its language: links, e-mail addresses, @handles, #tags."""
    return _HANDLE.sub(" ", _EMAIL.sub(" ", _URL.sub(" ", text)))


def long_enough(text: str, settings: LanguageSettings) -> bool:
    """At least ``min_words`` words, or ``min_cjk_chars`` Chinese, Japanese or Korean characters (which
    carry about as much as half a word each): one word, a name or a greeting never switches."""
    cjk = len(_CJK.findall(text))
    words = len(_WORD.findall(_CJK.sub(" ", text)))
    return words >= settings.min_words or cjk >= settings.min_cjk_chars


@lru_cache(maxsize=64)
def _candidates(supported: tuple[str, ...], also: tuple[str, ...]) -> frozenset[str]:
    from lingua import IsoCode639_1

    languages = {language_of(tag) for tag in supported} | set(also)
    for language in list(languages):
        languages.update(NEIGHBOURS.get(language, ()))
    codes = set()
    for language in languages:
        code = _TO_LINGUA.get(language, language)
        try:
            IsoCode639_1.from_str(code)
        except ValueError:
            continue
        codes.add(code)
    return frozenset(codes)


class Detector:
    """Lingua's detector (its models ship inside the package: nothing is downloaded), one per set of
    candidate languages and accuracy mode, built once and shared by every conversation."""

    #: built detectors, shared by every gateway in the process (each costs a second and ~15 MB a language)
    _built: ClassVar[dict[tuple[frozenset[str], str], Any]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @staticmethod
    def candidates(supported: Iterable[str], also: Iterable[str] = ()) -> frozenset[str]:
        """The bot's languages, their neighbours and ``also``, as Lingua's ISO 639-1 codes it knows."""
        return _candidates(tuple(supported), tuple(also))

    def detector(self, codes: frozenset[str], accuracy: str) -> Any:
        """The detector for ``codes``, built (and its models loaded) on first use."""
        key = (codes, accuracy)
        with self._lock:
            found = self._built.get(key)
            if found is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                started = time.perf_counter()
                builder = LanguageDetectorBuilder.from_iso_codes_639_1(
                    *(IsoCode639_1.from_str(c) for c in sorted(codes))
                )
                if accuracy == "low":
                    builder = builder.with_low_accuracy_mode()
                found = self._built[key] = builder.with_preloaded_language_models().build()
                log.info(
                    "language detector for %s (%s accuracy) loaded in %.2fs",
                    ", ".join(sorted(codes)),
                    accuracy,
                    time.perf_counter() - started,
                )
        return found

    def detect(self, text: str, codes: frozenset[str], accuracy: str) -> Detection | None:
        """The most likely language of ``text`` among ``codes`` and its confidence (0 to 1)."""
        if len(codes) < 2:
            return None
        values = self.detector(codes, accuracy).compute_language_confidence_values(text)
        if not values:
            return None
        best = values[0]
        code = best.language.iso_code_639_1.name.lower()
        return Detection(_FROM_LINGUA.get(code, code), float(best.value))


# --- the decision -------------------------------------------------------------------------------------


def _pending_menu(state: Mapping[str, Any] | None, now: float) -> list[str] | None:
    """The locales of the menu shown last, while a bare number or name may still pick from it."""
    entry = (state or {}).get(STATE_KEY)
    if not isinstance(entry, dict):
        return None
    menu, at = entry.get("menu"), entry.get("at")
    if not isinstance(menu, list) or not isinstance(at, int | float) or now - at > MENU_TTL:
        return None
    return [str(tag) for tag in menu]


def _settle_state(
    decision: LanguageDecision | None, input: Input, state: Mapping[str, Any] | None, now: float
) -> LanguageDecision | None:
    """The state to store: the menu just shown, or none once anything else came after it; the other
    keys of the conversation's state are kept. Nothing when the pipeline keeps no state (None)."""
    menu = decision.state.get(STATE_KEY) if decision is not None and decision.state else None
    if state is None:
        if decision is not None:
            decision.state = None
        return decision
    others = {k: v for k, v in state.items() if k != STATE_KEY}
    if menu is not None:
        assert decision is not None
        decision.state = {**others, STATE_KEY: {"menu": menu, "at": now}}
    elif STATE_KEY in state:
        decision = decision or LanguageDecision(bot_input=input)
        decision.state = others
    return decision


class Languages:
    """Decides, before each turn, whether the gateway handles it as a language matter (see the module)."""

    def __init__(self, settings: LanguageSettings | None = None) -> None:
        #: for integrations that carry no settings of their own (those created through the API)
        self.settings = settings or LanguageSettings()
        self.detector = Detector()

    def settings_for(self, integration: Integration | None) -> LanguageSettings:
        """The integration's language settings (the config's section), else the gateway's."""
        if integration is not None and integration.languages is not None:
            return integration.languages
        return self.settings

    def warm_up(self, integration: Integration, supported: list[str]) -> None:
        """Load the detector an integration with ``auto_detect`` will use (a second or so, once), so
        that its first detection does not hold up a turn. A no-op for other integrations."""
        if integration.auto_detect:
            settings = self.settings_for(integration)
            codes = self.detector.candidates(supported, settings.detect_also)
            self.detector.detector(codes, settings.accuracy)

    def decide(
        self,
        integration: Integration | None,
        input: Input,
        current: str,
        supported: list[str],
        *,
        state: Mapping[str, Any] | None = None,
    ) -> LanguageDecision | None:
        """None: an ordinary turn. Otherwise what to do instead (see LanguageDecision).

        ``state`` is the conversation's stored state: with it, a bare number or language name right after
        the menu picks from it, and the decision's ``state`` must be stored. Without it (None), only
        explicit picks work (buttons, ``/lang fr``).
        """
        now = time.time()
        settings = self.settings_for(integration)
        commands = (integration is None or integration.language_command) and len(supported) > 1
        pending = _pending_menu(state, now) if commands else None
        decision = None
        if commands:
            decision = self._command(input, current, supported, settings, pending, integration)
        if decision is None and integration is not None and integration.auto_detect:
            decision = self._detect(input, current, supported, settings)
        return _settle_state(decision, input, state, now)

    # --- the command and the pick ---

    def _command(
        self,
        input: Input,
        current: str,
        supported: list[str],
        settings: LanguageSettings,
        pending: list[str] | None,
        integration: Integration | None,
    ) -> LanguageDecision | None:
        if isinstance(input, PostbackInput):
            if input.payload.startswith(PAYLOAD_PREFIX):
                wanted = input.payload[len(PAYLOAD_PREFIX) :]
                chosen = next((t for t in supported if same_locale(t, wanted)), None)
                if chosen is None:  # a stale menu: the bot's languages changed since
                    return self._menu(current, supported, integration)
                return self._pick(chosen, current, supported, settings)
            if fold(input.payload) in settings.triggers:
                return self._menu(current, supported, integration)
            return None
        if not isinstance(input, TextInput):
            return None
        text = _clean(input.text)
        if text in settings.triggers:
            return self._menu(current, supported, integration)
        head, _sep, rest = text.partition(" ")
        if head in settings.triggers and rest.strip():
            chosen = resolve(rest, supported, current)
            if chosen is not None:
                return self._pick(chosen, current, supported, settings)
            if head.startswith("/"):  # "/lang xx": plainly the command, with a language we do not have
                return self._menu(current, supported, integration)
            return None  # "language is hard": not for us
        if pending:
            chosen = self._from_menu(text, pending, current)
            if chosen is not None and chosen in supported:
                return self._pick(chosen, current, supported, settings)
        return None

    @staticmethod
    def _from_menu(text: str, menu: list[str], current: str) -> str | None:
        number = _NUMBER.match(text)
        if number:
            index = int(number.group(1))
            return menu[index - 1] if 1 <= index <= len(menu) else None
        return resolve(text, menu, current)

    def _menu(self, current: str, supported: list[str], integration: Integration | None) -> LanguageDecision:
        """The supported languages as quick replies, or a list when the channel shows fewer; the menu is
        kept in the state so that a bare number or name can answer it."""
        gettext = gettext_for(current)
        prompt = gettext(MENU_PROMPT)
        choices = [(language_label(tag, supported), PAYLOAD_PREFIX + tag) for tag in supported]
        limit = integration.limits.quick_replies_max if integration is not None else 13
        message: UniversalMessage
        if len(choices) <= limit:
            actions = [ReplyAction(title=title, payload=payload) for title, payload in choices]
            message = Text(text=prompt, quick_replies=actions)
        else:
            items = [ListItem(title=title, payload=payload) for title, payload in choices]
            message = ListMessage(text=prompt, button=gettext(MENU_BUTTON), items=items)
        return LanguageDecision(messages=[message], state={STATE_KEY: list(supported)})

    @staticmethod
    def _confirmation(locale: str, supported: list[str]) -> Text:
        text = gettext_for(locale)(CONFIRMATION).format(language=language_label(locale, supported))
        return Text(text=text)

    def _pick(
        self, chosen: str, current: str, supported: list[str], settings: LanguageSettings
    ) -> LanguageDecision:
        if same_locale(chosen, current):  # nothing changes, but the user asked: say so, skip the bot
            return LanguageDecision(messages=[self._confirmation(current, supported)])
        return LanguageDecision(
            messages=[self._confirmation(chosen, supported)] if settings.confirm else [],
            locale=chosen,
            bot_input=changed(current, chosen),
        )

    # --- detection ---

    def _detect(
        self, input: Input, current: str, supported: list[str], settings: LanguageSettings
    ) -> LanguageDecision | None:
        if not isinstance(input, TextInput) or len(supported) < 2:
            return None
        text = clean_for_detection(input.text)
        if not long_enough(text, settings):
            return None
        try:
            codes = self.detector.candidates(supported, settings.detect_also)
            found = self.detector.detect(text, codes, settings.accuracy)
        except Exception:  # detection is a convenience: a failure must not cost the user the turn
            log.exception("language detection failed")
            return None
        if found is None or found.confidence < settings.min_confidence:
            return None
        now_language = language_of(current)
        if found.language == now_language:
            return None
        if {found.language, now_language} <= {"zh", "ja"} and not _KANA.search(text):
            return None  # Han characters alone are Chinese or Japanese: never a reason to switch between them
        chosen = negotiate([found.language], supported)
        if chosen is None or language_of(chosen) != found.language:
            return None
        log.info(
            "detected %s (%.2f): switching from %s to %s", found.language, found.confidence, current, chosen
        )
        return LanguageDecision(
            messages=[self._confirmation(chosen, supported)] if settings.confirm else [],
            locale=chosen,
            bot_input=input,
            events=[changed(current, chosen)],
        )


def changed(old: str, new: str) -> EventInput:
    """The event that tells the bot the conversation's language changed."""
    return EventInput(name=LOCALE_CHANGED, data={"from": old, "to": new})
