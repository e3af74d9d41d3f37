"""Receipt templates (receipts/*.toml) and the ESC/POS bytes they give."""

from __future__ import annotations

import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pos_app.config import PROJECT_ROOT, Config, ConfigError
from pos_app.domain.money import Money
from pos_app.domain.order import Line, LineKind, Order, Tender, TenderKind
from pos_app.receipts import balance_slip, load_templates, sale_receipt, void_receipt

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
