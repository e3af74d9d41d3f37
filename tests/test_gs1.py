"""GS1 barcodes (GS1-128, GS1 DataMatrix, DataBar, QR): GS (0x1D) separates
their fields, and the product is the GTIN in application identifier 01."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual import events
from textual._time import get_time

from drivers.scanner import LineAssembler, Scan, WedgeDecoder
from pos_app.config import load_config
from pos_app.domain.codes import ScanError, clean, normalize_voucher_code, parse_scan
from pos_app.services.checkout import CheckoutError, Till
from pos_app.ui.app import PosApp
from tests.conftest import CHOCOLATE, CROISSANT, ESPRESSO, MERLOT
from tests.uihelpers import settle, table_rows

GS = "\x1d"
SPARKLING = "7610000000066"

# Real label contents, as scanners send them (the AIM symbology identifier first when
# the scanner is set to send it; FNC1 after a variable-length field as GS).
GS1_128 = f"]C101{'0' + CROISSANT}17261231" + f"10LOT-42{GS}21SN0001"  # GTIN, expiry, batch, serial
DATAMATRIX = f"]d201{'0' + ESPRESSO}21ABC123XYZ{GS}17270630{GS}10B12345"  # pharma style (EU FMD)
NO_IDENTIFIER = f"01{'0' + MERLOT}3103000750" + "10ABC"  # no ]C1, no GS needed (10 is last)
LEADING_FNC1 = f"{GS}01{'0' + CHOCOLATE}10X1{GS}21Y2"  # some scanners send the first FNC1 too
DATABAR = f"]e001{'0' + SPARKLING}"
HUMAN_READABLE = f"(01){'0' + CROISSANT}(17)261231(10)LOT-42"  # the line printed under the bars


def test_gs_is_kept_as_the_field_separator_other_control_characters_go() -> None:
    assert clean(f"\x02]C10107610000000028{GS}21X\r\n") == f"]C10107610000000028{GS}21X"
    assert normalize_voucher_code(f"L4FU-5LQT{GS}KJR3") == "L4FU5LQTKJR3"


@pytest.mark.parametrize(("raw", "gtin"), [
    (GS1_128, "0" + CROISSANT), (DATAMATRIX, "0" + ESPRESSO), (NO_IDENTIFIER, "0" + MERLOT),
    (LEADING_FNC1, "0" + CHOCOLATE), (DATABAR, "0" + SPARKLING), (DATABAR.upper(), "0" + SPARKLING),
    (HUMAN_READABLE, "0" + CROISSANT), (DATAMATRIX.upper(), "0" + ESPRESSO),
])
def test_the_product_of_a_gs1_code_is_its_gtin(raw: str, gtin: str) -> None:
    assert parse_scan(raw).code == gtin


def test_the_other_fields_are_kept() -> None:
    scan = parse_scan(GS1_128)
    assert dict(scan.gs1) == {"01": "0" + CROISSANT, "17": "261231", "10": "LOT-42", "21": "SN0001"}
    assert dict(parse_scan(NO_IDENTIFIER).gs1) == {"01": "0" + MERLOT, "3103": "000750", "10": "ABC"}
    assert parse_scan("3*" + GS1_128).quantity == 3


def test_codes_that_are_not_gs1_are_left_alone() -> None:
    for code in (CROISSANT, "L4FU5LQTKJR3", "L4FU-5LQT-KJR3", "168-12345-67890", "42", "0123456789012"):
        assert parse_scan(code).code == code and parse_scan(code).gs1 == ()
    assert parse_scan("]E0" + CROISSANT).code == CROISSANT  # EAN-13 with its symbology identifier
    assert parse_scan("]C0ABC-123").code == "ABC-123"  # plain Code 128


@pytest.mark.parametrize(("raw", "message"), [
    (f"]C101{'0' + CROISSANT[:-1]}7", r"GS1 barcode: the GTIN \(01\) 07610000000027 has a wrong check digit"),
    (f"]C110LOT-42{GS}21X", r"GS1 barcode without a product number \(01\)"),
    ("]C10107610000", r"GS1 barcode: \(01\) needs 14 digits"),
    (f"]C101{'0' + CROISSANT}55XY", r"GS1 barcode: unknown application identifier at '55XY'"),
    (f"]d2{GS}", "GS1 barcode without a product number"),
])
def test_broken_gs1_codes_say_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(ScanError, match=message):
        parse_scan(raw)


def test_the_till_adds_the_product_of_a_gs1_code(till: Till) -> None:
    till.scan(GS1_128)
    till.scan("2*" + DATAMATRIX)
    till.scan(HUMAN_READABLE)
    assert [(l.ean, l.quantity) for l in till.order.active_lines] == [
        (CROISSANT, 1), (ESPRESSO, 2), (CROISSANT, 1)]
    with pytest.raises(CheckoutError, match="Unknown barcode '07610000000097'"):
        till.scan(f"]C10107610000000097{GS}21X")
    with pytest.raises(CheckoutError, match=r"^GS1 barcode: the GTIN \(01\) 07610000000027 has a wrong check digit"):
        till.scan("]C10107610000000027")


def test_scanner_drivers_keep_gs() -> None:
    d = WedgeDecoder()
    out = []
    for i, char in enumerate(GS1_128 + "\r"):
        out += d.feed(char, 10 + i * 0.002)
    assert out == [Scan(GS1_128 + "\r", GS1_128.upper())]
    assert LineAssembler().feed((DATAMATRIX + "\r\n").encode()) == [
        Scan(DATAMATRIX + "\r", DATAMATRIX.upper(), "serial")]


async def test_a_gs1_label_scanned_by_a_wedge_scanner_adds_the_product(
        write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    path = write_config()
    path.write_text(path.read_text().replace("max_gap_ms = 0", "max_gap_ms = 150"))
    till = till_factory(load_config(path))
    async with PosApp(till).run_test(size=(100, 30)) as pilot:
        start = get_time()
        label = f"]d221ABC123XYZ{GS}01{'0' + ESPRESSO}17270630"  # the serial first: GS ends it
        for index, char in enumerate(label + "\r"):
            key = {GS: events.Key("ctrl+right_square_bracket", GS),
                   "\r": events.Key("enter", "\r")}.get(char) or events.Key(char, char)
            key.time = start + index * 0.002
            pilot.app.post_message(key)
        await pilot.pause(0.3)
        await settle(pilot)
        assert table_rows(pilot, "#lines") == [["1", "Espresso beans 500 g", "14.90", "14.90", "2.6%"]]


async def test_gs_typed_into_the_scan_field_without_timing_is_kept(till: Till) -> None:
    """``max_gap_ms = 0``: the suffix alone ends a scan; GS still separates the fields."""
    async with PosApp(till).run_test(size=(100, 30)) as pilot:
        for char in f"]d221ABC123XYZ{GS}01{'0' + CROISSANT}\r":
            key = {GS: events.Key("ctrl+right_square_bracket", GS),
                   "\r": events.Key("enter", "\r")}.get(char) or events.Key(char, char)
            pilot.app.post_message(key)
        await settle(pilot)
        assert table_rows(pilot, "#lines")[0][:2] == ["1", "Croissant"]
