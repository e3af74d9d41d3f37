"""ESC/POS bytes: code page CP858, the test page, CODE128, the cash-drawer kick, paper status."""

from __future__ import annotations

import pytest

from drivers.drawer import CashDrawer, kick_bytes
from drivers.printer import DummyPrinter, PaperStatus, PrinterError, parse_paper_status
from drivers.printer import test_page as tp
from drivers.printer.barcodes import barcode_escpos, barcode_svg, barcode_text
from drivers.printer.codepage import codepage_number, encode_text, printable

ESC_T_CP858 = b"\x1bt\x13"  # ESC t 19


def test_cp858_select_and_bytes_for_umlaut_and_euro() -> None:
    assert codepage_number("CP858") == 19
    assert codepage_number("cp858") == 19
    assert encode_text("Zürich € Fr.") == ESC_T_CP858 + b"Z\x81rich \xd5 Fr."
    assert encode_text("äöüéàç ÄÖÜ") == ESC_T_CP858 + b"\x84\x94\x81\x82\x85\x87 \x8e\x99\x9a"


def test_what_python_escpos_does_by_itself() -> None:
    """Pinned library behaviour that makes select_codepage necessary (see codepage.py)."""
    from escpos.printer import Dummy

    auto = Dummy()
    auto.text("ü€")
    # ü in CP437 (page 0), € in ISO-8859-7 (page 15), not CP858.
    assert auto.output == b"\x1bt\x00\x81\x1bt\x0f\xa4"
    assumed = Dummy(magic_encode_args={"encoding": "CP858"})
    assumed.text("ü€")
    assert assumed.output == b"\x81\xd5"  # no ESC t: the printer would still be in CP437


def test_unknown_codepage_and_profile_say_so() -> None:
    with pytest.raises(ValueError, match="no code page 'CP999'"):
        encode_text("x", codepage="CP999")
    with pytest.raises(ValueError, match="unknown printer profile"):
        encode_text("x", profile="no-such-printer")


def test_printable_makes_typography_plain() -> None:
    assert printable("‘Grüezi’ – “Zürich” … 5 €") == "'Grüezi' - \"Zürich\" ... 5 €"
    assert printable("Łódź Œuvre") == "Lódz OEuvre"  # ó is in CP858, ź and Ł are not
    assert printable("✓") == "?"


# Every character from space to U+2200 (Latin, Greek, Cyrillic, typography, symbols).
ALL_TEXT = "".join(chr(c) for c in range(0x20, 0x2200)) + "‘Grüezi’ – “Zürich” … 5 € Łódź Œuvre ✓ ﬁ"
SINGLE_BYTE_PAGES = ["CP437", "CP850", "CP852", "CP858", "CP866", "CP1250", "CP1251", "CP1252",
                     "ISO_8859-2", "ISO_8859-7", "ISO_8859-15"]


@pytest.mark.parametrize("codepage", SINGLE_BYTE_PAGES)
def test_page_encoder_sends_the_bytes_python_escpos_sends(codepage: str) -> None:
    """One call per text gives the bytes python-escpos's per-character text() gives for
    printable(text): the printer bytes did not change when the encoding became one call."""
    from escpos.printer import Dummy

    from drivers.printer.codepage import page_encoder, select_codepage

    reference = Dummy()
    select_codepage(reference, codepage)
    start = len(reference.output)
    reference.text(printable(ALL_TEXT, codepage))
    printer = Dummy()
    select_codepage(printer, codepage)
    assert page_encoder(printer)(ALL_TEXT) == reference.output[start:]


def test_receipt_text_is_encoded_in_one_call_not_per_character(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-escpos's encoder works character by character in Python; the receipt's
    text never goes through it, and a character is made plain once, not at every use."""
    from escpos.magicencode import Encoder

    from drivers.printer import codepage
    from pos_app.receipts import Receipt

    def per_character(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("python-escpos's per-character encoder was used")

    monkeypatch.setattr(Encoder, "encode", per_character)
    made_plain: list[str] = []
    plain = codepage._plain
    monkeypatch.setattr(codepage, "_plain", lambda char, prints: made_plain.append(char) or plain(char, prints))
    codepage._page_bytes.cache_clear()
    receipt = Receipt(42)
    for _ in range(50):
        receipt.add("Zürich € … “Café” ✓")
    data = receipt.escpos("default", "CP858")
    assert data.count(b'Z\x81rich \xd5 ... "Caf\x82" ?\n') == 50
    assert sorted(made_plain) == sorted("…“”✓")  # each once, for 50 lines


def test_test_page_bytes() -> None:
    page = tp.test_page_bytes(42, "default")
    assert page.startswith(b"\x1b@" + ESC_T_CP858)  # INIT, then the code page
    assert page.count(b"\x1bt") == 1  # never switched away from CP858
    assert b"Z\x81rich  CHF 12.50 = Fr. 12.50\n" in page
    assert b"Euro: \xd5 9.90\n" in page
    assert b"\x84\x94\x81 \x8e\x99\x9a \x82\x85\x8a \x87\n" in page
    assert b"\n" + b"1234567890" * 4 + b"12\n" in page  # a 42-column ruler
    code = b"{BTILL-TEST-0042"
    assert b"\x1dkI" + bytes([len(code)]) + code in page  # GS k 73 n {B...
    assert page.endswith(b"\x1dV\x00")  # cut
    narrow = tp.test_page_bytes(32, "TM-T20II")
    assert b"\n" + b"1234567890" * 3 + b"12\n" in narrow


def test_test_page_prints_nothing_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    tp.test_page_bytes()
    barcode_escpos("GV-1")
    assert capsys.readouterr().out == ""


def test_printer_test_sends_one_page() -> None:
    printer = DummyPrinter()
    lines: list[str] = []
    assert tp.printer_test(printer, 42, "default", out=lines.append) == 0
    assert printer.jobs == [tp.test_page_bytes(42, "default")]
    assert lines[0] == "printer: dummy (in memory)"
    assert "test page sent" in lines[-1]


class BrokenPrinter:
    description = "broken"

    def send(self, data: bytes) -> None:
        raise PrinterError("printer at 10.0.0.9:9100 refused the connection")


def test_printer_test_reports_failure() -> None:
    lines: list[str] = []
    assert tp.printer_test(BrokenPrinter(), out=lines.append) == 1
    assert lines[-1] == "test page NOT printed: printer at 10.0.0.9:9100 refused the connection"
    assert tp.printer_test(DummyPrinter(), profile="nope", out=lines.append) == 1
    assert "unknown printer profile" in lines[-1]


def test_barcode_escpos_bytes() -> None:
    assert barcode_escpos("GV-1234") == (
        b"\x1ba\x01"  # centre
        b"\x1dh\x40"  # height 64
        b"\x1dw\x02"  # module width 2
        b"\x1df\x00"  # font A
        b"\x1dH\x02"  # text below
        b"\x1dkI\x09{BGV-1234"  # CODE128, 9 bytes, code set B
        b"\x1ba\x00"  # back to left
    )
    assert barcode_escpos("X", height=100, text_below=False) == (
        b"\x1ba\x01\x1dh\x64\x1dw\x02\x1df\x00\x1dH\x00\x1dkI\x03{BX\x1ba\x00")


def test_barcode_bad_codes() -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        barcode_escpos("Zürich")
    with pytest.raises(ValueError, match="at most 253"):
        barcode_escpos("1" * 254)
    with pytest.raises(ValueError, match="at least one"):
        barcode_escpos("")


def test_barcode_previews() -> None:
    text = barcode_text("GV-1234")
    lines = text.splitlines()
    assert len(lines) == 4 and lines[0] == lines[2]
    assert set(lines[0]) <= {"█", "▌", "▐", " "}
    assert lines[-1].strip() == "GV-1234"
    svg = barcode_svg("GV-1234")
    assert svg.startswith("<?xml") and "<svg" in svg


def test_drawer_kick_bytes_pin_2_and_5() -> None:
    assert kick_bytes(2) == b"\x1bp\x00\x32\x32"  # ESC p 0 50 50: 100 ms on, 100 ms off
    assert kick_bytes(5) == b"\x1bp\x01\x32\x32"
    assert kick_bytes(2, on_ms=50, off_ms=250) == b"\x1bp\x00\x19\x7d"
    from escpos.constants import CD_KICK_2, CD_KICK_5

    assert (kick_bytes(2), kick_bytes(5)) == (CD_KICK_2, CD_KICK_5)


def test_drawer_bad_settings() -> None:
    with pytest.raises(ValueError, match="pin must be 2 or 5"):
        kick_bytes(3)
    with pytest.raises(ValueError, match="on_ms"):
        kick_bytes(2, on_ms=1000)


def test_cash_drawer_opens_through_the_printer() -> None:
    printer = DummyPrinter()
    drawer = CashDrawer(printer, pin=5, on_ms=120, off_ms=240)
    drawer.open()
    assert printer.jobs == [b"\x1bp\x01\x3c\x78"]
    assert drawer.description == "cash drawer on pin 5 of dummy (in memory)"
    with pytest.raises(PrinterError, match="^cash drawer not opened: printer at 10.0.0.9:9100 refused"):
        CashDrawer(BrokenPrinter()).open()


@pytest.mark.parametrize(("answer", "status"), [
    (b"\x12", PaperStatus.OK),
    (b"\x1e", PaperStatus.NEAR_END),  # bits 2-3: near-end sensor
    (b"\x72", PaperStatus.OUT_OR_NO_ANSWER),  # bits 5-6: paper end
    (b"\x7e", PaperStatus.OUT_OR_NO_ANSWER),
    (b"", PaperStatus.OUT_OR_NO_ANSWER),  # no answer
    (b"\xff", PaperStatus.UNKNOWN),  # not a status byte
    (b"\x00", PaperStatus.UNKNOWN),
    (b"\xff\x12", PaperStatus.OK),  # the last byte counts
])
def test_parse_paper_status(answer: bytes, status: PaperStatus) -> None:
    assert parse_paper_status(answer) is status


def test_paper_status_messages_say_out_or_no_answer() -> None:
    assert PaperStatus.OUT_OR_NO_ANSWER.message == (
        "paper out, or the printer did not answer the status query")
