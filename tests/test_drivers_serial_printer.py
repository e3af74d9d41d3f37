"""A fake serial printer on a pseudo-terminal: receipts, paper status, a stuck printer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.printer import PaperStatus, PrinterError, SerialPrinter, open_printer
from drivers.printer import test_page as tp
from tests.fakes_hw import FakeSerialPrinter, Pty, wait_for


@pytest.fixture
def pty() -> Iterator[Pty]:
    device = Pty()
    yield device
    device.close()


def test_receipt_arrives_whole(pty: Pty) -> None:
    printer = open_printer("serial", device=pty.path, baudrate=38400, timeout_s=2.0)
    assert printer.description == f"serial {pty.path} at 38400 baud"
    receipt = tp.test_page_bytes() * 3
    printer.send(receipt)
    assert pty.read_all() == receipt


@pytest.mark.parametrize(("answer", "expected"), [
    (0x12, PaperStatus.OK),
    (0x1E, PaperStatus.NEAR_END),
    (0x72, PaperStatus.OUT_OR_NO_ANSWER),
    (0xFF, PaperStatus.UNKNOWN),
])
def test_paper_status(pty: Pty, answer: int, expected: PaperStatus) -> None:
    fake = FakeSerialPrinter(pty, status=answer)
    fake.start()
    try:
        printer = SerialPrinter(pty.path, status_timeout_s=0.5)
        assert printer.paper_status() is expected
        assert fake.queries == 1
    finally:
        fake.stop()


def test_no_answer_is_out_or_no_answer_within_the_status_timeout(pty: Pty) -> None:
    fake = FakeSerialPrinter(pty, status=None)
    fake.start()
    try:
        printer = SerialPrinter(pty.path, status_timeout_s=0.2)
        began = time.monotonic()
        assert printer.paper_status() is PaperStatus.OUT_OR_NO_ANSWER
        assert time.monotonic() - began < 3  # the status timeout, not the send timeout
        assert wait_for(lambda: fake.queries == 1)
    finally:
        fake.stop()


def test_a_stale_answer_is_not_taken_for_the_next_one(pty: Pty) -> None:
    fake = FakeSerialPrinter(pty, status=0x12)
    fake.start()
    try:
        printer = SerialPrinter(pty.path, status_timeout_s=0.3)
        pty.write(b"\x72")  # an answer nobody asked for, waiting in the input queue
        assert printer.paper_status() is PaperStatus.OK
    finally:
        fake.stop()


def test_receipt_and_status_in_turn(pty: Pty) -> None:
    fake = FakeSerialPrinter(pty, status=0x1E)
    fake.start()
    try:
        printer = SerialPrinter(pty.path, status_timeout_s=0.3)
        printer.send(b"\x1b@hello\n")
        assert printer.paper_status() is PaperStatus.NEAR_END
        printer.send(b"second\n")
        assert wait_for(lambda: bytes(fake.received) == b"\x1b@hello\nsecond\n")
    finally:
        fake.stop()


def test_stuck_printer_times_out(pty: Pty) -> None:
    # Nobody reads the master side: once the pty's buffers are full, writes wait.
    printer = SerialPrinter(pty.path, timeout_s=0.4)
    began = time.monotonic()
    with pytest.raises(PrinterError) as info:
        printer.send(b"x" * (2 << 20))
    assert time.monotonic() - began < 10  # gave up on its own (the pty never drains)
    assert str(info.value).startswith(f"printer on {pty.path} did not take the receipt within 0.4 s")


def test_missing_device_says_so(tmp_path: Path) -> None:
    printer = SerialPrinter(str(tmp_path / "ttyUSB9"))
    with pytest.raises(PrinterError, match="ttyUSB9 does not exist: is the printer plugged in"):
        printer.send(b"x")
    with pytest.raises(PrinterError, match="does not exist"):
        printer.paper_status()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="stopbits"):
        open_printer("serial", device="/dev/ttyS0", stopbits=3)
