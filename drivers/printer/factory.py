"""``open_printer(kind, ...)``: the backend for ``[printer] kind``, built without any I/O."""

from __future__ import annotations

from pathlib import Path

from drivers.printer.base import DummyPrinter, FilePrinter, ReceiptPrinter, UnsupportedPrinter
from drivers.printer.cups import CupsPrinter
from drivers.printer.network import NetworkPrinter
from drivers.printer.serial_printer import SerialPrinter
from drivers.printer.usb import PYUSB_MISSING, UsbPrinter, pyusb_available
from pos_app.i18n import _

KINDS = ("network", "usb", "serial", "file", "cups", "dummy")


def _need(kind: str, **values: object) -> None:
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise ValueError(_("printer kind {kind!r} needs [printer] {keys}").format(kind=kind, keys=" and ".join(missing)))


def open_printer(
    kind: str,
    *,
    path: Path | str | None = None,
    host: str | None = None,
    port: int = 9100,
    vendor_id: int | None = None,
    product_id: int | None = None,
    in_ep: int = 0x82,
    out_ep: int = 0x01,
    interface: int = 0,
    device: str | None = None,
    baudrate: int = 19200,
    bytesize: int = 8,
    parity: str = "N",
    stopbits: float = 1,
    rtscts: bool = False,
    dsrdtr: bool = False,
    xonxoff: bool = False,
    queue: str | None = None,
    cups_host: str | None = None,
    timeout_s: float = 5.0,
    status_timeout_s: float = 1.0,
) -> ReceiptPrinter:
    """A printer backend; nothing is opened until the first ``send``.

    Raises ValueError when a parameter the kind needs is missing or wrong.
    A kind whose library is missing (usb without pyusb) or an unknown kind
    gives an :class:`UnsupportedPrinter` whose sends fail with the reason.
    """
    if kind == "network":
        _need(kind, host=host)
        assert host is not None
        return NetworkPrinter(host, port, timeout_s=timeout_s, status_timeout_s=status_timeout_s)
    if kind == "usb":
        _need(kind, vendor_id=vendor_id, product_id=product_id)
        assert vendor_id is not None and product_id is not None
        if not pyusb_available():
            return UnsupportedPrinter("usb", _(PYUSB_MISSING))
        return UsbPrinter(vendor_id, product_id, in_ep=in_ep, out_ep=out_ep, interface=interface,
                          timeout_s=timeout_s, status_timeout_s=status_timeout_s)
    if kind == "serial":
        _need(kind, device=device)
        assert device is not None
        return SerialPrinter(device, baudrate, bytesize=bytesize, parity=parity, stopbits=stopbits,
                             rtscts=rtscts, dsrdtr=dsrdtr, xonxoff=xonxoff, timeout_s=timeout_s,
                             status_timeout_s=status_timeout_s)
    if kind == "file":
        _need(kind, path=path)
        assert path is not None
        return FilePrinter(Path(path), timeout_s=timeout_s)
    if kind == "cups":
        _need(kind, queue=queue)
        assert queue is not None
        return CupsPrinter(queue, host=cups_host, timeout_s=timeout_s)
    if kind == "dummy":
        return DummyPrinter()
    return UnsupportedPrinter(kind)
