"""``pos printer test``: a page that shows the code page, the width and a barcode work."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from drivers.printer.barcodes import add_barcode
from drivers.printer.base import PrinterError, ReceiptPrinter, StatusPrinter
from drivers.printer.codepage import DEFAULT_CODEPAGE, page_encoder, page_text, select_codepage
from drivers.printer.escpos_tools import dummy, quiet
from pos_app.i18n import _

TEST_BARCODE = "TILL-TEST-0042"
LINES = (
    "Zürich  CHF 12.50 = Fr. 12.50",
    "Euro: € 9.90",
    "äöü ÄÖÜ éàè ç",
)


def _fit(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` columns (a 32-column printer too)."""
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def test_page_bytes(width: int = 42, profile: str = "default", *,
                    codepage: str = DEFAULT_CODEPAGE, code: str = TEST_BARCODE) -> bytes:
    """The whole test page as ESC/POS bytes, ready for one ``send``."""
    with quiet():
        p = dummy(profile)
        p.hw("INIT")
        select_codepage(p, codepage)
        p.set(align="center", bold=True, double_height=True)
        for line in _fit(page_text(p)(_("PRINTER TEST")), width):  # double height, normal width
            p._raw(page_encoder(p)(line + "\n"))
        p.set(align="center", bold=False, normal_textsize=True)
        encode, plain = page_encoder(p), page_text(p)
        # every line measured as it prints (what the code page lacks made plain), then wrapped
        about = _("profile {profile}, code page {codepage}, {width} columns").format(
            profile=profile, codepage=codepage, width=width)
        for line in _fit(plain(about), width):
            p._raw(encode(line + "\n"))
        p.set(align="left")
        p.textln("-" * width)
        for text in LINES:
            for line in _fit(plain(text), width):
                p._raw(encode(line + "\n"))
        p.textln("-" * width)
        p.textln(("1234567890" * (width // 10 + 1))[:width])
        for line in _fit(plain(_("The line above must fit on one line.")), width):
            p._raw(encode(line + "\n"))
        p.textln()
    add_barcode(p, code)
    with quiet():
        p.textln()
        for line in _fit(plain(_("Scan test: {code}").format(code=code)), width):
            p._raw(encode(line + "\n"))
        p.cut()
    return p.output


test_page_bytes.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def printer_test(printer: ReceiptPrinter, width: int = 42, profile: str = "default",
                 out: Callable[[str], None] = print, *, codepage: str = DEFAULT_CODEPAGE) -> int:
    """Print the test page on ``printer`` and report; 0 when it went out, 1 when not."""
    out(_("printer: {printer}").format(printer=printer.description))
    try:
        data = test_page_bytes(width, profile, codepage=codepage)
    except ValueError as exc:
        out(_("cannot build the test page: {problem}").format(problem=exc))
        return 1
    if isinstance(printer, StatusPrinter):
        try:
            out(_("before: {status}").format(status=printer.paper_status().message))
        except PrinterError as exc:
            out(_("no status: {problem}").format(problem=exc))
    try:
        printer.send(data)
    except PrinterError as exc:
        out(_("test page NOT printed: {problem}").format(problem=exc))
        return 1
    out(_("test page sent ({size} bytes). Check on paper: 'Zürich', '€', 'Fr.', the accented letters, "
          "the ruler on one line, and that the barcode scans as {code}.").format(size=len(data), code=TEST_BARCODE))
    return 0
