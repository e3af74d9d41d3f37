"""File/device, CUPS and USB backends, and the factory."""

from __future__ import annotations

import errno
import os
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest

from drivers.printer import (
    CupsPrinter,
    DummyPrinter,
    FilePrinter,
    NetworkPrinter,
    PaperStatus,
    PrinterError,
    SerialPrinter,
    StatusPrinter,
    UnsupportedPrinter,
    UsbPrinter,
    open_printer,
)
from drivers.printer.base import explain_os_error
from drivers.printer.usb import pyusb_available

# -- file and device files ------------------------------------------------------


def test_file_printer_appends_whole_receipts(tmp_path: Path) -> None:
    path = tmp_path / "out" / "printer.bin"
    printer = open_printer("file", path=path)
    printer.send(b"one")
    printer.send(b"two")
    assert path.read_bytes() == b"onetwo"


def test_fifo_without_reader_is_no_printer(tmp_path: Path) -> None:
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    with pytest.raises(PrinterError, match=f"^no printer behind {fifo}: is it plugged in"):
        FilePrinter(fifo).send(b"x")


def test_fifo_that_stops_reading_times_out(tmp_path: Path) -> None:
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read: a stuck printer
    try:
        began = time.monotonic()
        with pytest.raises(PrinterError, match=r"did not take the receipt within 0.3 s \(65536 of"):
            FilePrinter(fifo, timeout_s=0.3).send(b"x" * (1 << 20))
        assert time.monotonic() - began < 10  # gave up on its own (a stuck fifo never would)
    finally:
        os.close(reader)


def test_device_file_gets_all_bytes(tmp_path: Path) -> None:
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    got = bytearray()
    ready = threading.Event()

    def read() -> None:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        ready.set()
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and len(got) < len(payload):
                try:
                    got.extend(os.read(fd, 65536))
                except BlockingIOError:
                    time.sleep(0.001)
        finally:
            os.close(fd)

    payload = os.urandom(500_000)
    thread = threading.Thread(target=read)
    thread.start()
    ready.wait(2)
    FilePrinter(fifo, timeout_s=3).send(payload)
    thread.join(3)
    assert bytes(got) == payload


def test_missing_dev_path_is_never_created() -> None:
    with pytest.raises(PrinterError, match="^/dev/usb/lp9 does not exist: is the printer plugged in"):
        FilePrinter(Path("/dev/usb/lp9")).send(b"x")
    assert not Path("/dev/usb/lp9").exists()


def test_os_error_messages() -> None:
    denied = PermissionError(errno.EACCES, "Permission denied")
    assert explain_os_error("/dev/usb/lp0", denied) == (
        "permission denied on /dev/usb/lp0: add the till's user to the group that owns it "
        "(usually 'lp': sudo usermod -aG lp <user>, then log in again)")
    assert "in use" in explain_os_error("/dev/usb/lp0", OSError(errno.EBUSY, "busy"))
    assert "off, unplugged" in explain_os_error("/dev/usb/lp0", OSError(errno.EIO, "I/O error"))


# -- CUPS ------------------------------------------------------------------------


def fake_lp(tmp_path: Path, body: str) -> str:
    script = tmp_path / "lp"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_cups_sends_one_raw_job(tmp_path: Path) -> None:
    job = tmp_path / "job.bin"
    args = tmp_path / "args.txt"
    lp = fake_lp(tmp_path, f'echo "$@" > {args}\ncat > {job}\necho "request id is bon-1 (1 file(s))"')
    printer = CupsPrinter("bon", lp_command=lp, timeout_s=5)
    printer.send(b"\x1b@Z\x81rich\n")
    assert job.read_bytes() == b"\x1b@Z\x81rich\n"
    assert args.read_text().split() == ["-d", "bon", "-o", "raw", "-t", "receipt"]


def test_cups_refusal_shows_what_lp_said(tmp_path: Path) -> None:
    lp = fake_lp(tmp_path, 'cat > /dev/null\necho "lp: The printer or class does not exist." >&2\nexit 1')
    with pytest.raises(PrinterError) as info:
        CupsPrinter("nope", lp_command=lp).send(b"x")
    assert str(info.value) == ("CUPS refused the receipt for queue 'nope': "
                               "lp: The printer or class does not exist.")


def test_cups_hang_times_out(tmp_path: Path) -> None:
    lp = fake_lp(tmp_path, "exec sleep 10")
    began = time.monotonic()
    with pytest.raises(PrinterError, match="CUPS did not accept the receipt within 0.3 s"):
        CupsPrinter("bon", lp_command=lp, timeout_s=0.3).send(b"x")
    assert time.monotonic() - began < 5  # before lp would have ended (10 s)


def test_cups_without_lp_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(PrinterError, match=r"not installed \(apt install cups-client\)"):
        CupsPrinter("bon", lp_command=str(tmp_path / "no-lp")).send(b"x")


# -- USB -------------------------------------------------------------------------


@pytest.mark.skipif(pyusb_available(), reason="pyusb is installed here")
def test_usb_without_pyusb_is_unsupported_with_the_fix() -> None:
    printer = open_printer("usb", vendor_id=0x04B8, product_id=0x0202)
    assert isinstance(printer, UnsupportedPrinter)
    with pytest.raises(PrinterError, match=r"usb printer unavailable: pyusb is not installed \(pip install"):
        printer.send(b"x")
    with pytest.raises(PrinterError, match="pyusb is not installed"):
        UsbPrinter(0x04B8, 0x0202).send(b"x")


class FakeUSBError(OSError):
    pass


class FakeUSBTimeoutError(FakeUSBError):
    pass


FakeUSBTimeoutError.__name__ = "USBTimeoutError"


class FakeDevice:
    def __init__(self, fail_write: Exception | None = None, answer: bytes | None = b"\x12") -> None:
        self.fail_write = fail_write
        self.answer = answer
        self.writes: list[tuple[int, bytes, int]] = []
        self.detached: list[int] = []

    def is_kernel_driver_active(self, interface: int) -> bool:
        return True

    def detach_kernel_driver(self, interface: int) -> None:
        self.detached.append(interface)

    def get_active_configuration(self) -> object:
        return object()

    def set_configuration(self) -> None:
        raise AssertionError("already configured")

    def write(self, endpoint: int, data: bytes, timeout: int) -> int:
        if self.fail_write is not None:
            raise self.fail_write
        self.writes.append((endpoint, bytes(data), timeout))
        return len(data)

    def read(self, endpoint: int, size: int, timeout: int) -> bytes:
        if self.answer is None:
            raise FakeUSBTimeoutError(errno.ETIMEDOUT, "Operation timed out")
        return self.answer


@pytest.fixture
def fake_pyusb(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    state: dict[str, Any] = {"device": FakeDevice(), "claimed": [], "disposed": 0}
    core = types.ModuleType("usb.core")
    core.USBError = FakeUSBError  # type: ignore[attr-defined]
    wanted = {"idVendor": 0x04B8, "idProduct": 0x0202}
    core.find = lambda **kw: state["device"] if kw == wanted else None  # type: ignore[attr-defined]
    util = types.ModuleType("usb.util")
    util.claim_interface = lambda dev, i: state["claimed"].append(i)  # type: ignore[attr-defined]

    def dispose(dev: object) -> None:
        state["disposed"] += 1

    util.dispose_resources = dispose  # type: ignore[attr-defined]
    usb = types.ModuleType("usb")
    usb.core, usb.util = core, util  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "usb", usb)
    monkeypatch.setitem(sys.modules, "usb.core", core)
    monkeypatch.setitem(sys.modules, "usb.util", util)
    return state


def test_usb_one_write_with_timeout(fake_pyusb: dict[str, Any]) -> None:
    printer = UsbPrinter(0x04B8, 0x0202, out_ep=0x02, interface=1, timeout_s=2.5)
    printer.send(b"\x1b@receipt")
    device = fake_pyusb["device"]
    assert device.writes == [(0x02, b"\x1b@receipt", 2500)]
    assert device.detached == [1] and fake_pyusb["claimed"] == [1]
    assert fake_pyusb["disposed"] == 1
    assert printer.paper_status() is PaperStatus.OK


def test_usb_errors_are_explained(fake_pyusb: dict[str, Any]) -> None:
    with pytest.raises(PrinterError, match="^USB printer 04b8:0203 not found: is it plugged in"):
        UsbPrinter(0x04B8, 0x0203).send(b"x")
    fake_pyusb["device"] = FakeDevice(fail_write=FakeUSBError(errno.EACCES, "Access denied"))
    with pytest.raises(PrinterError, match="^permission denied on USB printer 04b8:0202: add a udev rule"):
        UsbPrinter(0x04B8, 0x0202).send(b"x")
    fake_pyusb["device"] = FakeDevice(fail_write=FakeUSBTimeoutError(errno.ETIMEDOUT, "timed out"))
    with pytest.raises(PrinterError, match="did not take the receipt within 5 s"):
        UsbPrinter(0x04B8, 0x0202).send(b"x")
    fake_pyusb["device"] = FakeDevice(answer=None)
    assert UsbPrinter(0x04B8, 0x0202).paper_status() is PaperStatus.OUT_OR_NO_ANSWER


def test_usb_without_libusb(fake_pyusb: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_backend(**kw: object) -> None:
        raise ValueError("No backend available")

    monkeypatch.setattr(sys.modules["usb.core"], "find", no_backend)
    with pytest.raises(PrinterError, match=r"install libusb-1.0 \(apt install libusb-1.0-0\)"):
        UsbPrinter(0x04B8, 0x0202).send(b"x")


# -- the factory -----------------------------------------------------------------


def test_factory_builds_each_kind_without_io(tmp_path: Path) -> None:
    assert isinstance(open_printer("network", host="10.0.0.9"), NetworkPrinter)
    assert isinstance(open_printer("serial", device="/dev/ttyUSB0"), SerialPrinter)
    assert isinstance(open_printer("file", path=tmp_path / "p.bin"), FilePrinter)
    assert isinstance(open_printer("cups", queue="bon"), CupsPrinter)
    assert isinstance(open_printer("dummy"), DummyPrinter)
    assert not (tmp_path / "p.bin").exists()
    unknown = open_printer("bluetooth")
    assert isinstance(unknown, UnsupportedPrinter)
    with pytest.raises(PrinterError, match="not supported"):
        unknown.send(b"x")


def test_factory_names_missing_parameters() -> None:
    with pytest.raises(ValueError, match=r"printer kind 'network' needs \[printer\] host"):
        open_printer("network")
    with pytest.raises(ValueError, match=r"needs \[printer\] vendor_id and product_id"):
        open_printer("usb")
    with pytest.raises(ValueError, match=r"needs \[printer\] queue"):
        open_printer("cups")


def test_status_capable_backends() -> None:
    assert isinstance(NetworkPrinter("h"), StatusPrinter)
    assert isinstance(SerialPrinter("/dev/ttyS0"), StatusPrinter)
    assert isinstance(UsbPrinter(1, 2), StatusPrinter)
    assert not isinstance(DummyPrinter(), StatusPrinter)
    assert not isinstance(FilePrinter(Path("x")), StatusPrinter)
