"""The console's texts (gettext domain ``console``): every text its templates and code mark is in the
template and translated in English and Simplified Chinese, placeholders kept, and the compiled catalogs are
the sources compiled (`make i18n`)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from channelgate.i18n import LOCALES_DIR
from channelgate.web.console.texts import DOMAIN, gettext_for, preferred, translations

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ["en", "zh_Hans"]
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


@cache
def extracted() -> frozenset[str]:
    """What `make i18n` extracts for the console (babel-console.cfg, keyword T besides the defaults)."""
    with (ROOT / "babel-console.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {"_": None, "gettext": None, "T": None}
    found = extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)
    return frozenset(message for _, _, message, _, _ in found if isinstance(message, str))


def catalog(language: str) -> Catalog:
    with (LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        return read_po(fh, locale=language)


def test_the_console_texts_are_extracted() -> None:
    texts = extracted()
    assert {"Sign in", "Callback URL", "Replay selected", "Wrong name or password.", "delivered"} <= texts
    with (LOCALES_DIR / f"{DOMAIN}.pot").open("rb") as fh:
        template = read_po(fh)
    assert sorted(texts - {m.id for m in template if m.id}) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_console_text_is_translated(language: str) -> None:
    entries = catalog(language)
    missing = sorted(t for t in extracted() if t not in entries or not entries[t].string)
    assert missing == [], f"{language}: translate these (make i18n, then edit the .po): {missing}"
    assert [m.id for m in entries if m.id and m.fuzzy] == []
    for message in entries:
        if message.id:
            assert sorted(_PLACEHOLDER.findall(message.string)) == sorted(
                _PLACEHOLDER.findall(str(message.id))
            )


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_console_catalog_is_current(language: str) -> None:
    compiled = gettext_for(language.replace("_", "-"))
    for message in catalog(language):
        if message.id:
            assert compiled(str(message.id)) == message.string, f"{language}: {message.id!r} is stale"


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        ("zh-Hans-SG", "zh-Hans"),
        ("fr-FR,zh-CN;q=0.5", "zh-Hans"),  # no French console catalog: the next language that has one
        ("en-GB,zh-CN;q=0.5", "en"),
        ("", "en"),
        ("*", "en"),
    ],
)
def test_the_browser_language_picks_the_catalog(header: str, lang: str) -> None:
    assert translations(preferred(header))[1] == lang
