"""The catalogs and the locale: languages load, numbers follow the outlet's locale."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from pos_app import i18n
from pos_app.domain.money import Money


@pytest.mark.parametrize(("language", "currency", "expected"), [
    ("en", "CHF", "1'234.50"), ("de", "CHF", "1'234.50"), ("fr", "CHF", "1'234,50"),
    ("it", "CHF", "1'234.50"), ("de", "EUR", "1.234,50"), ("fr", "EUR", "1\u202f234,50"),
])
def test_amounts_follow_the_outlet_locale(language: str, currency: str, expected: str) -> None:
    i18n.use(language, currency=currency)
    assert Money(123450, currency).shown() == expected
    assert Money(-5, currency).shown() == ("-0,05" if "," in expected[-3:] else "-0.05")
    assert Money(123450, currency).amount_str() == "1234.50"  # the machine form never changes


def test_a_named_locale_wins_and_a_wrong_one_is_refused() -> None:
    i18n.use("de", "de_DE", currency="CHF")
    assert Money(100000, "CHF").shown() == "1.000,00"
    with pytest.raises(ValueError, match="unknown locale 'xx_YY'"):
        i18n.use("de", "xx_YY")


def test_the_language_holds_in_worker_threads() -> None:
    i18n.use("de", currency="CHF")
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.append(i18n.locale()))
    thread.start()
    thread.join()
    assert seen == ["de_CH"]


def test_pseudo_language_marks_every_text() -> None:
    i18n.use(i18n.PSEUDO)
    assert i18n._("Cash") == "⟦Cash⟧"
    assert i18n.ngettext("{n} receipt", "{n} receipts", 2).format(n=2) == "⟦2 receipts⟧"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        i18n.use("xx")


def test_a_source_tree_without_compiled_catalogs_reads_the_po(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No .mo (a build step skipped): the .po is compiled in memory, not ignored."""
    po = tmp_path / "de" / "LC_MESSAGES" / "pos.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "Cash"\nmsgstr "Bargeld"\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    i18n._regional.cache_clear()
    try:
        i18n.use("de")
        assert i18n._("Cash") == "Bargeld"
    finally:
        i18n.translations.cache_clear()
        i18n._regional.cache_clear()


def test_swiss_german_writes_ss_and_mwst(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One German catalog: a Swiss outlet reads it in Swiss spelling."""
    import gettext

    class Catalog(gettext.NullTranslations):
        def gettext(self, message: str) -> str:
            return {"Total incl. VAT": "Summe inkl. MwSt.", "Close": "Schließen"}.get(message, message)

    monkeypatch.setattr(i18n, "translations", lambda language: Catalog())
    i18n._regional.cache_clear()
    try:
        i18n.use("de", currency="CHF")
        assert (i18n._("Total incl. VAT"), i18n._("Close")) == ("Summe inkl. MWST", "Schliessen")
        i18n.use("de", currency="EUR")
        assert (i18n._("Total incl. VAT"), i18n._("Close")) == ("Summe inkl. MwSt.", "Schließen")
    finally:
        i18n._regional.cache_clear()


def test_vat_rates_are_written_with_the_locale_decimal_sign() -> None:
    from pos_app.domain.vat import format_rate

    i18n.use("de", currency="EUR")
    assert [format_rate(Decimal(r)) for r in ("8.1", "19.00", "0")] == ["8,1%", "19%", "0%"]
    i18n.use("de", currency="CHF")
    assert format_rate(Decimal("8.1")) == "8.1%"


def test_dates_on_receipts_follow_the_locale() -> None:
    from datetime import date

    day = date(2026, 12, 2)
    i18n.use("de", currency="CHF")
    assert i18n.date(day) == "02.12.2026"
    i18n.use("en", "en_GB")
    assert i18n.date(day) == "02/12/2026"
    i18n.use("fr", currency="EUR")
    assert i18n.date(day) == "02/12/2026"
