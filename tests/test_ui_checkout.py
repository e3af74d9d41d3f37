"""The real app, driven with Pilot: scan, pay, void, cancel, print, recover."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pos_app.config import load_config
from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from tests.conftest import CHOCOLATE, CROISSANT, ESPRESSO, MERLOT
from tests.uihelpers import rows, scan, settle, table_rows, text

SIZE = (100, 30)



async def test_scan_two_products_pay_card_and_cash_prints_receipt(till: Till) -> None:
    app = PosApp(till)
    async with app.run_test(size=SIZE) as pilot:
        await scan(pilot, ESPRESSO)
        await scan(pilot, "2*" + MERLOT)
        assert table_rows(pilot, "#lines") == [
            ["1", "Espresso beans 500 g", "14.90", "14.90", "2.6%"],
            ["2", "Merlot 75 cl", "38.00", "76.00", "8.1%"],
        ]
        totals = text(pilot, "#totals")
        assert "90.90" in totals and "VAT 2.6%" in totals and "5.69" in totals

        await pilot.press("f4")  # card: the dialog proposes the remaining amount
        await pilot.press(*"40.03", "enter")
        assert "50.87" in text(pilot, "#balance")
        assert "50.85" in text(pilot, "#balance")  # cash due, 5-Rappen rounded

        await pilot.press("f3", *"100", "enter")
        await settle(pilot)

        assert "CHANGE" in text(pilot, "#balance") and "49.15" in text(pilot, "#balance")
        assert "Order 1-0001 closed — change CHF 49.15" in text(pilot, "#status")
        assert table_rows(pilot, "#lines") == []

    data = till.printer.output  # DummyPrinter
    assert b"Espresso beans 500 g" in data and b"Merlot 75 cl" in data
    assert b"TOTAL CHF" in data and b"90.90" in data
    assert b"Card" in data and b"40.03" in data
    assert b"Cash given" in data and b"100.00" in data
    assert b"Cash rounding" in data and b"-0.02" in data
    assert b"Change" in data and b"49.15" in data
    assert data.startswith(b"\x1b@") and b"\x1dV" in data  # init ... cut
    db = till.journal.path
    assert rows(db, "SELECT status, number FROM orders ORDER BY id") == [("closed", 1), ("open", None)]
    assert rows(db, "SELECT kind, amount_minor, given_minor, change_minor, rounding_minor FROM tenders") == [
        ("card", 4003, None, None, None),
        ("cash", 5087, 10000, 4915, -2),
    ]
    assert rows(db, "SELECT printed_at IS NOT NULL FROM receipts") == [(1,)]


async def test_unknown_barcode_adds_nothing(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, "4006381333931")
        assert "Unknown barcode '4006381333931' — nothing added" in text(pilot, "#status")
        assert table_rows(pilot, "#lines") == []
        await scan(pilot, "3*")
        assert "no barcode" in text(pilot, "#status")
    assert rows(till.journal.path, "SELECT COUNT(*) FROM lines") == [(0,)]


async def test_void_selected_line(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, ESPRESSO)
        await scan(pilot, CROISSANT)
        await scan(pilot, CHOCOLATE)
        await pilot.press("up", "up", "f8")  # select the espresso, void it
        assert [r[1] for r in table_rows(pilot, "#lines")] == ["Croissant", "Chocolate bar 100 g"]
        assert "Voided 1 × Espresso beans 500 g" in text(pilot, "#status")
        assert "6.45" in text(pilot, "#totals")
    assert rows(till.journal.path, "SELECT name FROM lines WHERE voided_at IS NOT NULL") == [
        ("Espresso beans 500 g",)
    ]


async def test_void_tender_then_line(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f4", *"10", "enter")
        assert table_rows(pilot, "#tenders") == [["Card", "-10.00"]]
        await pilot.press("f8")  # the card tender is selected after it is added
        assert table_rows(pilot, "#tenders") == []
        assert "refund it on the card terminal" in text(pilot, "#status")
        assert "38.00" in text(pilot, "#balance")


async def test_cancel_order_after_confirmation(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, ESPRESSO)
        await pilot.press("f9", "escape")  # changed mind: the order stays
        assert len(table_rows(pilot, "#lines")) == 1
        assert "Order kept" in text(pilot, "#status")
        await pilot.press("f9", "enter")
        assert table_rows(pilot, "#lines") == []
        assert "Order cancelled" in text(pilot, "#status")
        await pilot.press("f9")
        assert "nothing to cancel" in text(pilot, "#status")
    assert rows(till.journal.path, "SELECT status FROM orders ORDER BY id") == [("cancelled",), ("open",)]


async def test_cash_dialog_rejects_bad_amount_and_escape_closes(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, ESPRESSO)
        await pilot.press("f3", *"1.234", "enter")
        assert "more than 2 decimals" in text(pilot, "#error")
        await pilot.press(*"10.02", "enter")
        assert "steps of 0.05" in text(pilot, "#error")
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert pilot.app.screen.focused is not None and pilot.app.screen.focused.id == "scan"
        await pilot.press("f3", *"5", "enter")  # part payment in cash
        assert table_rows(pilot, "#tenders") == [["Cash given", "-5.00"]]
        assert "9.90" in text(pilot, "#balance")


async def test_pay_keys_on_an_empty_order_say_so(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        assert "empty" in text(pilot, "#status")


async def test_reprint_last_receipt(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f7")
        assert "No receipt" in text(pilot, "#status")
        await scan(pilot, CROISSANT)
        await pilot.press("f4", "enter")
        await settle(pilot)
        await pilot.press("f7")
        await settle(pilot)
        assert "1 receipt printed" in text(pilot, "#status")
    assert len(till.printer.jobs) == 2 and b"COPY" not in till.printer.jobs[0]  # the reprint is a COPY:
    assert till.printer.jobs[1].count(b"*** COPY ***") == 2  # tests/test_receipt_copy.py


async def test_remapped_key(write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    config = load_config(write_config('\n[keys]\ncash = "f1"\ndigital = "f3"\n'))
    till = till_factory(config)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await pilot.press("f3")
        assert isinstance(pilot.app.screen, CheckoutScreen)
        await pilot.press("f1", "enter")
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")


async def test_restart_shows_the_open_order(till_factory: Callable[..., Till]) -> None:
    first = till_factory()
    first.scan(ESPRESSO)
    first.scan("2*" + CROISSANT)
    await first.pay_card(first.parse_amount("5"))
    first.journal.close()
    second = till_factory()
    async with PosApp(second).run_test(size=SIZE) as pilot:
        assert [r[1] for r in table_rows(pilot, "#lines")] == ["Espresso beans 500 g", "Croissant"]
        assert table_rows(pilot, "#tenders") == [["Card", "-5.00"]]
        assert "Open order recovered" in text(pilot, "#status")
        assert "14.90" in text(pilot, "#balance")
