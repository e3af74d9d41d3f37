"""Receipt templates (receipts/*.toml) and the ESC/POS bytes they give."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.printer import test_page as tp
from pos_app import i18n
from pos_app.config import PROJECT_ROOT, Config, ConfigError, load_config
from pos_app.domain.money import Money
from pos_app.domain.order import Line, LineKind, Order, Tender, TenderKind
from pos_app.receipts import balance_slip, load_templates, mark_copy, sale_receipt, void_receipt
from pos_app.services.checkout import Till
from pos_app.services.setup import open_till
from tests.conftest import CROISSANT, MERLOT

WHEN = datetime(2026, 11, 23, 14, 32)
INIT_CP858 = b"\x1b@\x1bt\x13"  # ESC @, then ESC t 19 (CP858)


def chf(minor: int) -> Money:
    return Money(minor, "CHF")


def order() -> Order:
    o = Order(1, "CHF")
    o.lines.append(Line(1, "761", "Espresso beans 500 g", 1, chf(1490), Decimal("2.6")))
    o.lines.append(Line(2, "EADSHD24AKS5", "Gift voucher …AKS5", 1, chf(5000), Decimal(0),
                        kind=LineKind.GIFT_VOUCHER, code="EADSHD24AKS5", activated=True))
    o.tenders.append(Tender(1, TenderKind.VOUCHER, chf(1490), code="L4FU5LQTKJR3",
                            balance_after=chf(3510)))
    o.tenders.append(Tender(2, TenderKind.CASH, chf(5000), given=chf(5000), change=chf(0), rounding=chf(0)))
    return o


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "receipts"
    shutil.copytree(PROJECT_ROOT / "receipts", target)
    return target


def test_sale_receipt_bytes_and_code_page(config: Config, folder: Path) -> None:
    (folder / "sale.toml").write_text(
        'header = ["{outlet_name}", "Preise in € inkl. MWST", "Fr. 1.-"]\nfooter = ["Merci!"]\n',
        encoding="utf-8")
    config.use_language()  # as open_till does: the outlet's language and locale (en_CH: CHF)
    receipt = sale_receipt(order(), "1-0042", config, load_templates(folder), WHEN)
    data = receipt.escpos("default", "CP858")
    assert data.startswith(INIT_CP858)
    assert b"Test Shop Z\x81rich" in data  # ü is 0x81 in CP858
    assert b"Preise in \xd5 inkl. MWST" in data  # € is 0xD5 in CP858
    assert b"Fr. 1.-" in data
    assert b"Voucher ...KJR3" in data and b"new balance 35.10" in data  # "…" printed plainly
    assert b"EADS-HD24-AKS5" in data and b"\x1dkI\x0e{BEADSHD24AKS5" in data  # code and barcode
    assert data.endswith(b"\x1bd\x06\x1dV\x00")  # feed 6 lines, full cut: one job, ends cut
    text = receipt.text()
    assert "Receipt 1-0042            23.11.2026 14:32" in text
    assert "GIFT VOUCHER" in text and "Redeemable in all our shops" in text


def test_edited_templates_are_used(config: Config, folder: Path) -> None:
    (folder / "voucher.toml").write_text(
        'payment = "Gutschein {code}"\nnew_balance = "  Restguthaben {new_balance}"\n', encoding="utf-8")
    (folder / "void.toml").write_text('title = "STORNO {number}"\nfooter = ["Danke"]\n', encoding="utf-8")
    templates = load_templates(folder)
    sale = sale_receipt(order(), "1-0042", config, templates, WHEN).text()
    assert "Gutschein …KJR3" in sale and "Restguthaben 35.10" in sale
    assert "GIFT VOUCHER" in sale  # keys left out keep their defaults
    void = void_receipt(order=order(), number="1-0042", cash_back=chf(5000), card_back=None,
                        config=config, templates=templates, when=WHEN).text()
    assert "STORNO 1-0042" in void and "Danke" in void and "Cash returned" in void


def test_balance_slip_leaves_out_what_the_provider_did_not_say(config: Config, folder: Path) -> None:
    templates = load_templates(folder)
    slip = balance_slip(provider="E-GUMA", code="L4FU5LQTKJR3", redeemable=True, balance=chf(5000),
                        total=None, message="", config=config, templates=templates, when=WHEN)
    text = slip.text()
    assert "VOUCHER BALANCE" in text and "E-GUMA voucher …KJR3" in text and "Balance CHF 50.00" in text
    assert "Total amount" not in text and "L4FU5LQTKJR3" not in text
    data = slip.escpos("default", "CP858")
    assert data.startswith(INIT_CP858) and b"Balance CHF 50.00" in data


@pytest.mark.parametrize(
    ("file", "body", "message"),
    [
        ("voucher.toml", 'payment = "Voucher {pin}"\n', "unknown placeholder {pin}"),
        ("voucher.toml", 'colour = "red"\n', "unknown key 'colour'"),
        ("voucher.toml", 'gift_lines = "one line"\n', "gift_lines: must be a list of text lines"),
        ("balance_slip.toml", 'title = ["A", "B"]\n', "title: must be one line of text"),
        ("void.toml", 'title = "VOID {number"\n', "expected '}'"),
        ("sale.toml", 'header = [1, 2]\n', "header: must be a list of text lines"),
    ],
)
def test_broken_template_is_reported_with_file_and_key(folder: Path, file: str, body: str, message: str) -> None:
    (folder / file).write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_templates(folder)
    assert str(folder / file) in str(caught.value) and message in str(caught.value)


# -- template lines wider than the paper ------------------------------------------------
def test_fixed_template_line_wider_than_the_paper_is_a_config_error(folder: Path) -> None:
    """A line without placeholders is measured at start, as it prints ("…" is three
    characters in CP858): the shop owner is told the file, the key, the line and the width."""
    line = "Thank you for shopping with us today… see you"  # 47 printed characters
    (folder / "sale.toml").write_text(f'header = ["{{outlet_name}}"]\nfooter = ["Merci!", "{line}"]\n',
                                      encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_templates(folder, 42)
    message = str(caught.value)
    assert str(folder / "sale.toml") in message and "footer: line 2" in message
    assert repr(line) in message and "47 characters wide" in message and "42 ([printer] width)" in message
    load_templates(folder)  # without a width (a tool that does not print): not checked
    (folder / "void.toml").write_text('title = "' + "V" * 33 + '"\n', encoding="utf-8")
    (folder / "sale.toml").write_text('header = ["' + "x" * 32 + '"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"void\.toml: title: 'V{33}' is 33 characters wide, the paper 32"):
        load_templates(folder, 32)


def test_template_line_with_placeholders_wraps_when_filled(config: Config, folder: Path) -> None:
    """Only filled can a placeholder line be measured: a long outlet name is wrapped
    onto the next line, never cut and never wider than the paper."""
    (folder / "sale.toml").write_text('header = ["{outlet_name} - Filiale {outlet_id}"]\n', encoding="utf-8")
    templates = load_templates(folder, 42)  # no error: it has placeholders
    long_name = config.model_copy(update={"outlet": config.outlet.model_copy(
        update={"name": "Confiserie Sprüngli am Paradeplatz und Bahnhofstrasse"})})
    lines = sale_receipt(order(), "1-0042", long_name, templates, WHEN).lines()
    assert lines[:3] == ["  Confiserie Sprüngli am Paradeplatz und", "   Bahnhofstrasse - Filiale test-outlet",
                         "-" * 42]
    assert all(len(line) <= 42 for line in lines)


def test_too_wide_template_stops_the_till_at_start(write_config: Callable[..., Path], folder: Path) -> None:
    (folder / "void.toml").write_text('title = "VOID"\nfooter = ["' + "=" * 43 + '"]\n', encoding="utf-8")
    path = write_config()
    path.write_text(path.read_text(encoding="utf-8").replace(
        (PROJECT_ROOT / "receipts").as_posix(), folder.as_posix()), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"void\.toml: footer: line 1 .* 43 characters wide, the paper 42"):
        open_till(load_config(path))


def test_shipped_templates_fit_the_narrowest_paper() -> None:
    load_templates(PROJECT_ROOT / "receipts", 32)  # 58 mm paper: no line of the shipped texts is too wide


# -- VAT letters --------------------------------------------------------------------------
def vat_order(*lines: tuple[str, int, str]) -> Order:
    o = Order(1, "CHF")
    for i, (name, price, rate) in enumerate(lines, 1):
        o.lines.append(Line(i, str(i), name, 1, chf(price), Decimal(rate)))
    o.tenders.append(Tender(1, TenderKind.CARD, o.total))
    return o


def vat_rows(receipt_text: str) -> list[str]:
    return [line.split()[0] + " " + line.split()[1] for line in receipt_text.splitlines()
            if line[:2] in ("A ", "B ", "C ", "D ")]


def test_vat_letter_is_fixed_per_rate_for_the_outlet(config: Config, folder: Path) -> None:
    """Letters come from the outlet's rates (the catalog's, sorted), not from the rates
    of one receipt: 8.1 % is B on a receipt with only wine as on one with food too."""
    templates = load_templates(folder)
    outlet = [Decimal("8.1"), Decimal("2.6"), Decimal("2.60")]
    wine = sale_receipt(vat_order(("Merlot 75 cl", 3800, "8.1")), "1-1", config, templates, WHEN,
                        vat_rates=outlet).text()
    mixed = sale_receipt(vat_order(("Croissant", 250, "2.6"), ("Merlot 75 cl", 3800, "8.1")), "1-2",
                         config, templates, WHEN, vat_rates=outlet).text()
    assert vat_rows(wine) == ["B 8.1%"]
    assert vat_rows(mixed) == ["A 2.6%", "B 8.1%"]
    assert "Merlot 75 cl" + " " * 23 + "38.00 B" in wine and "Croissant" + " " * 27 + "2.50 A" in mixed
    # a rate the catalog does not have (a product since removed) comes after the outlet's
    odd = sale_receipt(vat_order(("Hotel night", 12000, "3.8"), ("Croissant", 250, "2.6")), "1-3",
                       config, templates, WHEN, vat_rates=outlet).text()
    assert vat_rows(odd) == ["A 2.6%", "C 3.8%"]


async def test_the_till_gives_each_rate_its_letter_from_the_catalog(till: Till) -> None:
    """Through the till: the demo catalog has 2.6 % and 8.1 %, so 8.1 % is B on every receipt."""
    till.scan(MERLOT)
    first = await till.pay_card(till.order.remaining)
    till.scan(CROISSANT)
    till.scan(MERLOT)
    second = await till.pay_card(till.order.remaining)
    assert first.closed is not None and second.closed is not None
    texts = [till.journal.receipt(o.closed.receipt_id).text for o in (first, second)]
    assert vat_rows(texts[0]) == ["B 8.1%"] and vat_rows(texts[1]) == ["A 2.6%", "B 8.1%"]


# -- language -----------------------------------------------------------------------------
VAT_CODES = re.compile(r"(?m)(^[A-Z] \d+(\.\d+)?%)|((?<=\d) [A-Z]$)")  # "A 2.6%", "49.90 A"


def unmarked_words(text: str, data: list[str]) -> list[str]:
    """Words of ``text`` outside ⟦…⟧ that are not data. Whitespace is ignored, so a
    text or a datum wrapped over two lines is found all the same."""
    flat = re.sub(r"\s+", "", VAT_CODES.sub(" ", text))
    while (inner := re.sub("⟦[^⟦⟧]*⟧", " ", flat)) != flat:  # marks may nest: ⟦Redeemable: ⟦yes⟧⟧
        flat = inner
    for datum in sorted(data, key=len, reverse=True):
        flat = flat.replace(re.sub(r"\s+", "", datum), " ")
    return re.findall(r"[^\W\d_]+", flat)


@pytest.mark.parametrize("width", [32, 42])
def test_every_receipt_label_is_marked_for_translation(write_config: Callable[..., Path], width: int) -> None:
    """In the pseudo language every translated text comes back as ⟦text⟧: what is left
    outside the marks is data (names, codes, amounts, dates, the outlet). The longer
    texts still fit the paper: wrapped, never cut, never wider."""
    from tests.test_receipt_width import (
        DIGITAL_CODE,
        DIGITAL_INSTRUCTIONS,
        DIGITAL_NAME,
        LONG_CODE,
        LONG_NAME,
        LONG_WORD,
        assert_fits,
        every_receipt,
    )

    i18n.use(i18n.PSEUDO)
    config = load_config(write_config(printer=f'kind = "dummy"\nwidth = {width}'))
    data = ["Test Shop Zürich", LONG_NAME, LONG_WORD, "Croissant", "Hotel night “Zürich” — tourist tax…",
            LONG_CODE, "EADS-HD24-AKS5", "EADSHD24AKS5", "…KJR3", "…EFGH", "…AKS5", "CHF",
            DIGITAL_NAME, DIGITAL_CODE, DIGITAL_INSTRUCTIONS, "2029-12-31",
            "E-GUMA Gutscheinsystem der Stadt Zürich",
            "Der Gutschein ist gültig bis 31.12.2027 in allen Filialen der Stadt Zürich und Umgebung."]
    for kind, receipt in every_receipt(config).items():
        text = receipt.text()
        assert "⟦" in text, kind
        assert unmarked_words(text, data) == [], kind
        assert all(len(line) <= width for line in receipt.lines()), kind
        assert_fits(receipt.escpos("default", "CP858"), width)
    copy = mark_copy(every_receipt(config)["sale"].escpos(), width=width)
    assert b"*** ?COPY? ***" in copy  # ⟦ ⟧ are not in CP858: printed plainly
    page = tp.test_page_bytes(width)
    assert b"?PRINTER TEST?" in page
    assert_fits(page, width)


def test_unmarked_words_finds_a_label_left_in_english() -> None:
    """The check above can fail: an English word outside the marks is found."""
    assert unmarked_words("⟦TOTAL CHF⟧ 12.50\nChange 1.00\n⟦Receipt 1-1⟧", ["CHF"]) == ["Change"]
    assert unmarked_words("⟦Keep with the\noriginal receipt.⟧\nEspresso\nbeans", ["Espresso beans"]) == []


def test_german_receipt_amounts_in_the_outlet_locale(config: Config, folder: Path) -> None:
    """Amounts as a person reads them in de_CH (1'234.50); a template text the catalogs
    do not have (the shop owner's own) stays as written."""
    i18n.use("de", currency="CHF")
    big = Order(1, "CHF")
    big.lines.append(Line(1, "1", "Kaffeemaschine", 1, chf(123450), Decimal("8.1")))
    big.tenders.append(Tender(1, TenderKind.CARD, chf(123450)))
    (folder / "sale.toml").write_text('header = ["{outlet_name}", "Danke für Ihren Einkauf"]\n', encoding="utf-8")
    receipt = sale_receipt(big, "1-0042", config, load_templates(folder), WHEN, vat_rates=[Decimal("8.1")])
    shown = Money(123450, "CHF").shown()
    assert shown in ("1'234.50", "1’234.50")
    assert f"{'Kaffeemaschine':<31} {shown} A" in receipt.text()
    assert "Danke für Ihren Einkauf" in receipt.text()
    assert b"1'234.50 A\n" in receipt.escpos("default", "CP858")  # ’ printed as '
