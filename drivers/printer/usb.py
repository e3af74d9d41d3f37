"""USB printers driven with pyusb (optional: ``pip install pyusb``, needs libusb-1.0).

Not ``escpos.printer.Usb``: it resets the device on every open, detaches the
kernel driver of interface 0 only, logs failures instead of raising them,
and writes with no timeout by default. Without pyusb, the kernel's
``usblp`` driver still works: ``kind = "file"``, ``path = "/dev/usb/lp0"``.
"""

from __future__ import annotations

import errno
import importlib.util
import threading
from types import ModuleType
from typing import Any

from drivers.printer.base import PAPER_QUERY, PaperStatus, PrinterError, parse_paper_status
from pos_app.i18n import N_, _

# Marked here, translated where it is shown.
PYUSB_MISSING = N_("pyusb is not installed (pip install pyusb; it needs libusb-1.0), or use the "
                   "kernel's usblp driver: [printer] kind = \"file\", path = \"/dev/usb/lp0\"")


def pyusb_available() -> bool:
    return importlib.util.find_spec("usb") is not None


class UsbPrinter:
    def __init__(self, vendor_id: int, product_id: int, *, in_ep: int = 0x82, out_ep: int = 0x01,
                 interface: int = 0, timeout_s: float = 5.0, status_timeout_s: float = 0.5) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.in_ep = in_ep
        self.out_ep = out_ep
        self.interface = interface
        self.timeout_s = timeout_s
        self.status_timeout_s = status_timeout_s
        self.description = _("usb {ids}").format(ids=f"{vendor_id:04x}:{product_id:04x}")
        self._lock = threading.Lock()

    @property
    def _where(self) -> str:
        return _("USB printer {ids}").format(ids=f"{self.vendor_id:04x}:{self.product_id:04x}")

    @staticmethod
    def _pyusb() -> tuple[ModuleType, ModuleType]:
        try:
            import usb.core
            import usb.util
        except ImportError:
            raise PrinterError(_('USB printing unavailable: {problem}').format(problem=_(PYUSB_MISSING))) from None
        return usb.core, usb.util

    def _explain(self, exc: Any, doing: str) -> PrinterError:
        code = getattr(exc, "errno", None) or getattr(exc, "backend_error_code", None)
        if code in (errno.EACCES, errno.EPERM, -3):  # -3: LIBUSB_ERROR_ACCESS
            return PrinterError(_('permission denied on {where}: add a udev rule giving the till\'s user access (e.g. MODE="0660", GROUP="lp")').format(where=self._where))
        if code in (errno.ENODEV, -4):  # -4: LIBUSB_ERROR_NO_DEVICE
            return PrinterError(_('{where} was unplugged or switched off').format(where=self._where))
        if code in (errno.EBUSY, -6):  # -6: LIBUSB_ERROR_BUSY
            return PrinterError(_('{where} is in use by another program or driver').format(where=self._where))
        if code in (errno.ETIMEDOUT, -7) or type(exc).__name__ == "USBTimeoutError":
            return PrinterError(_('{where} did not take the receipt within {timeout_s:g} s: paper out, cover open or switched off?').format(where=self._where, timeout_s=self.timeout_s))
        return PrinterError(_('{where}: {doing} failed ({exc})').format(where=self._where, doing=doing, exc=exc))

    def _open(self) -> tuple[Any, ModuleType]:
        core, util = self._pyusb()
        try:
            dev = core.find(idVendor=self.vendor_id, idProduct=self.product_id)
        except ValueError:  # NoBackendError (a ValueError in every pyusb version)
            raise PrinterError(_('pyusb found no USB library: install libusb-1.0 (apt install libusb-1.0-0)')) from None
        if dev is None:
            raise PrinterError(_('{where} not found: is it plugged in and switched on? (lsusb lists the ids)').format(where=self._where))
        try:
            # Only libusb1 knows kernel drivers (Linux: usblp); the others have none to detach.
            if _has_kernel_drivers(dev) and dev.is_kernel_driver_active(self.interface):
                dev.detach_kernel_driver(self.interface)
            try:
                dev.get_active_configuration()
            except core.USBError:
                dev.set_configuration()
            util.claim_interface(dev, self.interface)
        except core.USBError as exc:
            util.dispose_resources(dev)
            raise self._explain(exc, _("opening")) from None
        return dev, util

    def send(self, data: bytes) -> None:
        """One bulk ``write`` of the whole receipt with a ``timeout_s`` limit."""
        with self._lock:
            dev, util = self._open()
            core, _backend = self._pyusb()
            try:
                written = dev.write(self.out_ep, data, int(self.timeout_s * 1000))
            except core.USBError as exc:
                raise self._explain(exc, _("sending the receipt")) from None
            finally:
                util.dispose_resources(dev)
            if written != len(data):
                raise PrinterError(_('{where} took only {written} of {count} bytes').format(where=self._where, written=written, count=len(data)))

    def paper_status(self) -> PaperStatus:
        with self._lock:
            dev, util = self._open()
            core, _backend = self._pyusb()
            timeout_ms = int(self.status_timeout_s * 1000)
            try:
                dev.write(self.out_ep, PAPER_QUERY, timeout_ms)
                answer = bytes(dev.read(self.in_ep, 16, timeout_ms))
            except core.USBError as exc:
                if getattr(exc, "errno", None) == errno.ETIMEDOUT or type(exc).__name__ == "USBTimeoutError":
                    return PaperStatus.OUT_OR_NO_ANSWER
                raise self._explain(exc, _("the status query")) from None
            finally:
                util.dispose_resources(dev)
        return parse_paper_status(answer)


def _has_kernel_drivers(dev: Any) -> bool:
    backend = getattr(dev, "backend", None)
    return backend is None or type(backend).__module__.endswith("libusb1")
