"""Cash drawer: a kick pulse (``ESC p m t1 t2``) sent through the receipt printer.

The drawer hangs on the printer's RJ-11 "DK" port. ``m`` picks the
connector pin (0: pin 2, 1: pin 5); ``t1``/``t2`` are the pulse's on and off
times in units of 2 ms. python-escpos's ``cashdraw(2)`` sends the same
bytes with 100 ms/100 ms (``ESC p 0 50 50``).
"""

from __future__ import annotations

from drivers.printer.base import PrinterError, ReceiptPrinter
from pos_app.i18n import _

PINS = {2: 0, 5: 1}


def kick_bytes(pin: int = 2, on_ms: int = 100, off_ms: int = 100) -> bytes:
    """``kick_bytes(2)`` == ``b"\\x1bp\\x00\\x32\\x32"``; ValueError for a bad pin or time."""
    if pin not in PINS:
        raise ValueError(_("cash drawer pin must be 2 or 5, got {pin!r}").format(pin=pin))
    for name, ms in (("on_ms", on_ms), ("off_ms", off_ms)):
        if not 2 <= ms <= 510:
            raise ValueError(_("cash drawer {name} must be between 2 and 510 ms, got {ms!r}").format(
                name=name, ms=ms))
    return b"\x1bp" + bytes((PINS[pin], round(on_ms / 2), round(off_ms / 2)))


class CashDrawer:
    def __init__(self, printer: ReceiptPrinter, pin: int = 2, on_ms: int = 100, off_ms: int = 100) -> None:
        self.printer = printer
        self.pulse = kick_bytes(pin, on_ms, off_ms)
        self.pin = pin
        self.description = f"cash drawer on pin {pin} of {printer.description}"

    def open(self) -> None:
        """Send the kick; PrinterError says why the drawer did not open (open it by key)."""
        try:
            self.printer.send(self.pulse)
        except PrinterError as exc:
            raise PrinterError(_("cash drawer not opened: {problem}; open it with its key").format(
                problem=exc)) from None
