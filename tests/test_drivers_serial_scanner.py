"""Serial scanners over a pseudo-terminal pair: scans, garbage, unplug and replug."""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner import LineAssembler, RejectedScan, Scan, ScanResult, SerialScanner
from tests.fakes_hw import Pty, wait_for


class Recorder:
    def __init__(self) -> None:
        self.scans: queue.Queue[ScanResult] = queue.Queue()
        self.statuses: queue.Queue[tuple[bool, str]] = queue.Queue()

    def on_scan(self, result: ScanResult) -> None:
        self.scans.put(result)

    def on_status(self, connected: bool, message: str) -> None:
        self.statuses.put((connected, message))

    def next_scan(self, timeout: float = 2.0) -> ScanResult:
        return self.scans.get(timeout=timeout)

    def next_status(self, timeout: float = 3.0) -> tuple[bool, str]:
        return self.statuses.get(timeout=timeout)


@pytest.fixture
def device(tmp_path: Path) -> Iterator[tuple[Pty, Path]]:
    """A pty behind a stable name, like /dev/serial/by-id/... (a symlink)."""
    pty = Pty()
    link = tmp_path / "scanner"
    link.symlink_to(pty.path)
    yield pty, link
    pty.close()


def start(link: Path, rec: Recorder, **kwargs: object) -> SerialScanner:
    scanner = SerialScanner(str(link), on_scan=rec.on_scan, on_status=rec.on_status,
                            reconnect_min_s=0.05, reconnect_max_s=0.2, read_timeout_s=0.05,
                            **kwargs)  # type: ignore[arg-type]
    scanner.start()
    connected, message = rec.next_status()
    assert connected, message
    assert message == f"scanner connected on {link}"
    return scanner


def test_scans_with_cr_crlf_and_prefix(device: tuple[Pty, Path]) -> None:
    pty, link = device
    rec = Recorder()
    scanner = start(link, rec, prefix="]C1")
    try:
        pty.write(b"7610000000011\r")
        assert rec.next_scan() == Scan("7610000000011\r", "7610000000011", "serial")
        pty.write(b"l4fu-5lqt-kjr3\r\n")  # CR+LF: one scan, the empty line after CR is dropped
        pty.write(b"]C14006381333931\r")
        assert rec.next_scan() == Scan("l4fu-5lqt-kjr3\r", "L4FU-5LQT-KJR3", "serial")
        assert rec.next_scan() == Scan("]C14006381333931\r", "4006381333931", "serial")
        pty.write(b"12345")  # a scan split across reads
        time.sleep(0.1)
        pty.write(b"678\n")
        assert rec.next_scan().normalised == "12345678"
        assert rec.scans.empty()
    finally:
        scanner.stop()


def test_garbage_is_rejected_and_reading_goes_on(device: tuple[Pty, Path]) -> None:
    pty, link = device
    rec = Recorder()
    scanner = start(link, rec, max_length=32)
    try:
        pty.write(b"\xff\xfe\x80ab\r")
        bad = rec.next_scan()
        assert isinstance(bad, RejectedScan)
        assert "baud rate" in bad.reason and bad.raw == "\ufffd\ufffd\ufffdab\r"
        assert bad.data == b"\xff\xfe\x80ab\r"
        pty.write(b"\x00\x01\x07\r")
        bad = rec.next_scan()
        assert isinstance(bad, RejectedScan) and "control characters" in bad.reason
        pty.write(b"9" * 40 + b"\r")
        bad = rec.next_scan()
        assert isinstance(bad, RejectedScan) and "longer than 32" in bad.reason
        pty.write(b"X" * 500)  # no suffix at all: rejected once, the rest of the line dropped
        bad = rec.next_scan()
        assert isinstance(bad, RejectedScan) and "suffix" in bad.reason
        pty.write(b"XXXX\r7610000000028\r")
        assert rec.next_scan() == Scan("7610000000028\r", "7610000000028", "serial")
        assert scanner.connected
    finally:
        scanner.stop()


def test_unplug_reports_disconnected_and_replug_reconnects(device: tuple[Pty, Path]) -> None:
    pty, link = device
    rec = Recorder()
    scanner = start(link, rec)
    try:
        pty.write(b"1111\r")
        assert rec.next_scan().normalised == "1111"
        # Unplug: the device and its name go away.
        pty.close()
        link.unlink()
        connected, message = rec.next_status()
        assert not connected
        assert message.startswith("scanner disconnected")
        assert not scanner.connected
        time.sleep(0.3)  # several reopen attempts fail quietly: one report per outage
        assert rec.statuses.empty()
        # Replug: a new device appears under the same name.
        new = Pty()
        try:
            link.symlink_to(new.path)
            connected, message = rec.next_status()
            assert connected, message
            new.write(b"2222\r")
            assert rec.next_scan().normalised == "2222"
        finally:
            scanner.stop()
            new.close()
    finally:
        scanner.stop()


def test_missing_port_at_start_reports_then_connects_when_it_appears(tmp_path: Path) -> None:
    rec = Recorder()
    link = tmp_path / "later"
    scanner = SerialScanner(str(link), on_scan=rec.on_scan, on_status=rec.on_status,
                            reconnect_min_s=0.05, reconnect_max_s=0.1)
    scanner.start()
    pty = Pty()
    try:
        connected, message = rec.next_status()
        assert not connected and "cannot open" in message
        link.symlink_to(pty.path)
        assert rec.next_status() == (True, f"scanner connected on {link}")
    finally:
        scanner.stop()
        pty.close()


def test_stop_joins_quickly(device: tuple[Pty, Path]) -> None:
    _, link = device
    rec = Recorder()
    scanner = SerialScanner(str(link), on_scan=rec.on_scan, on_status=rec.on_status,
                            read_timeout_s=30.0)  # cancel_read, not the timeout, ends the read
    scanner.start()
    assert rec.next_status()[0]
    thread = scanner._thread
    assert thread is not None
    began = time.monotonic()
    scanner.stop()
    assert time.monotonic() - began < 10  # long before the 30 s read timeout
    assert not thread.is_alive()
    assert rec.next_status() == (False, "scanner stopped")


def test_bad_settings_are_refused() -> None:
    rec = Recorder()
    with pytest.raises(ValueError, match="parity"):
        SerialScanner("/dev/null", on_scan=rec.on_scan, on_status=rec.on_status, parity="X")
    with pytest.raises(ValueError, match="bytesize"):
        SerialScanner("/dev/null", on_scan=rec.on_scan, on_status=rec.on_status, bytesize=9)


def test_loop_url_works_too() -> None:
    rec = Recorder()
    scanner = SerialScanner("loop://", on_scan=rec.on_scan, on_status=rec.on_status)
    scanner.start()
    try:
        assert rec.next_status()[0]
        assert wait_for(lambda: scanner._port is not None)
        assert scanner._port is not None
        scanner._port.write(b"ABC123\r")
        assert rec.next_scan() == Scan("ABC123\r", "ABC123", "serial")
    finally:
        scanner.stop()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_assembler_never_crashes_and_chunking_does_not_matter(data: bytes, cuts: list[int]) -> None:
    whole = LineAssembler(max_length=40).feed(data)
    chunked = LineAssembler(max_length=40)
    out: list[ScanResult] = []
    rest, i = data, 0
    while rest:
        size = cuts[i % len(cuts)]
        out += chunked.feed(rest[:size])
        rest, i = rest[size:], i + 1
    for result in whole:
        assert isinstance(result, (Scan, RejectedScan))
        if isinstance(result, Scan):
            assert 0 < len(result.normalised) <= 40
            assert all(" " <= c for c in result.normalised)
    # Unless a line was too long (rejection then depends on where reads end), chunking is invisible.
    if max(len(line) for line in re.split(rb"[\r\n]", data)) <= 4 * 40 + 16:
        assert out == whole
