"""The gateway's own texts (the language menu, "Reply with the number of your choice", apologies) in the
conversation's locale, from gettext catalogs compiled with Babel under ``channelgate/locales``.

Catalogs are named by language, with a script where a language is written in two (``zh_Hans``,
``zh_Hant``), or a region where its regional forms differ enough to need their own (``pt_BR``). A locale
finds the most specific catalog there is: ``zh-CN`` → ``zh_Hans`` (CLDR's likely script for China),
``zh-TW`` → ``zh_Hant``, ``fr-CA`` → ``fr``; without one, the text stays in English.

Sources are marked with :func:`_` (module-level constants) or called through ``ctx.gettext("...")`` in
channels; ``pybabel extract`` finds both (see ``babel.cfg`` and docs/multilingual.md).
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from channelgate.locale import maximize

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "channelgate"


def catalog_candidates(locale: str) -> list[str]:
    """Catalog names to try for ``locale``, most specific first: ``zh-CN`` → zh_Hans_CN, zh_CN, zh_Hans,
    zh. Empty for text that is not a locale."""
    try:
        language, script, region = maximize(locale)
    except ValueError:
        return []
    names = [
        f"{language}_{script}_{region}",
        f"{language}_{region}",
        f"{language}_{script}",
        language,
    ]
    return list(dict.fromkeys(n for n in names if "__" not in n and not n.endswith("_")))


def available_catalogs() -> list[str]:
    """The catalogs shipped (directory names under ``locales``)."""
    return sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))


@lru_cache(maxsize=256)
def translations(locale: str) -> _gettext.NullTranslations:
    """The catalogs for ``locale``, most specific first, each falling back to the next, then to English."""
    chain: _gettext.NullTranslations | None = None
    last: _gettext.NullTranslations | None = None
    for name in catalog_candidates(locale):
        path = LOCALES_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if not path.is_file():
            continue
        with path.open("rb") as fh:
            catalog = _gettext.GNUTranslations(fh)
        if last is None:
            chain = catalog
        else:
            last.add_fallback(catalog)
        last = catalog
    return chain or _gettext.NullTranslations()


def gettext_for(locale: str) -> Callable[[str], str]:
    """``gettext`` in ``locale``'s catalog: the text translated, or the text itself when it has none."""
    return translations(locale).gettext


def _(message: str) -> str:
    """Marks a text for extraction; translated later with gettext_for(locale)."""
    return message


APOLOGY = _("Sorry, something went wrong, please try again.")
