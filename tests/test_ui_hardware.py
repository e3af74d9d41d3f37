"""The app with real hardware drivers: a serial scanner on a pseudo-terminal,
a network printer that is off, and the cash drawer."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pos_app.config import load_config
from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from pos_app.ui.status import StatusScreen
from tests.conftest import CROISSANT, SIM_EGUMA
from tests.fakes_hw import TcpPrinter
from tests.uihelpers import settle, table_rows, text

SIZE = (110, 30)


async def wait_until(pilot, predicate, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Poll until true; the limit only ends a test that is broken (a busy machine is slow)."""
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(slave)
    try:  # the test may have closed it already (unplugged): never close a reused number
        os.fstat(master)
        if os.ttyname(master):
            os.close(master)
    except OSError:
        pass


async def test_serial_scanner_adds_products_and_reports_unplugging(
    pty_pair: tuple[int, str], write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    master, device = pty_pair
    path = write_config(SIM_EGUMA.format(timeout=1))
    path.write_text(path.read_text().replace("[scanner]\n", f'[scanner]\nkind = "serial"\nport = "{device}"\n'))
    till = till_factory(load_config(path))
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: pilot.app.scanner_state and pilot.app.scanner_state[0])
        os.write(master, f"{CROISSANT}\r\n".encode())
        await wait_until(pilot, lambda: len(table_rows(pilot, "#lines")) == 1)
        assert table_rows(pilot, "#lines")[0][1] == "Croissant"
        os.write(master, b"\xff\xfe\x00garbage\x01\r")  # line noise: reported, nothing added
        await pilot.pause(0.3)
        assert len(table_rows(pilot, "#lines")) == 1
        await pilot.press("f6")  # the balance screen takes the next scan
        os.write(master, b"2QH3-QTDM-28N6\r")
        await wait_until(pilot, lambda: "Balance CHF 2.00 of 50.00" in text(pilot, "#result"))
        await pilot.press("escape")
        assert len(table_rows(pilot, "#lines")) == 1  # the balance check did not touch the order
        os.close(master)  # unplugged
        await wait_until(pilot, lambda: not pilot.app.scanner_state[0])
        assert "Scanner disconnected" in text(pilot, "#status")
        assert "Scanner ●" in str(pilot.app.screen.query_one("#health").content)


def refusing_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens


async def test_printer_off_never_loses_the_sale(
    write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    port = refusing_port()
    till = till_factory(load_config(write_config(
        printer=f'kind = "network"\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = 1\ncheck_paper = false')))
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press(*CROISSANT, "enter")
        await pilot.press("f4", "enter")
        await settle(pilot)
        status = text(pilot, "#status")
        assert "Order 1-0001 closed" in status and "Receipt not printed" in status and "F7" in status
        assert table_rows(pilot, "#lines") == []  # the next customer can be served
        assert till.printer_ok is False
        unprinted = till.journal.unprinted_receipts()
        assert len(unprinted) == 1 and unprinted[0].print_error
        # the printer comes back: F7 prints the waiting receipt
        with socket.socket() as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen(1)
            server.settimeout(5)
            await pilot.press("f7")
            conn, _ = server.accept()
            conn.settimeout(5)
            received = b""
            await settle(pilot)
            while chunk := conn.recv(65536):
                received += chunk
                if b"\x1dV" in received:
                    break
            conn.close()
        assert b"Croissant" in received and received == unprinted[0].escpos[: len(received)]
        await settle(pilot)
        assert till.journal.unprinted_receipts() == []


@pytest.mark.parametrize(("mode", "status", "check", "printed", "said"), [
    ("hang", None, True, False, "F7 prints it again"),  # reads nothing, answers nothing
    ("close", None, True, False, "Receipt may not have printed"),  # accepts, then hangs up
    ("good", 0x72, True, False, "reports paper out, or did not answer"),  # paper sensor: out
    ("good", None, True, False, "reports paper out, or did not answer"),  # no status answer
    ("good", 0x1E, True, True, "paper is running low"),  # near end: printed, with a warning
    ("good", None, False, True, "Order 1-0001 closed"),  # check_paper = false: no question asked
], ids=["hangs", "accepts-then-closes", "paper-out", "no-status-answer", "near-end", "no-check"])
async def test_printer_trouble_keeps_the_receipt_for_f7(
    write_config: Callable[..., Path], till_factory: Callable[..., Till],
    mode: str, status: int | None, check: bool, printed: bool, said: str,
) -> None:
    fake = TcpPrinter(mode, status)
    fake.start()
    try:
        till = till_factory(load_config(write_config(printer=(
            f'kind = "network"\nhost = "127.0.0.1"\nport = {fake.port}\ntimeout_s = 0.5\n'
            f'status_timeout_s = 0.3\ncheck_paper = {str(check).lower()}'))))
        async with PosApp(till).run_test(size=SIZE) as pilot:
            await pilot.press(*CROISSANT, "enter")
            await pilot.press("f4", "enter")
            await settle(pilot)
            status_line = text(pilot, "#status")
            assert "Order 1-0001 closed" in status_line and said in status_line
            assert table_rows(pilot, "#lines") == []  # the sale is closed either way
            unprinted = till.journal.unprinted_receipts()
            assert (len(unprinted) == 0) is printed
            assert till.printer_ok is printed
            if not printed:
                assert "F7" in status_line and unprinted[0].print_error
    finally:
        fake.stop()


async def test_cash_sale_kicks_the_drawer_and_no_sale_is_journaled(
    write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    till = till_factory(load_config(write_config('\n[drawer]\nenabled = true\npin = 5\n')))
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press(*CROISSANT, "enter")
        await pilot.press("f3", "enter")
        await settle(pilot)
        assert till.printer.jobs[0] == b"\x1bp\x01\x32\x32"  # ESC p, pin 5, 100 ms: before the receipt
        assert b"Croissant" in till.printer.jobs[1]
        await pilot.press("f12")
        assert isinstance(pilot.app.screen, StatusScreen)
        await pilot.press("d")
        await settle(pilot)
        assert "Drawer opened (no sale)" in text(pilot, "#report")
    kinds = [e["kind"] for e in till.journal.events()]
    assert kinds.count("drawer_opened") == 1 and kinds.count("no_sale") == 1
    assert len(till.printer.jobs) == 3


async def test_scanner_news_before_the_screen_is_up_or_a_failing_callback_never_kill_the_reader(
    till: Till, caplog: pytest.LogCaptureFixture
) -> None:
    app = PosApp(till)
    app.scanner_status(True, "scanner on /dev/ttyACM0")  # the thread was quicker than the screen
    assert app.scanner_state == (True, "scanner on /dev/ttyACM0")

    def broken() -> None:
        raise RuntimeError("a bug in the UI")

    async with app.run_test(size=SIZE) as pilot:
        await asyncio.to_thread(app._from_scanner, broken)  # as the reader thread calls it
        await pilot.pause()
        assert any("scan it again" in n.message for n in app._notifications)  # the cashier is told
    assert "scanner callback broken failed" in caplog.text
