"""The console's texts in the operator's language, and the Jinja2 environment that renders its pages.

The console has a gettext domain of its own (``console``, next to the gateway's ``channelgate`` domain in
``channelgate/locales``): its texts are for operators, not end users, and ship in fewer languages (English
and Simplified Chinese). The language is the browser's (``Accept-Language``), matched the way the gateway
matches a conversation's locale to a catalog.

Texts in templates are ``{{ _("...") }}``; texts in Python are marked ``T("...")`` and translated when a
page renders (``T`` keeps them out of the gateway's own domain, whose extraction takes ``_``).

Autoescaping is on for every template: a user's message, a platform's error or an integration's label is
text on the page, never markup.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import jinja2

from channelgate.i18n import LOCALES_DIR, catalog_candidates

DOMAIN = "console"
TEMPLATES = Path(__file__).parent / "templates"
#: Languages the console's catalogs cover, for the page's ``lang`` attribute.
LANGUAGES = {"en": "en", "zh_Hans": "zh-Hans"}


def T(message: str) -> str:  # a gettext-style marker, extracted with `-k T`
    """Marks a console text in Python; it is translated when the page renders."""
    return message


@lru_cache(maxsize=64)
def translations(locale: str) -> tuple[_gettext.NullTranslations, str]:
    """The console's catalog for ``locale`` (most specific first) and the page language it stands for."""
    for name in catalog_candidates(locale):
        path = LOCALES_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if path.is_file():
            with path.open("rb") as fh:
                return _gettext.GNUTranslations(fh), LANGUAGES.get(name, name.replace("_", "-"))
    return _gettext.NullTranslations(), "en"


def preferred(accept_language: str | None) -> str:
    """The first language of an ``Accept-Language`` header that has a console catalog, else English."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        _, lang = translations(tag)
        if lang != "en" or tag.lower().startswith("en"):
            return tag
    return "en"


def gettext_for(locale: str) -> Callable[[str], str]:
    return translations(locale)[0].gettext


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env
