"""Locales: validation, canonical form and negotiation, with Babel's CLDR data.

Locales are kept in BCP 47 form with canonical case (``en-US``, ``zh-Hans-CN``, ``es-419``), as the user
wrote their subtags: ``zh-CN`` stays ``zh-CN`` (people write it so, and bots list it so), it is not
rewritten to ``zh-Hans-CN``. Platforms that use underscores (``en_US`` from Messenger, ``zh_CN`` from
WeChat) or POSIX suffixes (``en_US.UTF-8``) are accepted everywhere and converted at the edges.

Two tags mean the same locale when they are equal once *maximized* with CLDR's likely subtags: ``zh-CN``,
``zh-Hans`` and ``zh-Hans-CN`` are one locale; ``en`` is ``en-Latn-US``. :func:`negotiate` builds on that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import get_global

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_SCRIPT = re.compile(r"^[a-z]{4}$")
_REGION = re.compile(r"^(?:[a-z]{2}|\d{3})$")
_VARIANT = re.compile(r"^(?:[a-z0-9]{5,8}|\d[a-z0-9]{3})$")
_SEPARATOR = re.compile(r"[-_]")
_Q_VALUE = re.compile(r"^q=([01](?:\.\d{0,3})?)$")


@dataclass(frozen=True, slots=True)
class Tag:
    """A parsed locale: language (aliases resolved: ``iw`` → ``he``), optional script, region, variants."""

    language: str
    script: str | None = None
    region: str | None = None
    variants: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "-".join(p for p in (self.language, self.script, self.region, *self.variants) if p)

    @property
    def posix(self) -> str:
        return str(self).replace("-", "_")


@lru_cache(maxsize=1)
def _english() -> Locale:
    return Locale("en")


def _known_language(language: str) -> bool:
    likely: Mapping[str, Any] = get_global("likely_subtags")
    return language in _english().languages or language in likely


def parse_tag(value: str) -> Tag:
    """A :class:`Tag` from BCP 47 (``pt-BR``) or POSIX (``pt_BR``, ``pt_BR.UTF-8``) text.

    ValueError says why not. Extensions (``-u-ca-buddhist``, ``-x-...``) are dropped: they never choose a
    language. The language must be one CLDR knows, the script and region well-formed and known to CLDR.
    """
    text = value.strip().split(".", 1)[0].split("@", 1)[0]
    if not text:
        raise ValueError("empty locale (use a BCP 47 tag such as en-US)")
    parts = [p.lower() for p in _SEPARATOR.split(text)]
    language = parts.pop(0)
    if not _LANGUAGE.match(language) or language == "und":
        raise ValueError(f"{value!r} is not a locale (use a BCP 47 tag such as en-US, zh-CN, pt-BR)")
    script = region = None
    variants: list[str] = []
    for part in parts:
        if len(part) == 1:  # a singleton starts an extension or a private use part: ignored
            break
        if script is None and region is None and not variants and _SCRIPT.match(part):
            script = part.title()
        elif region is None and not variants and _REGION.match(part):
            region = part.upper()
        elif _VARIANT.match(part):
            variants.append(part)
        else:
            raise ValueError(f"{value!r} is not a locale: {part!r} is not a script, region or variant")
    alias: Mapping[str, Any] = get_global("language_aliases")
    if language in alias:  # iw → he, in → id, sh → sr_Latn
        target = Tag(*(_split_posix(alias[language])))
        language, script, region = target.language, script or target.script, region or target.region
    if not _known_language(language):
        raise ValueError(f"{value!r} is not a language Babel knows (use a BCP 47 tag such as en-US, zh-CN)")
    english = _english()
    if script is not None and script not in english.scripts:
        raise ValueError(f"{value!r} is not a locale: unknown script {script!r}")
    if region is not None and (region not in english.territories or region == "ZZ"):
        raise ValueError(f"{value!r} is not a locale: unknown region {region!r}")
    return Tag(language, script, region, tuple(variants))


def _split_posix(value: str) -> tuple[str, str | None, str | None]:
    parts = value.split("_")
    language, script, region = parts[0], None, None
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            script = part
        else:
            region = part
    return language, script, region


def parse_locale(value: str) -> Locale:
    """A Babel Locale for ``value`` (for display names and formatting), or ValueError saying why not.

    Babel only has data for some language-region pairs (``en-CN`` is a valid tag it has no data for), so
    the Locale is the closest it has: the tag itself, else language and script, else the language.
    """
    tag = parse_tag(value)
    for candidate in (
        tag.posix,
        f"{tag.language}_{tag.script}_{tag.region}" if tag.script and tag.region else None,
        f"{tag.language}_{tag.script}" if tag.script else None,
        tag.language,
    ):
        if not candidate:
            continue
        try:
            locale = Locale.parse(candidate)
        except (UnknownLocaleError, ValueError, LookupError):
            continue
        # Babel turns zh_Hant_CN into zh_Hans_CN: only a Locale in the tag's own script will do
        if tag.script is None or locale.script in (None, tag.script):
            return locale
    raise ValueError(f"{value!r}: Babel has no data for this language")


def normalize_locale(value: str) -> str:
    """Validate a locale and give it back as a BCP 47 tag with canonical case: ``en_us`` → ``en-US``,
    ``zh_hans_cn`` → ``zh-Hans-CN``, ``iw`` → ``he``. The subtags the user wrote are kept."""
    return str(parse_tag(value))


def to_bcp47(locale: Locale) -> str:
    parts = [locale.language]
    if locale.script:
        parts.append(locale.script)
    if locale.territory:
        parts.append(locale.territory)
    return "-".join(parts)


def to_posix(value: str) -> str:
    """``en-US`` → ``en_US`` (WhatsApp template language codes, gettext catalogs)."""
    return value.replace("-", "_")


def language_of(value: str) -> str:
    """The language subtag (``zh-Hant-TW`` → ``zh``), or ``""`` for text that is not a locale."""
    try:
        return parse_tag(value).language
    except ValueError:
        return ""


# --- maximizing and comparing ---------------------------------------------------------------------------


def _likely(key: str) -> tuple[str, str | None, str | None] | None:
    likely: Mapping[str, Any] = get_global("likely_subtags")
    found = likely.get(key)
    return _split_posix(found) if found else None


@lru_cache(maxsize=1024)
def maximize(value: str) -> tuple[str, str, str]:
    """Language, script and region, the missing ones filled in from CLDR's likely subtags (the "Add Likely
    Subtags" algorithm of UTS #35): ``zh-TW`` → zh Hant TW, ``zh-Hant`` → zh Hant TW, ``en`` → en Latn US,
    ``zh-Hant-CN`` keeps its script. ValueError for text that is not a locale."""
    tag = parse_tag(value)
    lang, script, region = tag.language, tag.script, tag.region
    keys = [
        f"{lang}_{script}_{region}" if script and region else None,
        f"{lang}_{region}" if region else None,
        f"{lang}_{script}" if script else None,
        lang,
    ]
    for key in keys:
        found = _likely(key) if key else None
        if found:
            script, region = script or found[1], region or found[2]
            break
    return lang, script or "", region or ""


def same_locale(a: str, b: str) -> bool:
    """Whether two tags name the same locale (``zh-CN`` and ``zh-Hans-CN``; ``en`` and ``en-US``)."""
    try:
        return maximize(a) == maximize(b)
    except ValueError:
        return False


def _parent(lang: str, script: str, region: str) -> str | None:
    """CLDR's parent locale when it is not the language itself: en-AU → en_001, es-MX → es_419."""
    parents: Mapping[str, Any] = get_global("parent_exceptions")
    return parents.get(f"{lang}_{script}_{region}") or parents.get(f"{lang}_{region}")


# --- negotiation ----------------------------------------------------------------------------------------


def parse_accept_language(header: str) -> list[str]:
    """The tags of an HTTP ``Accept-Language`` value, most wanted first (``q=0`` ones left out)."""
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        tag, *params = (p.strip() for p in item.split(";"))
        quality = 1.0
        for param in params:
            match = _Q_VALUE.match(param.replace(" ", ""))
            if match:
                quality = float(match.group(1))
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def _requested(values: Iterable[str]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for value in values:
        if not value:
            continue
        tags = parse_accept_language(value) if ("," in value or ";" in value) else [value]
        for tag in tags:
            try:
                out.append(maximize(tag))
            except ValueError:
                continue
    return out


def _best(want: tuple[str, str, str], candidates: list[tuple[str, tuple[str, str, str]]]) -> str | None:
    """Among supported locales of the wanted language, the closest: the same CLDR parent (en-AU → en-GB,
    both en_001; pt-AO → pt-PT), then the language's default region (es → es-ES), then the bot's order."""
    if not candidates:
        return None
    lang, script, region = want
    parent = _parent(lang, script, region)
    if parent:
        for tag, (l2, s2, r2) in candidates:
            if parent in (_parent(l2, s2, r2), f"{l2}_{r2}"):
                return tag
    default = maximize(f"{lang}-{script}") if script else maximize(lang)
    for tag, have in candidates:
        if have[2] == default[2]:
            return tag
    return candidates[0][0]


def negotiate(requested: Iterable[str], supported: Sequence[str]) -> str | None:
    """The supported locale that best serves the user's preferences, or None when none does.

    ``requested`` holds the user's locales, most wanted first, in any form platforms use (``en_US``,
    ``zh-Hant-TW``, an ``Accept-Language`` value). For each in turn: the same locale (``zh-CN`` matches
    ``zh-Hans-CN``, ``en`` matches ``en-US``), else the same language and script in another region
    (``en-GB`` → ``en-US``, ``zh-TW`` → ``zh-Hant``). Only when no requested locale has such a match, the
    same language in another script (``zh-TW`` → ``zh-CN``): readable, but second best to the user's
    next choice of language.
    """
    have: list[tuple[str, tuple[str, str, str]]] = []
    for tag in supported:
        try:
            have.append((tag, maximize(tag)))
        except ValueError:
            continue
    wants = _requested(requested)
    for want in wants:
        for tag, maximized in have:
            if maximized == want:
                return tag
        same_script = [(t, m) for t, m in have if m[:2] == want[:2]]
        chosen = _best(want, same_script)
        if chosen:
            return chosen
    for want in wants:
        chosen = _best(want, [(t, m) for t, m in have if m[0] == want[0]])
        if chosen:
            return chosen
    return None
