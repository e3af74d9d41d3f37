"""Receipt printers: the bytes of a whole receipt go out in one write.

Backends take ESC/POS bytes already built in memory (``pos_app.receipts``)
and only move them; that keeps a slow or absent printer from ever holding
up the building of a receipt or the closing of a sale. Every ``send`` has a
time limit and raises :class:`PrinterError` with a message for the cashier;
run it in a worker thread.

- :func:`open_printer` builds the backend for ``[printer] kind``.
- Network, serial and USB printers also answer ``paper_status()``
  (:class:`PaperStatus`; see :class:`StatusPrinter`).
- :mod:`drivers.printer.codepage` (CP858), :mod:`drivers.printer.barcodes`
  (CODE128), :mod:`drivers.printer.test_page` (``pos printer test``).
"""

from drivers.printer.base import (
    DummyPrinter,
    FilePrinter,
    PaperStatus,
    PrinterError,
    ReceiptPrinter,
    StatusPrinter,
    UnsupportedPrinter,
    parse_paper_status,
)
from drivers.printer.cups import CupsPrinter
from drivers.printer.factory import KINDS, open_printer
from drivers.printer.network import NetworkPrinter
from drivers.printer.serial_printer import SerialPrinter
from drivers.printer.usb import UsbPrinter

__all__ = [
    "KINDS",
    "CupsPrinter",
    "DummyPrinter",
    "FilePrinter",
    "NetworkPrinter",
    "PaperStatus",
    "PrinterError",
    "ReceiptPrinter",
    "SerialPrinter",
    "StatusPrinter",
    "UnsupportedPrinter",
    "UsbPrinter",
    "open_printer",
    "parse_paper_status",
]
