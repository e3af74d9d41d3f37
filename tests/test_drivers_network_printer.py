"""Network printers against loopback servers: refused, dropped, hung, and good."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest

from drivers.printer import NetworkPrinter, PaperStatus, PrinterError, open_printer
from drivers.printer import test_page as tp
from tests.fakes_hw import TcpPrinter, closed_port, wait_for


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[TcpPrinter]:
    mode, status = getattr(request, "param", ("good", 0x12))
    fake = TcpPrinter(mode, status)
    fake.start()
    yield fake
    fake.stop()


def test_refused_fails_fast_with_a_clear_message() -> None:
    port = closed_port()
    printer = NetworkPrinter("127.0.0.1", port, timeout_s=30.0)
    began = time.monotonic()
    with pytest.raises(PrinterError) as info:
        printer.send(b"receipt")
    assert time.monotonic() - began < 10  # at once, not after the 30 s timeout
    assert str(info.value) == (f"printer at 127.0.0.1:{port} refused the connection: is it switched on, "
                               f"and is {port} its raw printing port?")
    with pytest.raises(PrinterError, match="refused"):
        printer.paper_status()


def test_unknown_host_says_check_the_setting() -> None:
    printer = NetworkPrinter("no-such-printer.invalid", 9100, timeout_s=2.0)
    with pytest.raises(PrinterError,
                       match=r"printer host 'no-such-printer.invalid' not found.*check \[printer\] host"):
        printer.send(b"x")


@pytest.mark.parametrize("server", [("close", None)], indirect=True)
def test_accepts_then_closes_a_big_receipt_is_an_error(server: TcpPrinter) -> None:
    printer = NetworkPrinter("127.0.0.1", server.port, timeout_s=30.0)
    began = time.monotonic()
    with pytest.raises(PrinterError) as info:
        printer.send(b"x" * (4 << 20))  # more than any socket buffer: the hang-up must show
    assert "closed the connection" in str(info.value) or "failed" in str(info.value)
    assert time.monotonic() - began < 10  # at once, not after the 30 s timeout
    assert wait_for(lambda: server.accepted == 1)


@pytest.mark.parametrize("server", [("close", None)], indirect=True)
def test_accepts_then_closes_a_small_receipt_is_caught_by_the_status_query(server: TcpPrinter) -> None:
    """TCP cannot tell the sender that a short receipt was dropped: the bytes sit in
    the socket buffer and ``send`` returns. The paper status query that follows
    every receipt gets no answer, which is how the till learns the receipt may
    not have printed (it keeps it unprinted: test_ui_hardware)."""
    printer = NetworkPrinter("127.0.0.1", server.port, timeout_s=30.0, status_timeout_s=0.3)
    with contextlib.suppress(PrinterError):
        printer.send(b"x" * 100)
    try:
        status = printer.paper_status()
    except PrinterError as exc:
        assert "status query" in str(exc)
    else:
        assert status is PaperStatus.OUT_OR_NO_ANSWER


@pytest.mark.parametrize("server", [("hang", None)], indirect=True)
def test_hung_printer_times_out(server: TcpPrinter) -> None:
    printer = NetworkPrinter("127.0.0.1", server.port, timeout_s=0.5)
    began = time.monotonic()
    with pytest.raises(PrinterError) as info:
        printer.send(b"x" * (24 << 20))  # far more than the socket buffers hold
    took = time.monotonic() - began
    assert 0.4 < took < 10  # the timeout, not a hang (bounds loose for a busy machine)
    assert str(info.value).startswith(f"printer at 127.0.0.1:{server.port} did not take the receipt "
                                      "within 0.5 s")


@pytest.mark.parametrize("server", [("hang", None)], indirect=True)
def test_printer_that_never_answers_status(server: TcpPrinter) -> None:
    printer = NetworkPrinter("127.0.0.1", server.port, timeout_s=30.0, status_timeout_s=0.3)
    began = time.monotonic()
    assert printer.paper_status() is PaperStatus.OUT_OR_NO_ANSWER
    assert time.monotonic() - began < 10  # the status timeout, not the 30 s one


def test_good_printer_gets_every_byte_once_in_one_piece(server: TcpPrinter) -> None:
    printer = open_printer("network", host="127.0.0.1", port=server.port, timeout_s=2.0)
    assert printer.description == f"network 127.0.0.1:{server.port}"
    receipt = tp.test_page_bytes() + os.urandom(300_000)
    printer.send(receipt)
    assert wait_for(lambda: len(server.jobs) == 1)
    time.sleep(0.05)
    assert server.jobs == [receipt]
    assert server.accepted == 1


@pytest.mark.parametrize(("server", "expected"), [
    (("good", 0x12), PaperStatus.OK),
    (("good", 0x1E), PaperStatus.NEAR_END),
    (("good", 0x72), PaperStatus.OUT_OR_NO_ANSWER),
    (("good", None), PaperStatus.OUT_OR_NO_ANSWER),
], indirect=["server"])
def test_paper_status_over_the_network(server: TcpPrinter, expected: PaperStatus) -> None:
    printer = NetworkPrinter("127.0.0.1", server.port, status_timeout_s=0.3)
    began = time.monotonic()
    assert printer.paper_status() is expected
    assert time.monotonic() - began < 3  # the status timeout, not the 5 s send timeout
    assert wait_for(lambda: server.jobs == [b"\x10\x04\x04"])
