"""The gateway's own texts (the language menu, "Reply with the number of your choice", apologies) in the
conversation's locale, from gettext catalogs compiled with Babel under ``channelgate/locales``."""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from channelgate.locale import to_posix

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "channelgate"


@lru_cache(maxsize=256)
def translations(locale: str) -> _gettext.NullTranslations:
    """Catalogs for ``locale`` with fallbacks (``zh-Hans-CN`` → ``zh_Hans_CN``, ``zh_CN``, ``zh``)."""
    posix = to_posix(locale)
    parts = posix.split("_")
    candidates = [posix]
    if len(parts) == 3:
        candidates.append(f"{parts[0]}_{parts[2]}")
    candidates.append(parts[0])
    return _gettext.translation(DOMAIN, localedir=LOCALES_DIR, languages=candidates, fallback=True)


def gettext_for(locale: str) -> Callable[[str], str]:
    return translations(locale).gettext


def _(message: str) -> str:
    """Marks a text for extraction; translated later with gettext_for(locale)."""
    return message


APOLOGY = _("Sorry, something went wrong, please try again.")
