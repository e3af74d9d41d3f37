"""Amounts typed in the outlet's locale: Money.parse reads what a cashier there types,
refuses what could mean two amounts, and reads back every amount the till shows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pos_app import i18n
from pos_app.domain.money import MAX_MINOR, Money, MoneyError

# Every locale the till can fall back on (i18n.default_locale) plus common others.
LOCALES = sorted({i18n.default_locale(language, currency)
                  for language in i18n.LANGUAGES for currency in ("CHF", "EUR", "GBP", "USD")}
                 | {"de_AT", "fr_BE", "en_US", "en_ZA", "it_CH", "fr_CH"})


@pytest.mark.parametrize(("locale", "typed", "minor"), [
    ("de_DE", "1.234,50", 123450),
    ("de_DE", "2,50", 250),
    ("de_DE", "14.90", 1490),  # the plain form: a lone '.' before two digits
    ("de_DE", "1.234", 123400),  # the locale's own digit group
    ("de_CH", "1'234.50", 123450),
    ("de_CH", "1’234.50", 123450),
    ("de_CH", "2,50", 250),
    ("de_CH", "12", 1200),
    ("fr_FR", "1 234,50", 123450),
    ("fr_FR", "1\u202f234,50", 123450),
    ("fr_CH", "1\u00a0234,50", 123450),
    ("it_IT", "1.234,50", 123450),
    ("en_GB", "1,234.50", 123450),
    ("en_GB", "2,50", 250),
    ("en_GB", "-3.5", -350),
    ("de_CH", "−3.50", -350),  # U+2212
    ("de_CH", "1 234 567.80", 123456780),
])
def test_what_a_cashier_types_in_the_locale(locale: str, typed: str, minor: int) -> None:
    assert Money.parse(typed, "CHF", locale=locale) == Money(minor, "CHF")


@pytest.mark.parametrize(("locale", "typed", "said"), [
    ("de_CH", "1,234", "could mean two amounts"),
    ("fr_FR", "1.234", "could mean two amounts"),
    ("de_DE", "1 234.567", "could mean two amounts"),
    ("de_CH", "1'23.50", "is not an amount"),
    ("en_GB", "1,2,3", "is not an amount"),
    ("de_DE", "1.234.5,0,0", "is not an amount"),
    ("de_CH", "1'234 567.00", "is not an amount"),  # two kinds of digit group
    ("en_GB", "1e3", "is not an amount"),
    ("en_GB", "NaN", "is not an amount"),
    ("en_GB", "12 CHF", "is not an amount"),
    ("en_GB", "2.505", "more than 2 decimals"),
    ("de_DE", "2,505", "more than 2 decimals"),
    ("en_GB", "  ", "no amount given"),
    ("en_GB", ",", "is not an amount"),
])
def test_ambiguous_or_malformed_text_is_refused_with_a_reason(locale: str, typed: str, said: str) -> None:
    with pytest.raises(MoneyError, match=said):
        Money.parse(typed, "CHF", locale=locale)


def test_the_ambiguity_message_shows_how_to_write_it_in_the_locale() -> None:
    with pytest.raises(MoneyError) as caught:
        Money.parse("1,234", "CHF", locale="de_CH")
    assert "1'234.50" in str(caught.value)


def test_parse_uses_the_locale_in_use() -> None:
    i18n.use("de", currency="EUR")  # de_DE
    assert Money.parse("1.234,50", "EUR") == Money(123450, "EUR")
    assert Money.parse("1.234", "EUR") == Money(123400, "EUR")  # de_DE's digit group
    i18n.use("de", currency="CHF")  # de_CH: '.' is the decimal point
    with pytest.raises(MoneyError, match="mehr als 2 Nachkommastellen"):
        Money.parse("1.234", "CHF")
    assert Money.parse("1'234.50", "CHF") == Money(123450, "CHF")


def test_the_plain_form_is_the_same_in_every_locale() -> None:
    """Configuration files and providers' answers: a lone '.' or ',' is the decimal point."""
    for locale in ("de_DE", "de_CH", "fr_FR"):
        i18n.use(locale[:2], locale)
        assert Money.parse_plain("1.000", "EUR") == Money(100, "EUR")
        assert Money.parse_plain("2,50", "EUR") == Money(250, "EUR")
        assert Money.parse_plain("1'000.00", "EUR") == Money(100000, "EUR")


@settings(max_examples=300, deadline=None)
@given(minor=st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR) | st.integers(-10**8, 10**8),
       locale=st.sampled_from(LOCALES), currency=st.sampled_from(["CHF", "EUR"]))
def test_every_amount_shown_reads_back(minor: int, locale: str, currency: str) -> None:
    i18n.use(locale[:2], locale, currency=currency)
    money = Money(minor, currency)
    assert Money.parse(money.shown(), currency) == money
    assert Money.parse(money.amount_str(), currency) == money  # the plain form too
