"""Locale tags: canonical form, CLDR maximization, negotiation (tables), names in the menu."""

from __future__ import annotations

import pytest

from channelgate.languages import language_label
from channelgate.locale import maximize, negotiate, normalize_locale, parse_accept_language, same_locale

from .harness import LABELS, SIX


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("en-US", "en-US"),
        ("en_US", "en-US"),  # Messenger
        ("en-us", "en-US"),
        ("EN", "en"),
        ("zh_CN", "zh-CN"),  # WeChat
        ("zh-CN", "zh-CN"),  # kept as written, not rewritten to zh-Hans-CN
        ("zh-hans-cn", "zh-Hans-CN"),
        ("zh-Hant-TW", "zh-Hant-TW"),
        ("pt_BR.UTF-8", "pt-BR"),  # POSIX environment
        ("de_DE@euro", "de-DE"),
        ("es-419", "es-419"),
        ("iw", "he"),  # deprecated codes resolved by CLDR's aliases
        ("sh", "sr-Latn"),
        ("en-US-u-ca-gregory", "en-US"),  # extensions dropped
        ("de-CH-1996", "de-CH-1996"),
        ("  fr-fr  ", "fr-FR"),
    ],
)
def test_locales_are_kept_in_canonical_bcp47_form(given: str, canonical: str) -> None:
    assert normalize_locale(given) == canonical


@pytest.mark.parametrize(
    "bad", ["", "  ", "und", "C", "xx", "xx-??", "en-ZZ", "english", "e", "12", "en-Qaaa"]
)
def test_text_that_is_not_a_locale_is_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ValueError, match=r"locale|language"):
        normalize_locale(bad)


@pytest.mark.parametrize(
    ("tag", "maximized"),
    [
        ("zh-TW", ("zh", "Hant", "TW")),
        ("zh-Hant", ("zh", "Hant", "TW")),
        ("zh", ("zh", "Hans", "CN")),
        ("zh-CN", ("zh", "Hans", "CN")),
        ("zh-Hant-CN", ("zh", "Hant", "CN")),  # an explicit script is kept
        ("en", ("en", "Latn", "US")),
        ("en-GB", ("en", "Latn", "GB")),
        ("sr", ("sr", "Cyrl", "RS")),
        ("ja", ("ja", "Jpan", "JP")),
        ("en-CN", ("en", "Latn", "CN")),  # a valid tag Babel has no locale data for
    ],
)
def test_maximize_fills_in_likely_script_and_region(tag: str, maximized: tuple[str, str, str]) -> None:
    assert maximize(tag) == maximized


def test_same_locale_compares_maximized_forms() -> None:
    assert same_locale("zh-CN", "zh-Hans-CN") and same_locale("en", "en-US") and same_locale("fr", "fr-FR")
    assert not same_locale("zh-CN", "zh-TW") and not same_locale("en-GB", "en-US")
    assert not same_locale("nonsense!", "en-US")


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (["en-US"], "en-US"),
        (["en_US"], "en-US"),
        (["en"], "en-US"),
        (["en-GB"], "en-US"),  # region fallback: same language and script
        (["zh_CN"], "zh-CN"),
        (["zh-Hans-CN"], "zh-CN"),
        (["zh-Hans"], "zh-CN"),
        (["zh-SG"], "zh-CN"),  # Singapore writes Simplified
        (["zh-TW"], "zh-CN"),  # no Traditional: the other script is better than another language...
        (["zh-TW", "en"], "en-US"),  # ...unless the user's next choice is a language we have
        (["fr-CA"], "fr-FR"),
        (["fr_BE"], "fr-FR"),
        (["es-MX"], "es-ES"),
        (["ja"], "ja-JP"),
        (["ja_JP"], "ja-JP"),
        (["de-AT"], "de-DE"),
        (["pt-BR"], None),
        (["pt-BR", "es"], "es-ES"),
        (["en-GB,fr;q=0.9"], "en-US"),  # a browser's Accept-Language
        (["fr;q=0.5, de"], "de-DE"),  # ordered by quality
        (["it, ja;q=0"], None),  # q=0 means "not this one"
        (["*"], None),
        ([""], None),
        (["garbage!", "ja_JP"], "ja-JP"),
        ([], None),
    ],
)
def test_negotiation_with_the_six_demo_locales(requested: list[str], expected: str | None) -> None:
    assert negotiate(requested, SIX) == expected


@pytest.mark.parametrize(
    ("supported", "requested", "expected"),
    [
        (["en-US", "zh-CN", "zh-Hant"], ["zh-TW"], "zh-Hant"),  # script fallback
        (["en-US", "zh-CN", "zh-Hant"], ["zh_HK"], "zh-Hant"),
        (["en-US", "zh-CN", "zh-Hant"], ["zh-Hant-TW"], "zh-Hant"),
        (["en-US", "zh-CN", "zh-Hant"], ["zh-Hans-SG"], "zh-CN"),
        (["en-US", "zh-CN", "zh-Hant"], ["zh"], "zh-CN"),
        (["zh-TW", "zh-CN"], ["zh-HK"], "zh-TW"),
        (["en-US", "en-GB"], ["en-AU"], "en-GB"),  # CLDR: en-AU and en-GB share the parent en-001
        (["en-US", "en-GB"], ["en-IN"], "en-GB"),
        (["en-US", "en-GB"], ["en"], "en-US"),
        (["en-GB", "en-US"], ["en-US"], "en-US"),
        (["es-ES", "es-US"], ["es-MX"], "es-US"),  # both Latin American Spanish (es-419)
        (["es-ES", "es-US"], ["es-AR"], "es-US"),
        (["es-ES", "es-US"], ["es"], "es-ES"),
        (["pt-BR", "pt-PT"], ["pt-AO"], "pt-PT"),  # CLDR: pt-AO's parent is pt-PT
        (["pt-PT", "pt-BR"], ["pt"], "pt-BR"),  # the language's likely region
        (["sr-Latn", "en-US"], ["sr"], "sr-Latn"),
        (["en-US"], ["en-US"], "en-US"),
        (["bad tag", "fr-FR"], ["fr"], "fr-FR"),  # a supported tag that is not a locale is ignored
    ],
)
def test_negotiation_fallbacks(supported: list[str], requested: list[str], expected: str) -> None:
    assert negotiate(requested, supported) == expected


def test_accept_language_is_parsed_by_quality_then_order() -> None:
    assert parse_accept_language("da, en-gb;q=0.8, en;q=0.7") == ["da", "en-gb", "en"]
    assert parse_accept_language("fr;q=0.5, de, *;q=0.1, it;q=0") == ["de", "fr"]


def test_each_language_is_named_in_itself_capitalised_as_a_menu_line() -> None:
    assert [language_label(tag, SIX) for tag in SIX] == LABELS


@pytest.mark.parametrize(
    ("supported", "labels"),
    [
        (["zh-CN", "zh-TW"], ["简体中文", "繁體中文"]),
        (["zh-Hans", "zh-Hant-HK"], ["简体中文", "繁體中文"]),
        (["en-US", "en-GB"], ["American English", "British English"]),
        (["fr-FR", "fr-CA"], ["Français (France)", "Français canadien"]),
        (["es-ES", "es-MX"], ["Español de España", "Español de México"]),
        (["pt-BR"], ["Português"]),
        (["ru", "ar", "ko"], ["Русский", "العربية", "한국어"]),
        (["sr-Latn", "sr-Cyrl"], ["Srpski (latinica)", "Српски (ћирилица)"]),
    ],
)
def test_variants_of_one_language_get_their_own_names(supported: list[str], labels: list[str]) -> None:
    assert [language_label(tag, supported) for tag in supported] == labels
