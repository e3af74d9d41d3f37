"""F10 through the real app (Pilot, 80×24): the X report shown and printed, the Z
report asked first (Enter closes the day, Escape does not), refused with its reason
while an order is open or a voucher operation undecided; Escape closes."""

from __future__ import annotations

from textual.pilot import Pilot

from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.dialogs import ConfirmDialog
from pos_app.ui.reports import ReportsScreen
from tests.conftest import CROISSANT, MERLOT
from tests.uihelpers import rows, scan, screen_text, settle, text

SIZE = (80, 24)


async def sale(pilot: Pilot, code: str, cash: str) -> None:
    await scan(pilot, code)
    await pilot.press("f3", *cash, "enter")
    await settle(pilot)


async def test_x_report_is_shown_and_printed_and_changes_nothing(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await sale(pilot, MERLOT, "40")
        await sale(pilot, CROISSANT, "5")
        printed = len(till.printer.output)
        await pilot.press("f10")
        assert isinstance(pilot.app.screen, ReportsScreen)
        assert "No Z report yet" in text(pilot, "#report")
        await pilot.press("x")
        await settle(pilot)
        report = text(pilot, "#report")
        assert "X REPORT 1" in report and "Sales closed (2)" in report and "40.50" in report
        assert "X report 1 printed" in text(pilot, "#note")
        paper = till.printer.output[printed:]
        assert b"X REPORT 1" in paper and b"40.50" in paper and b"Cash (2)" in paper
        assert "X REPORT 1" in screen_text(pilot)
        assert "Operations undecided" not in screen_text(pilot)  # longer than the screen: it scrolls
        await pilot.press("end")
        await pilot.pause()
        assert "Operations undecided" in screen_text(pilot)
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, CheckoutScreen)
    db = till.journal.path
    assert rows(db, "SELECT kind, number FROM reports") == [("X", 1)]
    assert rows(db, "SELECT COUNT(*) FROM report_totals WHERE section='sales' AND kind='orders'") == [(1,)]


async def test_z_report_asks_first_then_closes_the_day(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await sale(pilot, MERLOT, "40")
        await pilot.press("f10", "z")
        assert isinstance(pilot.app.screen, ConfirmDialog)
        assert "Close the day with Z report 1?" in screen_text(pilot)
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, ReportsScreen)
        assert "Day not closed" in text(pilot, "#error")
        assert rows(till.journal.path, "SELECT COUNT(*) FROM reports") == [(0,)]
        await pilot.press("z", "enter")
        await settle(pilot)
        assert "Z REPORT 1" in text(pilot, "#report") and "Sales closed (1)" in text(pilot, "#report")
        assert "the day is closed" in text(pilot, "#note")
        assert b"Z REPORT 1" in till.printer.output
        await pilot.press("x")  # the next day starts after the Z
        await settle(pilot)
        assert "Sales closed (0)" in text(pilot, "#report")
        await pilot.press("escape")
        await sale(pilot, CROISSANT, "5")
        await pilot.press("f10")
        assert "Last Z report: 1" in text(pilot, "#report")
        await pilot.press("z", "enter")
        await settle(pilot)
        assert "Z REPORT 2" in text(pilot, "#report")
        printed = len(till.printer.output)
        await pilot.press("r")  # the last Z again, marked as a copy
        await settle(pilot)
        assert "Z report 2 printed again" in text(pilot, "#note")
        again = till.printer.output[printed:]
        assert b"Z REPORT 2" in again and b"COPY" in again
    assert rows(till.journal.path, "SELECT kind, number FROM reports WHERE kind='Z' ORDER BY number") == [
        ("Z", 1), ("Z", 2)]


async def test_z_report_is_refused_while_an_order_is_open_or_an_operation_undecided(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await pilot.press("f10", "z")
        assert isinstance(pilot.app.screen, ReportsScreen)  # not even asked
        assert "an order is open" in text(pilot, "#error")
        await pilot.press("escape", "f3", "enter")
        await settle(pilot)
        till.journal.begin_op(provider="eguma", operation="authorize", code="L4FU5LQTKJR3", currency="CHF")
        await pilot.press("f10", "z")
        assert "1 voucher operation is still undecided" in text(pilot, "#error")
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, CheckoutScreen)
    assert rows(till.journal.path, "SELECT COUNT(*) FROM reports") == [(0,)]


async def test_text_from_the_configuration_is_shown_as_text(write_config, till_factory) -> None:  # type: ignore[no-untyped-def]
    """An outlet name with markup characters reaches the report screen as it is."""
    from pos_app.config import load_config

    path = write_config()
    path.write_text(path.read_text(encoding="utf-8").replace('name = "Test Shop Zürich"',
                                                             'name = "Shop [b]bold[/b] [/]"'), encoding="utf-8")
    till = till_factory(load_config(path))
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f10", "x")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ReportsScreen)
        assert "Shop [b]bold[/b] [/]" in text(pilot, "#report") and "X REPORT 1" in text(pilot, "#report")


async def test_a_scan_into_the_reports_does_not_close_the_day(write_config, till_factory) -> None:  # type: ignore[no-untyped-def]
    """A wedge scanner typing a code with z, x or r (and Enter) into F10 is ignored as a
    scan: no report is made, the day is not closed."""
    from pos_app.config import load_config
    from tests.test_ui_scanning import GAP_MS, burst, slowly

    path = write_config()
    path.write_text(path.read_text().replace("max_gap_ms = 0", f'max_gap_ms = {GAP_MS}\nprefix = "#"'))
    till = till_factory(load_config(path))
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f10")
        assert isinstance(pilot.app.screen, ReportsScreen)
        await burst(pilot, *"#zxrz", "enter")
        assert isinstance(pilot.app.screen, ReportsScreen)  # no question asked, nothing made
        assert "No Z report yet" in text(pilot, "#report")
        await slowly(pilot, "z")  # the same key typed by a person asks
        assert isinstance(pilot.app.screen, ConfirmDialog)
        await pilot.press("escape")
    assert rows(till.journal.path, "SELECT COUNT(*) FROM reports") == [(0,)]


async def test_a_journal_that_cannot_be_written_is_said_and_the_till_keeps_running(till: Till, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A full disk (or a read-only journal) while x or z is pressed: the reason on the
    reports screen, nothing made, the till still running (not an unhandled error)."""
    from pos_app.journal import JournalWriteError

    def full(*_args: object) -> None:
        raise JournalWriteError("the disk is full: free some space, then try again", "full")

    async with PosApp(till).run_test(size=SIZE) as pilot:
        await sale(pilot, MERLOT, "40")
        monkeypatch.setattr(till.journal, "save_report", full)
        await pilot.press("f10", "x")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ReportsScreen) and pilot.app.is_running
        assert "The disk is full" in text(pilot, "#error")
        await pilot.press("z", "enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ReportsScreen) and pilot.app.is_running
        assert "The disk is full" in text(pilot, "#error")
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, CheckoutScreen)
    assert rows(till.journal.path, "SELECT COUNT(*) FROM reports") == [(0,)]
