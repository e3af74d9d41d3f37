"""``pos scanner test``: show each scan as it arrives, raw and normalised.

Serial scanners are read from their port. Keyboard-wedge scanners are read
from stdin: on a terminal in cbreak mode, key by key, so the timing decoder
runs as in the till; otherwise (a pipe, a file) line by line.
"""

from __future__ import annotations

import codecs
import os
import select
import sys
import termios
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from drivers.scanner.layouts import HINT
from drivers.scanner.scans import RejectedScan, Scan, ScanResult, Typed
from drivers.scanner.serial_reader import SerialScanner
from drivers.scanner.wedge import WedgeDecoder, scan_from_line
from pos_app.i18n import _

Out = Callable[[str], None]
END_KEYS = "\x04\x1b"  # Ctrl-D or Escape ends the keyboard test


def describe(result: ScanResult | Typed) -> str:
    """One line per event, the form ``pos scanner test`` prints."""
    if isinstance(result, Scan):
        if result.layout:
            return _("scan      raw={raw!r}  normalised={normalised!r}  (undid {layout} layout)").format(
                raw=result.raw, normalised=result.normalised, layout=result.layout)
        return _("scan      raw={raw!r}  normalised={normalised!r}").format(raw=result.raw,
                                                                          normalised=result.normalised)
    if isinstance(result, RejectedScan):
        if result.data:
            return _("rejected  bytes={data!r}  reason: {reason}").format(data=result.data, reason=result.reason)
        return _("rejected  raw={raw!r}  reason: {reason}").format(raw=result.raw, reason=result.reason)
    return _("typed     {text!r}").format(text=result.text)


def scanner_test(
    kind: str,
    *,
    out: Out = print,
    stdin: TextIO | None = None,
    max_scans: int | None = None,
    seconds: float | None = None,
    **params: Any,
) -> int:
    """Show scans until Ctrl-C (or ``max_scans`` scans / ``seconds``); 0 when all went well.

    ``kind`` is ``"serial"`` (params: port, baudrate, bytesize, parity,
    stopbits, suffix, prefix) or ``"keyboard"`` (params: suffix, prefix,
    max_gap_s, min_length, detect_azerty).
    """
    if kind == "serial":
        return _serial_test(out, max_scans, seconds, **params)
    if kind == "keyboard":
        source = stdin if stdin is not None else sys.stdin
        if _is_tty(source):
            return _keyboard_tty_test(source, out, max_scans, seconds, **params)
        return _keyboard_line_test(source, out, max_scans, **params)
    out(_('unknown scanner kind {kind!r}: use "keyboard" or "serial"').format(kind=kind))
    return 2


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


def _serial_test(out: Out, max_scans: int | None, seconds: float | None, **params: Any) -> int:
    port = params.pop("port", None)
    if not port:
        out(_("a serial scanner needs a port, e.g. /dev/ttyACM0 or /dev/serial/by-id/..."))
        return 2
    done = threading.Event()
    count = 0
    lock = threading.Lock()

    def on_scan(result: ScanResult) -> None:
        nonlocal count
        out(describe(result))
        with lock:
            count += 1
            if max_scans is not None and count >= max_scans:
                done.set()

    def on_status(connected: bool, message: str) -> None:
        out(_("status    {message}").format(message=message))

    try:
        scanner = SerialScanner(port, on_scan=on_scan, on_status=on_status, **params)
    except ValueError as exc:
        out(_("bad scanner setting: {problem}").format(problem=exc))
        return 2
    out(_("reading {port}; scan some codes, Ctrl-C to end").format(port=port))
    scanner.start()
    try:
        done.wait(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        scanner.stop()
    return 0


def _keyboard_line_test(stream: TextIO, out: Out, max_scans: int | None, **params: Any) -> int:
    prefix = params.get("prefix", "")
    detect = params.get("detect_azerty", True)
    out(_("line mode (stdin is not a terminal): one scan per line, no timing"))
    hinted = False
    for count, line in enumerate(stream, start=1):
        scan = scan_from_line(line, prefix=prefix, detect_azerty=detect)
        out(describe(scan))
        if scan.layout and not hinted:
            out(_("hint      {hint}").format(hint=_(HINT)))
            hinted = True
        if max_scans is not None and count >= max_scans:
            break
    return 0


def _cbreak(fd: int) -> list[Any]:
    """Keys one by one, no echo, CR kept as CR; returns the settings to restore."""
    old = termios.tcgetattr(fd)
    new = termios.tcgetattr(fd)
    new[0] &= ~(termios.ICRNL | termios.INLCR | termios.IGNCR)
    new[3] &= ~(termios.ICANON | termios.ECHO)
    new[6][termios.VMIN] = 1
    new[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, new)
    return old


def _keyboard_tty_test(stream: TextIO, out: Out, max_scans: int | None, seconds: float | None,
                       **params: Any) -> int:
    decoder = WedgeDecoder(**params)
    fd = stream.fileno()
    decode = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out(_("keyboard mode: scan some codes, or type to compare; Ctrl-D or Escape ends"))
    old = _cbreak(fd)
    scans = 0
    end = None if seconds is None else time.monotonic() + seconds

    def show(decisions: list[Scan | Typed | RejectedScan]) -> None:
        nonlocal scans
        for decision in decisions:
            out(describe(decision))
            scans += isinstance(decision, Scan)
        hint = decoder.take_hint()
        if hint:
            out(_("hint      {hint}").format(hint=hint))

    try:
        while max_scans is None or scans < max_scans:
            now = time.monotonic()
            if end is not None and now >= end:
                break
            waits = [t - now for t in (decoder.deadline, end) if t is not None]
            timeout = max(0.0, min(waits)) if waits else None
            ready, _writable, _failed = select.select([fd], [], [], timeout)
            now = time.monotonic()
            if not ready:
                show(decoder.flush(now))
                continue
            try:
                data = os.read(fd, 256)
            except OSError:  # the terminal went away
                break
            text = decode.decode(data)
            if not data or any(key in text for key in END_KEYS):
                show(decoder.feed_text(text.split("\x04")[0].split("\x1b")[0], now))
                break
            show(decoder.feed_text(text, now))
    except KeyboardInterrupt:
        pass
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
    show(decoder.flush(time.monotonic(), force=True))
    return 0
