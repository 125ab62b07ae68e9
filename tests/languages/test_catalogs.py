"""The gateway's own texts: every text the source marks is translated in every shipped language, the
compiled catalogs match their sources, and locales find their catalog."""

# ruff: noqa: RUF001 - full-width punctuation and letters are the point: the texts are CJK

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from channelgate.i18n import (
    APOLOGY,
    DOMAIN,
    LOCALES_DIR,
    available_catalogs,
    catalog_candidates,
    gettext_for,
    translations,
)

#: the languages the issue asks for (Traditional Chinese is shipped too)
REQUIRED = ["en", "zh_Hans", "es", "fr", "de", "ja"]
ROOT = Path(__file__).resolve().parents[2]
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


@cache
def extracted() -> frozenset[str]:
    """The msgids ``pybabel extract -F babel.cfg`` finds in the source, extracted now (Babel's default
    keywords: ``_``, ``gettext``, ``ngettext``...; ``ctx.gettext("...")`` counts)."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = extract_from_dir(str(ROOT), method_map, options_map)
    return frozenset(message for _, _, message, _, _ in found if isinstance(message, str))


def catalog(language: str) -> Catalog:
    with (LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        return read_po(fh, locale=language)


def test_the_six_languages_are_shipped() -> None:
    assert set(REQUIRED) <= set(available_catalogs())


def test_the_source_marks_the_gateway_texts() -> None:
    texts = extracted()
    for text in [
        APOLOGY,
        "Reply with the number of your choice.",
        "{title}: {url}",
        "{title}: call {phone}",
        "Choose",
        "Choose a language:",
        "Language: {language}",
    ]:
        assert text in texts


@pytest.mark.parametrize("language", available_catalogs())
def test_every_marked_text_has_a_translation(language: str) -> None:
    entries = catalog(language)
    missing = sorted(t for t in extracted() if t not in entries or not entries[t].string)
    assert missing == [], f"{language}: translate these (make i18n, then edit the .po): {missing}"
    fuzzy = sorted(m.id for m in entries if m.id and m.fuzzy)
    assert fuzzy == [], f"{language}: fuzzy entries are not used by gettext: {fuzzy}"


def test_the_committed_template_holds_every_marked_text() -> None:
    with (LOCALES_DIR / f"{DOMAIN}.pot").open("rb") as fh:
        template = read_po(fh)
    assert sorted(extracted() - {m.id for m in template if m.id}) == []


@pytest.mark.parametrize("language", available_catalogs())
def test_translations_keep_the_placeholders(language: str) -> None:
    for message in catalog(language):
        if message.id and isinstance(message.id, str):
            assert sorted(_PLACEHOLDER.findall(message.string)) == sorted(_PLACEHOLDER.findall(message.id)), (
                f"{language}: {message.id!r} → {message.string!r}"
            )


@pytest.mark.parametrize("language", available_catalogs())
def test_the_compiled_catalog_is_the_source_compiled(language: str) -> None:
    """A .po edited without `make i18n` (pybabel compile) would ship stale texts."""
    compiled = translations(language.replace("_", "-"))
    for message in catalog(language):
        if message.id:
            assert compiled.gettext(message.id) == message.string, f"{language}: {message.id!r} is stale"


@pytest.mark.parametrize(
    ("locale", "apology"),
    [
        ("zh-CN", "抱歉，出了点问题，请重试。"),
        ("zh-Hans-CN", "抱歉，出了点问题，请重试。"),
        ("zh_CN", "抱歉，出了点问题，请重试。"),
        ("zh-SG", "抱歉，出了点问题，请重试。"),
        ("zh-TW", "抱歉，發生了一點問題，請再試一次。"),
        ("zh-Hant-HK", "抱歉，發生了一點問題，請再試一次。"),
        ("fr-FR", "Désolé, une erreur s'est produite. Veuillez réessayer."),
        ("fr-CA", "Désolé, une erreur s'est produite. Veuillez réessayer."),
        ("ja-JP", "申し訳ありません。問題が発生しました。もう一度お試しください。"),
        ("de-AT", "Entschuldigung, da ist etwas schiefgelaufen. Bitte noch einmal versuchen."),
        ("es-MX", "Lo sentimos, algo salió mal. Inténtalo de nuevo."),
        ("en-GB", APOLOGY),
        ("pt-BR", APOLOGY),  # no Portuguese catalog: English
        ("not a locale", APOLOGY),
    ],
)
def test_locales_find_their_catalog(locale: str, apology: str) -> None:
    assert gettext_for(locale)(APOLOGY) == apology


def test_catalog_lookup_goes_from_specific_to_general() -> None:
    assert catalog_candidates("zh-CN") == ["zh_Hans_CN", "zh_CN", "zh_Hans", "zh"]
    assert catalog_candidates("pt-BR") == ["pt_Latn_BR", "pt_BR", "pt_Latn", "pt"]
    assert catalog_candidates("???") == []


def test_rendering_helpers_use_the_conversation_language() -> None:
    from channelgate.channels.base import RenderContext
    from channelgate.channels.rendering import action_as_text, numbered_choices
    from channelgate.messages import CallAction, UrlAction

    ctx = RenderContext(user_id="u", locale="fr-FR", now=0.0, gettext=gettext_for("fr-FR"))
    assert (
        numbered_choices("Taille ?", ["S", "M"], ctx).splitlines()[-1]
        == "Répondez avec le numéro de votre choix."
    )
    url = UrlAction(title="Site", url="https://example.com")
    call = CallAction(title="Support", phone="+33123456789")
    assert action_as_text(url, ctx.gettext) == "Site\u00a0: https://example.com"
    assert action_as_text(call, gettext_for("ja-JP")) == "Support：+33123456789 に電話"
