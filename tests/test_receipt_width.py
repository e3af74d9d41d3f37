"""No printed line is ever wider than the paper: every receipt kind, every template
line, long names and codes, at 32 and 42 columns, read back from the printer bytes.

``printed()`` decodes ESC/POS as the printer does: it knows every command the till
sends (an unknown one fails the test, so nothing can hide inside one) and returns
the text lines as they come out, in the code page's characters.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.printer import test_page as tp
from pos_app.config import Config, load_config
from pos_app.domain.money import Money
from pos_app.domain.order import Line, LineKind, Order, Tender, TenderKind
from pos_app.receipts import (
    Receipt,
    balance_slip,
    cancel_slip,
    load_templates,
    mark_copy,
    sale_receipt,
    void_receipt,
)

WHEN = datetime(2026, 11, 23, 14, 32)
LONG_NAME = "Organic single-origin espresso beans, dark roast, Fairtrade, 1 kg bag"
LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitänsmütze"
LONG_CODE = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789ABCDEFGH"  # 40 characters
ESC, GS = 0x1B, 0x1D
# ESC/GS commands the till sends -> number of parameter bytes
ESC_ARGS = {b"@": 0, b"t": 1, b"E": 1, b"a": 1, b"!": 1, b"d": 1, b"-": 1, b"M": 1, b"G": 1, b"p": 3}
GS_ARGS = {b"!": 1, b"h": 1, b"w": 1, b"H": 1, b"f": 1, b"B": 1}


def printed(data: bytes, codepage: str = "cp858") -> tuple[list[str], list[str]]:
    """The text lines the printer prints for ``data``, and the barcodes' data."""
    lines: list[str] = []
    barcodes: list[str] = []
    current = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte in (ESC, GS):
            command = data[i + 1:i + 2]
            if byte == GS and command == b"V":  # cut: GS V m, or GS V m n
                i += 3 + (1 if data[i + 2] in (65, 66) else 0)
            elif byte == GS and command == b"k":  # barcode: GS k m n data (m >= 65)
                assert data[i + 2] >= 65, "barcode in the NUL-terminated form"
                size = data[i + 3]
                barcodes.append(data[i + 4:i + 4 + size].decode("ascii"))
                i += 4 + size
            else:
                table = ESC_ARGS if byte == ESC else GS_ARGS
                assert command in table, f"unknown command {bytes([byte]) + command!r} at {i}"
                i += 2 + table[command]
            continue
        if byte == 0x0A:
            lines.append(current.decode(codepage))
            current = bytearray()
        else:
            assert byte >= 0x20, f"control byte {byte:#x} in a line at {i}"
            current.append(byte)
        i += 1
    assert not current, "text after the last line feed"
    return lines, barcodes


def assert_fits(data: bytes, width: int) -> list[str]:
    lines, _ = printed(data)
    wide = [(len(line), line) for line in lines if len(line) > width]
    assert not wide, f"lines wider than {width}: {wide}"
    return lines


def chf(minor: int) -> Money:
    return Money(minor, "CHF")


DIGITAL_NAME = "E-Gift Card (e-mail) of a very long brand name"
DIGITAL_CODE = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-1234567890"
DIGITAL_INSTRUCTIONS = ("Redeem online at https://example.com/redeem/a-very-long-path-without-breaks-1234567890 "
                        "or in any shop of the brand within three years; keep this receipt.")


def busy_sale() -> Order:
    """Every line kind of a sale: long names, quantities, three VAT rates, a sold gift
    voucher, cash, card, a voucher with a long code, rounding and change."""
    o = Order(7, "CHF")
    o.lines.append(Line(1, "761", LONG_NAME, 1, chf(4990), Decimal("2.6")))
    o.lines.append(Line(2, "762", LONG_WORD, 12, chf(1250), Decimal("8.1")))
    o.lines.append(Line(3, "763", "Croissant", 3, chf(250), Decimal("2.6")))
    o.lines.append(Line(4, "764", "Hotel night “Zürich” — tourist tax…", 1, chf(350), Decimal("3.8")))
    o.lines.append(Line(5, "EADSHD24AKS5", "Gift voucher …AKS5", 1, chf(5000), Decimal(0),
                        kind=LineKind.GIFT_VOUCHER, code="EADSHD24AKS5", activated=True))
    o.lines.append(Line(6, LONG_CODE, "Gift voucher …EFGH", 1, chf(2000), Decimal(0),
                        kind=LineKind.GIFT_VOUCHER, code=LONG_CODE, activated=True))
    o.lines.append(Line(7, "4102", DIGITAL_NAME, 1, chf(1500), Decimal(0), kind=LineKind.DIGITAL, code="4102",
                        activated=True, refs={"voucher_code": DIGITAL_CODE, "instructions": DIGITAL_INSTRUCTIONS,
                                              "expiration": "2029-12-31"}))
    o.tenders.append(Tender(1, TenderKind.VOUCHER, chf(1490), code="L4FU5LQTKJR3", balance_after=chf(3510)))
    o.tenders.append(Tender(2, TenderKind.VOUCHER, chf(9999), code=LONG_CODE, balance_after=chf(9876543)))
    o.tenders.append(Tender(3, TenderKind.CARD, chf(2000)))
    total = o.total.minor
    rest = total - 1490 - 9999 - 2000
    o.tenders.append(Tender(4, TenderKind.CASH, chf(rest), given=chf(rest + 10000), change=chf(10000),
                            rounding=chf(0)))
    return o


def config_at(write_config: Callable[..., Path], width: int, name: str = "Test Shop Zürich") -> Config:
    config = load_config(write_config(printer=f'kind = "dummy"\nwidth = {width}'))
    return config.model_copy(update={"outlet": config.outlet.model_copy(update={"name": name})})


def every_receipt(config: Config) -> dict[str, Receipt]:
    templates = load_templates(config.receipts, config.printer.width)
    sale = busy_sale()
    gift_only = Order(8, "CHF")
    gift_only.lines.append(Line(1, "EADSHD24AKS5", "Gift voucher", 1, chf(10000), Decimal(0),
                                kind=LineKind.GIFT_VOUCHER, code="EADSHD24AKS5", activated=True))
    gift_only.tenders.append(Tender(1, TenderKind.CARD, chf(10000)))
    voided = [Tender(1, TenderKind.VOUCHER, chf(1490), code="L4FU5LQTKJR3", voided=True, balance_after=chf(5000)),
              Tender(2, TenderKind.VOUCHER, chf(123456), code=LONG_CODE, voided=True, balance_after=chf(99999999))]
    return {
        "sale": sale_receipt(sale, "1-0042", config, templates, WHEN, vat_rates=[Decimal("2.6")]),
        "gift voucher": sale_receipt(gift_only, "1-0043", config, templates, WHEN),
        "void": void_receipt(order=sale, number="1-0042", cash_back=chf(123456), card_back=chf(2000),
                             config=config, templates=templates, when=WHEN,
                             balances={1: chf(5000), 2: chf(99999999)}),
        "cancel slip": cancel_slip(order=sale, given_back=voided, config=config, templates=templates, when=WHEN),
        "balance slip": balance_slip(provider="E-GUMA Gutscheinsystem der Stadt Zürich", code=LONG_CODE,
                                     redeemable=True, balance=chf(1234567), total=chf(9999999),
                                     message="Der Gutschein ist gültig bis 31.12.2027 in allen Filialen "
                                             "der Stadt Zürich und Umgebung.",
                                     config=config, templates=templates, when=WHEN),
    }


@pytest.mark.parametrize("width", [32, 42])
def test_no_printed_line_is_wider_than_the_paper(write_config: Callable[..., Path], width: int) -> None:
    config = config_at(write_config, width, name="Confiserie Sprüngli am Paradeplatz, Bahnhofstrasse 21")
    for kind, receipt in every_receipt(config).items():
        data = receipt.escpos("default", "CP858")
        lines = assert_fits(data, width)
        assert all(len(line) <= width for line in receipt.lines()), kind  # the screen's text too
        assert_fits(mark_copy(data, width=width), width)  # the reprint
        if kind == "sale":
            text = " ".join(line.strip() for line in lines)
            # nothing cut: the long names and the outlet name are there in full
            assert "Organic single-origin espresso beans, dark roast, Fairtrade, 1 kg bag" in text
            assert LONG_WORD in "".join(line.strip() for line in lines)  # broken inside, but whole
            assert "Confiserie Spr\u00fcngli am Paradeplatz, Bahnhofstrasse 21" in text
            assert 'Hotel night "Z\u00fcrich" - tourist tax...' in text  # made plain, then measured
    for profile in ("default", "TM-T20II"):
        assert_fits(tp.test_page_bytes(width, profile), width)


def test_voucher_line_with_an_ellipsis_fits_exactly(write_config: Callable[..., Path]) -> None:
    """The bug: "…KJR3" padded as one character, printed as three: 44 columns on 42."""
    config = config_at(write_config, 42)
    order = busy_sale()
    receipt = sale_receipt(order, "1-0042", config, load_templates(config.receipts), WHEN)
    lines, _ = printed(receipt.escpos("default", "CP858"))
    (voucher,) = [line for line in lines if line.startswith("Voucher ...KJR3")]
    assert voucher == "Voucher ...KJR3" + " " * 20 + "14.90  "
    assert len(voucher) == 42


@pytest.mark.parametrize("width", [32, 42])
def test_long_gift_voucher_code_is_printed_whole(write_config: Callable[..., Path], width: int) -> None:
    """A code too long for a barcode on this paper is printed as text (wrapped), never cut;
    a short one is a barcode with the code below it."""
    config = config_at(write_config, width)
    receipt = sale_receipt(busy_sale(), "1-0042", config, load_templates(config.receipts), WHEN)
    lines, barcodes = printed(receipt.escpos("default", "CP858"))
    assert "{BEADSHD24AKS5" in barcodes  # code set B, then the code
    assert not [code for code in barcodes if LONG_CODE in code]
    assert LONG_CODE in "".join(line.strip() for line in lines)


def test_pair_wraps_the_left_text_and_keeps_the_amount_at_the_edge() -> None:
    r = Receipt(32)
    r.pair("A very long product name that goes on and on", "12.50 A")
    assert r.lines() == ["A very long product name that", f"{'goes on and on':<24} 12.50 A"]
    r = Receipt(32)
    r.pair("x" * 30, "12.50 A")
    assert r.lines() == ["x" * 30, "12.50 A".rjust(32)]


def test_control_characters_never_reach_the_printer() -> None:
    r = Receipt(32)
    r.add("Tea\x1b@\x1dV\x00 and\ncake")
    lines, _ = printed(r.escpos("default", "CP858"))
    assert "Tea?@?V? and cake" in lines
