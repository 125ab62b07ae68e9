"""Locales: validation and negotiation with Babel.

Locales are kept in BCP 47 form (``en-US``, ``zh-Hans-CN``); platforms that use underscores (``en_US``)
are converted at the edges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from babel import Locale, UnknownLocaleError

#: Region-less or script-only requests that should land on a specific supported locale.
_ALIASES = {"zh_TW": "zh_Hant_TW", "zh_HK": "zh_Hant_HK", "zh_MO": "zh_Hant_MO", "zh_CN": "zh_Hans_CN", "zh_SG": "zh_Hans_SG"}


def parse_locale(value: str) -> Locale:
    """A Babel Locale from BCP 47 (``pt-BR``) or POSIX (``pt_BR``) text, or ValueError saying why not."""
    text = value.strip().replace("-", "_")
    if not text:
        raise ValueError("empty locale (use a BCP 47 tag such as en-US)")
    try:
        return Locale.parse(text)
    except (UnknownLocaleError, ValueError):
        raise ValueError(f"{value!r} is not a locale Babel knows (use a BCP 47 tag such as en-US, zh-CN, pt-BR)") from None


def to_bcp47(locale: Locale) -> str:
    parts = [locale.language]
    if locale.script:
        parts.append(locale.script)
    if locale.territory:
        parts.append(locale.territory)
    return "-".join(parts)


def normalize_locale(value: str) -> str:
    """Validate a locale and give it back in BCP 47 form, as written by the user where possible."""
    parsed = parse_locale(value)
    if "-" in value or "_" in value:
        return value.strip().replace("_", "-")
    return to_bcp47(parsed)


def to_posix(value: str) -> str:
    """``en-US`` → ``en_US`` (WhatsApp template language codes, gettext catalogs)."""
    return value.replace("-", "_")


def _maximize(locale: Locale) -> Locale:
    """Fill in the likely script (zh-TW → zh-Hant-TW) using Babel's likely-subtags data."""
    key = str(locale)
    if key in _ALIASES:
        return Locale.parse(_ALIASES[key])
    return locale


def negotiate(requested: Iterable[str], supported: Sequence[str]) -> str | None:
    """The supported locale that best serves the user's preferences, or None.

    Tries, for each requested locale in order: an exact match; the same language and script (``zh-TW``
    picks ``zh-Hant`` over ``zh-CN``); the same language (``en-GB`` picks ``en-US``).
    """
    parsed: list[tuple[str, Locale]] = []
    for tag in supported:
        try:
            parsed.append((tag, _maximize(parse_locale(tag))))
        except ValueError:
            continue
    for raw in requested:
        try:
            want = _maximize(parse_locale(raw))
        except ValueError:
            continue
        for tag, have in parsed:
            if (have.language, have.script, have.territory) == (want.language, want.script, want.territory):
                return tag
        for tag, have in parsed:
            if have.language == want.language and (have.script or None) == (want.script or None) and want.script:
                return tag
        for tag, have in parsed:
            if have.language == want.language and not (want.script and have.script and want.script != have.script):
                return tag
    return None
