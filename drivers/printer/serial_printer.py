"""Serial printers (RS-232 or a USB virtual COM port), with pyserial directly.

Not ``escpos.printer.Serial``: it has no write timeout and DSR/DTR flow
control on by default, so a printer that is off (DSR low) blocks its write
forever, and its ``paper_status()`` reads an empty answer as "paper adequate".
Here a send is one ``write`` with ``write_timeout``, then a bounded wait
for the port's output queue to drain (a plain ``flush()``, ``tcdrain``, has
no timeout), and anything still queued is dropped on failure so closing
the port cannot hang either.
"""

from __future__ import annotations

import threading
import time

import serial

from drivers.printer.base import (
    PAPER_QUERY,
    PaperStatus,
    PrinterError,
    explain_os_error,
    parse_paper_status,
)
from drivers.serial_settings import serial_settings
from pos_app.i18n import _


class SerialPrinter:
    def __init__(
        self,
        device: str,
        baudrate: int = 19200,
        *,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        rtscts: bool = False,
        dsrdtr: bool = False,
        xonxoff: bool = False,
        timeout_s: float = 5.0,
        status_timeout_s: float = 0.5,
    ) -> None:
        self.device = device
        self.timeout_s = timeout_s
        self.status_timeout_s = status_timeout_s
        self._settings = {**serial_settings(baudrate, bytesize, parity, stopbits),
                          "rtscts": rtscts, "dsrdtr": dsrdtr, "xonxoff": xonxoff}
        self.description = _("serial {device} at {baudrate} baud").format(device=device, baudrate=baudrate)
        self._lock = threading.Lock()

    def _open(self) -> serial.SerialBase:
        try:
            return serial.serial_for_url(self.device, timeout=self.status_timeout_s,
                                         write_timeout=self.timeout_s, **self._settings)
        except serial.SerialException as exc:  # pyserial keeps the OS errno
            if exc.errno is not None:
                raise PrinterError(explain_os_error(self.device, exc)) from None
            raise PrinterError(_('cannot open serial printer {device}: {exc}').format(device=self.device, exc=exc)) from None
        except ValueError as exc:
            raise PrinterError(_('bad serial settings for {device}: {exc}').format(device=self.device, exc=exc)) from None

    def send(self, data: bytes) -> None:
        """One ``write`` of the whole receipt; gives up after ``timeout_s`` in all."""
        with self._lock:
            deadline = time.monotonic() + self.timeout_s
            port = self._open()
            try:
                port.write(data)
                while _queued(port):
                    if time.monotonic() >= deadline:
                        raise serial.SerialTimeoutException("output not drained")
                    time.sleep(0.01)
            except serial.SerialTimeoutException:
                _discard(port)
                raise PrinterError(_('printer on {device} did not take the receipt within {timeout_s:g} s: switched off, paper out, or a flow-control (RTS/CTS, DSR/DTR) mismatch?').format(device=self.device, timeout_s=self.timeout_s)) from None
            except (serial.SerialException, OSError) as exc:
                _discard(port)
                raise PrinterError(_('writing to {device} failed ({exc}): was the printer unplugged?').format(device=self.device, exc=exc)) from None
            finally:
                _close(port)

    def paper_status(self) -> PaperStatus:
        """``DLE EOT 4``; no answer within ``status_timeout_s`` is OUT_OR_NO_ANSWER."""
        with self._lock:
            port = self._open()
            try:
                port.reset_input_buffer()  # a late answer to an earlier query
                port.write(PAPER_QUERY)
                answer = port.read(1)
            except serial.SerialTimeoutException:
                _discard(port)
                return PaperStatus.OUT_OR_NO_ANSWER
            except (serial.SerialException, OSError) as exc:
                _discard(port)
                raise PrinterError(_('status query on {device} failed ({exc})').format(device=self.device, exc=exc)) from None
            finally:
                _close(port)
        return parse_paper_status(answer)


def _queued(port: serial.SerialBase) -> int:
    """Bytes still in the OS output queue; URL handlers (``loop://``...) have none to wait for."""
    return port.out_waiting if isinstance(port, serial.Serial) else 0


def _discard(port: serial.SerialBase) -> None:
    try:
        port.reset_output_buffer()
    except (serial.SerialException, OSError):
        pass  # the port is gone; nothing queued survives that


def _close(port: serial.SerialBase) -> None:
    try:
        port.close()
    except (serial.SerialException, OSError):
        pass  # already unplugged
