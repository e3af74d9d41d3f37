"""CODE128 barcodes: native ESC/POS bytes for paper, text or SVG for the screen.

The printer draws the barcode itself (``GS k 73``): python-escpos's
``barcode()`` with ``function_type="B"``; CODE128 data must start with a
code-set selector, ``{B`` (printable ASCII), which this module adds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.printer.escpos_tools import dummy, quiet
from pos_app.i18n import _

if TYPE_CHECKING:
    from escpos.escpos import Escpos

MAX_CODE128 = 253  # GS k 73 n: n <= 255 bytes, two of them the "{B" selector


def check_code128(code: str) -> None:
    if not code:
        raise ValueError(_("a barcode needs at least one character"))
    if len(code) > MAX_CODE128:
        raise ValueError(_("a CODE128 barcode holds at most {limit} characters, got {count}").format(
            limit=MAX_CODE128, count=len(code)))
    bad = sorted({c for c in code if not " " <= c <= "~"})
    if bad:
        raise ValueError(_("CODE128 set B has no {characters!r} (printable ASCII only)").format(
            characters="".join(bad)))


def add_barcode(printer: Escpos, code: str, *, height: int = 64, width: int = 2,
                text_below: bool = True) -> None:
    """Append a centred CODE128 of ``code`` to ``printer``'s job; alignment goes back to left.

    ``height`` in dots (1..255), ``width`` the module width (2..6).
    """
    check_code128(code)
    from escpos.exceptions import BarcodeCodeError, BarcodeSizeError, BarcodeTypeError

    with quiet():
        try:
            printer.barcode("{B" + code, "CODE128", height=height, width=width,
                            pos="BELOW" if text_below else "OFF", function_type="B")
        except (BarcodeCodeError, BarcodeSizeError, BarcodeTypeError) as exc:
            raise ValueError(_("cannot print {code!r} as CODE128: {problem}").format(code=code, problem=exc)) from None
        printer.set(align="left")


def barcode_escpos(code: str, *, height: int = 64, width: int = 2, text_below: bool = True,
                   profile: str = "default") -> bytes:
    """ESC/POS bytes printing ``code`` as a centred CODE128 barcode, alignment reset to left.

    For a gift voucher receipt: append them to the receipt's bytes (they
    contain no text, so they do not change the code page).
    """
    with quiet():
        printer = dummy(profile)
    add_barcode(printer, code, height=height, width=width, text_below=text_below)
    return printer.output


def _modules(code: str) -> str:
    import barcode

    check_code128(code)
    return barcode.get("code128", code).build()[0]


def barcode_text(code: str, *, rows: int = 3) -> str:
    """A CODE128 drawn with block characters, two modules per cell, for an on-screen preview."""
    modules = _modules(code)
    quiet_zone = "0" * 10
    modules = quiet_zone + modules + quiet_zone
    if len(modules) % 2:
        modules += "0"
    cells = {"11": "█", "10": "▌", "01": "▐", "00": " "}
    line = "".join(cells[modules[i:i + 2]] for i in range(0, len(modules), 2))
    return "\n".join([line] * rows + [code.center(len(line)).rstrip()])


def barcode_svg(code: str) -> str:
    """A CODE128 as an SVG document (python-barcode), for previews outside the terminal."""
    import barcode
    from barcode.writer import SVGWriter

    check_code128(code)
    return barcode.get("code128", code, writer=SVGWriter()).render().decode("utf-8")
