"""The printer port, its error, paper status, and the backends that need no library."""

from __future__ import annotations

import errno
import os
import select
import stat
import threading
import time
from enum import Enum
from pathlib import Path
from typing import Protocol, runtime_checkable

from pos_app.i18n import _

class PrinterError(RuntimeError):
    """The receipt did not reach the printer; the message says why and what to do."""


class ReceiptPrinter(Protocol):
    description: str

    def send(self, data: bytes) -> None:
        """Send one whole receipt; raise PrinterError if it did not go out."""


class PaperStatus(Enum):
    """The paper sensor's answer to ``DLE EOT 4``.

    ``OUT_OR_NO_ANSWER`` joins two cases on purpose: many printers stop
    answering when the paper is out, so silence cannot be told from "out".
    """

    OK = "paper ok"
    NEAR_END = "paper near its end"
    OUT_OR_NO_ANSWER = "paper out, or the printer did not answer the status query"
    UNKNOWN = "paper status unknown (the printer's answer was not a status byte)"

    @property
    def message(self) -> str:
        return self.value


@runtime_checkable
class StatusPrinter(Protocol):
    """A backend that can read the paper sensor (network, serial, usb)."""

    description: str

    def send(self, data: bytes) -> None: ...

    def paper_status(self) -> PaperStatus: ...


# ESC/POS real-time status, n=4: roll paper sensor. Answer bits: 0b0xx1xx10
# fixed; bits 2-3 near end, bits 5-6 paper end.
PAPER_QUERY = b"\x10\x04\x04"
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12
_NEAR_END, _OUT = 0x0C, 0x60


def parse_paper_status(answer: bytes) -> PaperStatus:
    """The last byte of the answer to :data:`PAPER_QUERY`; empty means no answer."""
    if not answer:
        return PaperStatus.OUT_OR_NO_ANSWER
    byte = answer[-1]
    if byte & _FIXED_MASK != _FIXED_BITS:
        return PaperStatus.UNKNOWN
    if byte & _OUT:
        return PaperStatus.OUT_OR_NO_ANSWER
    if byte & _NEAR_END:
        return PaperStatus.NEAR_END
    return PaperStatus.OK


def _is_device_path(path: Path) -> bool:
    """A device or pipe (``/dev/usb/lp0``, a FIFO), never created as a plain file."""
    if str(path).startswith("/dev/"):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def explain_os_error(path: Path | str, exc: OSError) -> str:
    """One sentence for the cashier about a failed open/write of a printer device or file."""
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        text = _("permission denied on {path}: add the till's user to the group that owns it "
                 "(usually 'lp': sudo usermod -aG lp <user>, then log in again)")
    elif code == errno.ENOENT:
        text = _("{path} does not exist: is the printer plugged in and switched on?")
    elif code in (errno.ENXIO, errno.ENODEV):
        text = _("no printer behind {path}: is it plugged in and switched on?")
    elif code == errno.EBUSY:
        text = _("{path} is in use by another program")
    elif code == errno.EIO:
        text = _("input/output error on {path}: the printer is off, unplugged or faulty")
    elif code == errno.ENOSPC:
        text = _("no space left to write {path}")
    else:
        text = _("cannot write to {path}: {problem}")
    return text.format(path=path, problem=exc.strerror or exc)


class FilePrinter:
    """Appends receipts to a file (demo, tests), or writes them to a device (``/dev/usb/lp0``).

    A device or FIFO is written without blocking, within ``timeout_s``, so
    an offline printer behind the kernel's ``usblp`` driver cannot hang a send.
    """

    def __init__(self, path: Path, timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.description = _("file {path}").format(path=self.path)

    def send(self, data: bytes) -> None:
        if _is_device_path(self.path):
            self._send_device(data)
            return
        try:
            # Receipts hold sold gift voucher codes: a new file is 0600, a new folder 0700,
            # whatever the umask.
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "ab") as handle:
                handle.write(data)
        except OSError as exc:
            raise PrinterError(explain_os_error(self.path, exc)) from None

    def _send_device(self, data: bytes) -> None:
        deadline = time.monotonic() + self.timeout_s
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            raise PrinterError(explain_os_error(self.path, exc)) from None
        view = memoryview(data)
        try:
            while view:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PrinterError(
                        _('printer on {path} did not take the receipt within {timeout_s:g} s ({sent} of {count} bytes sent): paper out, cover open or switched off?').format(path=self.path, timeout_s=self.timeout_s, sent=len(data) - len(view), count=len(data)))
                _readable, ready, _failed = select.select([], [fd], [], left)
                if not ready:
                    continue
                try:
                    written = os.write(fd, view)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    raise PrinterError(explain_os_error(self.path, exc)) from None
                view = view[written:]
        finally:
            os.close(fd)


class DummyPrinter:
    """Keeps receipts in memory; what a test inspects."""

    def __init__(self) -> None:
        self.description = _("dummy (in memory)")
        self.jobs: list[bytes] = []
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._lock:
            self.jobs.append(data)

    @property
    def output(self) -> bytes:
        with self._lock:
            return b"".join(self.jobs)


class UnsupportedPrinter:
    """A configured backend that cannot be driven here: every send fails, clearly.

    ``reason`` says what is missing (a library such as pyusb); without it the
    kind is one this version does not know.
    """

    def __init__(self, kind: str, reason: str | None = None) -> None:
        self.kind = kind
        self.reason = reason
        if reason:
            self.description = _("{kind} (unavailable: {reason})").format(kind=kind, reason=reason)
        else:
            self.description = _("{kind} (not supported in this version)").format(kind=kind)

    def send(self, data: bytes) -> None:
        if self.reason:
            raise PrinterError(_('{kind} printer unavailable: {reason}').format(kind=self.kind, reason=self.reason))
        raise PrinterError(
            _('printer kind {kind!r} is not supported in this version; set [printer] kind = "file" or "dummy" — the receipt is kept for reprint (F7)').format(kind=self.kind)
        )
