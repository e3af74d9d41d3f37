"""Barcode scanners: keyboard-wedge decoding and serial reading. No UI imports.

- :class:`WedgeDecoder` tells a scan from typing, key by key (pure, no I/O);
  :class:`BurstGuard` tells which keys arrive inside a scanner's burst.
- :class:`SerialScanner` reads a serial scanner in a thread and reconnects.
- :func:`drivers.scanner.cli.scanner_test` is ``pos scanner test``.
"""

from drivers.scanner.layouts import HINT as LAYOUT_HINT
from drivers.scanner.layouts import undo_layout
from drivers.scanner.scans import RejectedScan, Scan, ScanResult, Typed, normalise
from drivers.scanner.serial_reader import LineAssembler, SerialScanner
from drivers.scanner.wedge import BurstGuard, InBurst, WedgeDecoder, control_name, scan_from_line

__all__ = [
    "BurstGuard",
    "InBurst",
    "LAYOUT_HINT",
    "LineAssembler",
    "RejectedScan",
    "Scan",
    "ScanResult",
    "SerialScanner",
    "Typed",
    "WedgeDecoder",
    "control_name",
    "normalise",
    "scan_from_line",
    "undo_layout",
]
