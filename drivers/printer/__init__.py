"""Receipt printers: the bytes of a whole receipt go out in one write.

Backends take ESC/POS bytes already built in memory (``pos_app.receipts``)
and only move them; that keeps a slow or absent printer from ever holding
up the building of a receipt or the closing of a sale.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol


class PrinterError(RuntimeError):
    """The receipt did not reach the printer; the message says why and what to do."""


class ReceiptPrinter(Protocol):
    description: str

    def send(self, data: bytes) -> None:
        """Send one whole receipt; raise PrinterError if it did not go out."""


class FilePrinter:
    """Appends receipts to a file (demo, tests, or a printer device file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file {path}"

    def send(self, data: bytes) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as handle:
                handle.write(data)
        except OSError as exc:
            raise PrinterError(f"cannot write to {self.path}: {exc.strerror or exc}") from None


class DummyPrinter:
    """Keeps receipts in memory; what a test inspects."""

    def __init__(self) -> None:
        self.description = "dummy (in memory)"
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
    """A configured backend this version cannot drive yet: every send fails, clearly."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.description = f"{kind} (not supported in this version)"

    def send(self, data: bytes) -> None:
        raise PrinterError(
            f"printer kind {self.kind!r} is not supported in this version; "
            "set [printer] kind = \"file\" or \"dummy\" — the receipt is kept for reprint (F7)"
        )
