"""Serial scanners (RS-232, or USB in CDC/virtual COM mode) read with pyserial.

:class:`LineAssembler` turns bytes into scans and knows nothing of ports;
:class:`SerialScanner` reads a port in a daemon thread, hands each result
to ``on_scan`` and each connection change to ``on_status``, and reopens
the port by itself, with backoff, after the scanner was unplugged.

Both callbacks run in the reader thread: keep them short and let them not
raise (a Textual app passes ``app.call_from_thread``-wrapped functions).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import serial

from drivers.scanner.scans import RejectedScan, Scan, ScanResult, normalise
from drivers.serial_settings import serial_settings
from pos_app.i18n import _

class LineAssembler:
    """Bytes in, scans out: a line ends at the suffix, CR or LF; empty lines are dropped.

    CR+LF therefore gives one scan. A line that is not text (bad baud rate
    or parity), holds nothing but control characters, or is longer than
    ``max_length`` comes out as a :class:`RejectedScan`.
    """

    def __init__(self, *, suffix: str = "\r", prefix: str = "", max_length: int = 128) -> None:
        self.prefix = prefix
        self.max_length = max_length
        ends = {b"\r", b"\n"}
        if suffix:
            ends.add(suffix.encode())
        self._ends = sorted(ends, key=len, reverse=True)
        self._buffer = bytearray()
        self._overlong = False  # dropping the rest of a line already rejected
        # A line may legitimately carry the prefix and up to 4 bytes per character.
        self._cap = 4 * (max_length + len(prefix)) + 16

    def feed(self, data: bytes) -> list[ScanResult]:
        self._buffer.extend(data)
        out: list[ScanResult] = []
        while True:
            found = self._next_end()
            if found is None:
                break
            index, end = found
            line = bytes(self._buffer[:index])
            del self._buffer[: index + len(end)]
            if self._overlong:
                self._overlong = False
                continue
            if line:
                out.append(self._decode(line, end))
        if len(self._buffer) > self._cap:
            if not self._overlong:
                head = bytes(self._buffer[:64])
                out.append(RejectedScan(self._text(head) + "…",
                                        _("longer than {limit} characters without an end (check the "
                                          "scanner's suffix setting)").format(limit=self.max_length),
                                        "serial", head))
            self._overlong = True
            self._buffer.clear()
        return out

    def _next_end(self) -> tuple[int, bytes] | None:
        best: tuple[int, bytes] | None = None
        for end in self._ends:
            index = self._buffer.find(end)
            if index >= 0 and (best is None or index < best[0]):
                best = (index, end)
        return best

    @staticmethod
    def _text(data: bytes) -> str:
        return data.decode("utf-8", errors="replace")

    def _decode(self, line: bytes, end: bytes) -> ScanResult:
        data = line + end
        raw = self._text(data)
        text = self._text(line)
        if "\ufffd" in text:
            return RejectedScan(raw, _("not readable text (check the scanner's baud rate, parity and "
                                  "bytesize)"), "serial", data)
        code = normalise(text, self.prefix)
        if not code:
            return RejectedScan(raw, _("no code, only control characters or spaces"), "serial", data)
        if len(code) > self.max_length:
            return RejectedScan(raw, _("longer than {limit} characters").format(limit=self.max_length), "serial",
                                data)
        return Scan(raw, code, "serial")


STABLE_S = 2.0  # a connection that lasted this long resets the reconnect backoff

OnScan = Callable[[ScanResult], None]
OnStatus = Callable[[bool, str], None]


class SerialScanner:
    """Reads a serial scanner in a daemon thread and reconnects after unplugging.

    ``port`` may be changed while running (the next reconnect uses it); use a
    stable name such as ``/dev/serial/by-id/...`` so a replugged scanner is
    found again. Any pyserial URL works too (``loop://``, ``rfc2217://``).
    """

    def __init__(
        self,
        port: str,
        *,
        on_scan: OnScan,
        on_status: OnStatus,
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        suffix: str = "\r",
        prefix: str = "",
        max_length: int = 128,
        read_timeout_s: float = 0.1,
        reconnect_min_s: float = 0.25,
        reconnect_max_s: float = 5.0,
    ) -> None:
        self.port = port
        self.on_scan = on_scan
        self.on_status = on_status
        self._settings = serial_settings(baudrate, bytesize, parity, stopbits)
        self.suffix = suffix
        self.prefix = prefix
        self.max_length = max_length
        self.read_timeout_s = read_timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.connected = False
        self.message = _("scanner on {port} not started").format(port=port)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port: serial.SerialBase | None = None
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return _("serial scanner on {port}").format(port=self.port)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"scanner {self.port}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop reading, close the port and wait for the thread (at most ``timeout`` s)."""
        self._stop.set()
        with self._lock:  # the reader closes the port only after letting go of it here
            cancel = getattr(self._port, "cancel_read", None)
            if cancel is not None:
                cancel()  # wakes a read that is waiting for data
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> SerialScanner:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the reader thread ----------------------------------------------------
    def _status(self, connected: bool, message: str) -> None:
        self.connected = connected
        self.message = message
        self.on_status(connected, message)

    def _open(self) -> serial.SerialBase:
        return serial.serial_for_url(self.port, timeout=self.read_timeout_s, exclusive=True,
                                     **self._settings)

    def _run(self) -> None:
        delay = self.reconnect_min_s
        reported_down = False
        while not self._stop.is_set():
            try:
                port = self._open()
            except (serial.SerialException, OSError, ValueError) as exc:
                if not reported_down:
                    self._status(False, _("scanner disconnected: cannot open {port} ({problem}); retrying").format(
                        port=self.port, problem=_reason(exc)))
                    reported_down = True
                self._stop.wait(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            reported_down = False
            with self._lock:
                self._port = port
            self._status(True, _("scanner connected on {port}").format(port=self.port))
            opened = time.monotonic()
            try:
                self._read(port)
            except (serial.SerialException, OSError) as exc:
                self._status(False, _("scanner disconnected: {port} ({problem}); retrying").format(
                    port=self.port, problem=_reason(exc)))
                reported_down = True
                # A port that opens but fails at once must not make this a busy loop.
                short = time.monotonic() - opened < STABLE_S
                delay = min(delay * 2, self.reconnect_max_s) if short else self.reconnect_min_s
            finally:
                with self._lock:
                    self._port = None
                _close(port)
            if reported_down:
                self._stop.wait(delay)
        if self.connected:
            self._status(False, _("scanner stopped"))

    def _read(self, port: serial.SerialBase) -> None:
        assembler = LineAssembler(suffix=self.suffix, prefix=self.prefix, max_length=self.max_length)
        while not self._stop.is_set():
            data = port.read(max(1, port.in_waiting))
            for result in assembler.feed(data):
                self.on_scan(result)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _close(port: serial.SerialBase) -> None:
    try:
        port.close()
    except (serial.SerialException, OSError):
        pass  # the device is gone already; nothing left to release
