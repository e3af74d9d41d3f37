"""The till's own messages in the shop's language: [outlet] language and locale,
the language of `pos` before the configuration is read, and messages that name
what they mean (quantity limit, plural forms, a capped voucher, a provider's words)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pos_app import cli, i18n
from pos_app.config import ConfigError, load_config
from pos_app.domain.money import Money
from pos_app.providers.base import RefusedError, refused_text
from pos_app.services.checkout import Till
from pos_app.services.results import CheckoutError
from pos_app.services.setup import open_till
from pos_app.services.wording import describe
from tests.conftest import CROISSANT, SIM_EGUMA_QUICK

EXPIRED = "EXPD-2023-0001"
PAID = "L4FU5LQTKJR3"  # 50.00 of 100.00
FIXED = "EADSHD24AKS5"  # depot voucher, 50.00


def with_outlet(path: Path, lines: str) -> Path:
    path.write_text(path.read_text(encoding="utf-8").replace('currency = "CHF"', f'currency = "CHF"\n{lines}'),
                    encoding="utf-8")
    return path


# -- [outlet] language and locale ---------------------------------------------------
def test_language_and_locale_default_to_english_and_the_currency_country(write_config: Callable[..., Path]) -> None:
    config = load_config(write_config())
    assert (config.outlet.language, config.outlet.locale) == ("en", None)
    assert config.outlet.number_locale() == "en_CH"  # English as in the country of the CHF
    german = load_config(with_outlet(write_config(), 'language = "de"'))
    assert german.outlet.number_locale() == "de_CH"  # CHF: German as in Switzerland


def test_an_unknown_language_names_the_allowed_ones(write_config: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(with_outlet(write_config(), 'language = "es"'))
    text = str(caught.value)
    assert "[outlet] language: unknown language" in text
    assert all(f'"{code}"' in text for code in ("en", "de", "fr", "it")) and "(got 'es')" in text


def test_an_unknown_locale_says_how_to_write_one(write_config: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match=r"\[outlet\] locale: unknown locale; write language_COUNTRY"):
        load_config(with_outlet(write_config(), 'language = "en"\nlocale = "xx_YY"'))
    with pytest.raises(ConfigError, match=r"\[outlet\] locale: unbekanntes Zahlenformat"):  # in the file's language
        load_config(with_outlet(write_config(), 'language = "de"\nlocale = "xx_YY"'))
    config = load_config(with_outlet(write_config(), 'language = "de"\nlocale = "de-DE"'))
    assert config.outlet.locale == "de_DE"


def test_opening_the_till_speaks_the_outlets_language(write_config: Callable[..., Path]) -> None:
    """open_till switches before any text is made: in the test-only pseudo language
    every marked text comes back as ⟦text⟧, so an unmarked one would show."""
    config = load_config(with_outlet(write_config(), f'language = "{i18n.PSEUDO}"\nlocale = "de_DE"'))
    till = open_till(config)
    try:
        assert (i18n.language(), i18n.locale()) == (i18n.PSEUDO, "de_DE")
        notice = till.scan("3*" + CROISSANT).notice
        assert notice is not None and notice.text == "⟦Added {quantity} × {name}  {total}⟧".replace(
            "{quantity}", "3").replace("{name}", "Croissant").replace("{total}", "7,50")
        with pytest.raises(CheckoutError) as caught:
            till.scan("0000000000000")
        assert str(caught.value).startswith("⟦Unknown barcode")
        assert till.parse_amount("1.234,50") == Money(123450, "CHF")  # de_DE as typed
    finally:
        till.journal.close()


def test_the_locale_follows_the_configuration_for_amounts(write_config: Callable[..., Path]) -> None:
    config = load_config(with_outlet(write_config(), 'language = "de"'))
    till = open_till(config)
    try:
        assert till.parse_amount("1'234.50") == Money(123450, "CHF")
        assert Money(123450, "CHF").shown() == "1’234.50" or Money(123450, "CHF").shown() == "1'234.50"
    finally:
        till.journal.close()


# -- `pos` before the configuration is read -------------------------------------------
@pytest.mark.parametrize(("environ", "expected"), [
    ({"LANG": "de_CH.UTF-8"}, ("de", "de_CH")),
    ({"LC_ALL": "fr_FR.UTF-8", "LANG": "de_CH.UTF-8"}, ("fr", "fr_FR")),  # LC_ALL first
    ({"LC_MESSAGES": "it_IT@euro"}, ("it", "it_IT")),
    ({"LANG": "de"}, ("de", None)),
    ({"LANG": "es_ES.UTF-8"}, ("en", None)),  # not one of ours
    ({"LANG": "C.UTF-8"}, ("en", None)),
    ({}, ("en", None)),
])
def test_the_environment_language(environ: dict[str, str], expected: tuple[str, str | None]) -> None:
    assert cli.environment_language(environ) == expected


def test_pos_speaks_the_environment_language_until_the_config_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "de_CH.UTF-8")
    assert cli.main(["--config", str(tmp_path / "missing.toml")]) == cli.EXIT_CONFIG
    assert (i18n.language(), i18n.locale()) == ("de", "de_CH")
    assert "missing.toml" in capsys.readouterr().err


def test_pos_then_speaks_the_outlets_language(write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("LANG", "de_CH.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    path = with_outlet(write_config(), 'language = "fr"')
    umask = os.umask(0o022)  # `pos journal` makes the process's files private: put it back after
    os.umask(umask)
    try:
        assert cli.main(["--config", str(path), "journal", "check"]) in (0, 1)
    finally:
        os.umask(umask)
    assert (i18n.language(), i18n.locale()) == ("fr", "fr_CH")


# -- messages that say what they mean ---------------------------------------------------
def test_a_quantity_above_the_limit_names_the_limit(till: Till) -> None:
    with pytest.raises(CheckoutError, match=r"^At most 999 of one item per line"):
        till.scan("999999*" + CROISSANT)
    with pytest.raises(CheckoutError, match="must be at least 1"):
        till.scan("0*" + CROISSANT)
    assert till.scan("999*" + CROISSANT).notice is not None


def test_unprinted_receipts_in_plural_forms(till: Till, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(till.journal, "unprinted_receipts", lambda: [object()])
    notice = till.startup_notice()
    assert notice is not None and notice.text == "1 receipt not printed yet — F7 prints it"
    monkeypatch.setattr(till.journal, "unprinted_receipts", lambda: [object(), object()])
    notice = till.startup_notice()
    assert notice is not None and notice.text == "2 receipts not printed yet — F7 prints them"


def test_a_voucher_capped_by_gift_vouchers_says_why(write_config: Callable[..., Path],
                                                     till_factory: Callable[..., Till]) -> None:
    from pos_app.config import load_config as load

    till = till_factory(load(write_config(SIM_EGUMA_QUICK.format(timeout=0.5))))

    async def run() -> None:
        till.scan(CROISSANT)  # 2.50
        till.gifts.add(await till.gifts.check(FIXED))  # a 50.00 gift voucher: not payable by voucher
        check = await till.vouchers.check(PAID)  # 50.00 on it, 52.50 due
        assert check.amount == Money(250, "CHF")
        assert check.capped is not None
        assert check.capped.startswith("Pays CHF 2.50, not CHF 52.50: the gift voucher on this order "
                                       "(CHF 50.00) cannot be paid with a voucher")

    asyncio.run(run())


def test_an_uncapped_voucher_has_no_reason(eguma_till: Till) -> None:
    async def run() -> None:
        eguma_till.scan(CROISSANT)
        check = await eguma_till.vouchers.check(PAID)
        assert check.amount == Money(250, "CHF") and check.capped is None  # the order decides, no reason

    asyncio.run(run())


# -- a provider's own words ---------------------------------------------------------------
def test_a_refusal_is_the_tills_explanation_with_the_providers_words_labelled() -> None:
    error = RefusedError(refused_text("E-GUMA", "redeem"), "eguma", provider_message="Gutschein ungültig")
    assert describe(error, "E-GUMA") == "E-GUMA refused the payment\nE-GUMA says: «Gutschein ungültig»"
    i18n.use(i18n.PSEUDO)
    error = RefusedError(refused_text("E-GUMA", "redeem"), "eguma", provider_message="Gutschein ungültig")
    # the explanation and the label are the till's (translated), the provider's text is not
    assert describe(error, "E-GUMA") == "⟦E-GUMA refused the payment.⟧\n⟦E-GUMA says: «Gutschein ungültig»⟧"


def test_the_explanation_comes_from_the_operation_and_status_not_the_text() -> None:
    assert refused_text("E-GUMA", "balance", not_found=True) == "E-GUMA does not know this voucher."
    assert refused_text("E-GUMA", "activate") == "E-GUMA refused to activate the gift voucher."
    assert refused_text("E-GUMA", "something new") == "E-GUMA refused the request."


def test_an_unusable_voucher_shows_the_providers_reason_labelled(eguma_till: Till) -> None:
    async def run() -> None:
        eguma_till.scan(CROISSANT)
        check = await eguma_till.vouchers.check(EXPIRED)
        assert check.amount is None and check.reason is not None
        first, _newline, second = check.reason.partition("\n")
        assert first == "E-GUMA does not accept this voucher for payment now."
        assert second.startswith("E-GUMA says: «") and second.endswith("»")

    asyncio.run(run())


# -- nothing unmarked on the way (the test-only pseudo language) --------------------------------
def test_the_tills_own_messages_all_go_through_the_catalogs(write_config: Callable[..., Path]) -> None:
    """In the pseudo language each marked text comes back as ⟦text⟧: a message built
    outside ``_()`` would show without the marks."""
    config = load_config(with_outlet(write_config(SIM_EGUMA_QUICK.format(timeout=0.5)),
                                     f'language = "{i18n.PSEUDO}"'))
    till = open_till(config)
    seen: list[str] = []

    def refused(call: Callable[[], object]) -> None:
        with pytest.raises(CheckoutError) as caught:
            call()
        seen.append(str(caught.value))

    async def run() -> None:
        notice = till.scan(CROISSANT).notice
        assert notice is not None
        seen.append(notice.text)
        refused(lambda: till.scan("999999*" + CROISSANT))
        refused(lambda: till.scan("0000000000000"))
        refused(lambda: till.parse_amount("1,2,3"))
        refused(lambda: till.parse_amount(""))
        line = till.order.active_lines[0]
        seen.append((await till.void_line(line.id)).notice.text)  # type: ignore[union-attr]
        seen.append((await till.open_drawer("no_sale")).text)
        expired = await till.vouchers.check(EXPIRED, for_payment=True)
        assert expired.reason is not None
        seen.extend(expired.reason.split("\n"))
        with pytest.raises(CheckoutError) as caught:
            await till.vouchers.check("ZZZZ")
        seen.append(str(caught.value))

    try:
        asyncio.run(run())
    finally:
        till.journal.close()
    unmarked = [text for text in seen if not (text.startswith("⟦") and text.endswith("⟧"))]
    assert unmarked == [] and len(seen) == 10, seen


def test_a_language_written_otherwise_is_understood_or_explained(write_config: Callable[..., Path]) -> None:
    assert load_config(with_outlet(write_config(), 'language = "DE"')).outlet.language == "de"
    with pytest.raises(ConfigError, match=r'"de_CH" ist eine Sprache und ein Land: language = "de" und '
                                          r'locale = "de_CH" schreiben'):  # told in German: the file's language
        load_config(with_outlet(write_config(), 'language = "de_CH"'))


def test_the_start_says_everything_the_cashier_must_know(eguma_till: Till,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A recovered order no longer hides a provider that is off, nor unprinted receipts."""
    till = eguma_till
    monkeypatch.setattr(till.session, "recovered", True)
    till.scan(CROISSANT)
    monkeypatch.setattr(till.providers["eguma"], "problem", "E-GUMA disabled: the keyring password was not typed")
    monkeypatch.setattr(till.journal, "unprinted_receipts", lambda: [object()])
    notice = till.startup_notice()
    assert notice is not None and notice.text.splitlines() == [
        "Open order recovered from the journal: 1 line, CHF 2.50 still to pay",
        "E-GUMA disabled: the keyring password was not typed",
        "1 receipt not printed yet — F7 prints it"]
