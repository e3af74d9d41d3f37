"""Voucher money given back, on paper: the void receipt and the cancel slip show each
voucher (masked), the amount given back and its new balance, as the provider said;
the slip is journaled with the cancellation and printed."""

from __future__ import annotations

import pytest

from pos_app.journal import store
from pos_app.journal.store import JournalError
from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from tests.conftest import ESPRESSO, MERLOT, sim_of
from tests.test_receipt_width import printed
from tests.uihelpers import rows, scan, settle, text

SMALL, BIG = "2QH3QTDM28N6", "L4FU5LQTKJR3"  # 2.00 and 50.00 on the E-GUMA simulator
SIZE = (100, 30)


def balance(till: Till, code: str) -> int:
    return int(sim_of(till).voucher(code).balance_in_cents)


async def pay_voucher(till: Till, code: str) -> None:
    await till.vouchers.pay(await till.vouchers.check(code))


async def test_void_receipt_shows_each_vouchers_new_balance(eguma_till: Till) -> None:
    till = eguma_till
    till.scan(ESPRESSO)  # 14.90
    await pay_voucher(till, BIG)  # 50.00 -> 35.10, and the sale closes
    assert till.last_closed is not None and balance(till, BIG) == 35_10
    outcome = await till.storno.run()
    assert outcome.receipt_id is not None
    assert balance(till, BIG) == 50_00  # the simulator's ledger: the payment was cancelled
    record = till.journal.receipt(outcome.receipt_id)
    assert record.kind == "void"
    lines, _ = printed(record.escpos)
    at = lines.index("Voucher ...KJR3 credited" + " " * 13 + "14.90")
    assert lines[at + 1] == "  new balance 50.00"  # the provider's answer to the cancellation
    assert BIG.encode() not in record.escpos and BIG not in record.text  # masked, as elsewhere
    assert "  new balance 50.00" in record.text


async def test_cancel_slip_per_voucher_journaled_and_printed(eguma_till: Till) -> None:
    till = eguma_till
    till.scan(ESPRESSO)
    till.scan(MERLOT)  # 52.90
    await pay_voucher(till, SMALL)  # 2.00 -> 0.00
    await pay_voucher(till, BIG)  # 50.00 -> 0.00; 0.90 still to pay
    order_id = till.order_id
    assert balance(till, SMALL) == 0 and balance(till, BIG) == 0
    outcome = await till.cancel_order()
    assert balance(till, SMALL) == 2_00 and balance(till, BIG) == 50_00
    assert outcome.receipt_id is not None  # the screen prints it (as a void receipt)
    assert rows(till.journal.path, "SELECT id, order_id, kind, printed_at FROM receipts") == [
        (outcome.receipt_id, order_id, "cancel", None)]
    assert rows(till.journal.path, "SELECT status FROM orders WHERE id=?".replace("?", str(order_id))) == [
        ("cancelled",)]
    kinds = [(e["kind"], e["detail"]) for e in till.journal.events(order_id)][-2:]
    assert kinds == [("order_cancelled", {}), ("receipt_stored", {"receipt": outcome.receipt_id, "kind": "cancel"})]
    record = till.journal.receipt(outcome.receipt_id)
    lines, _ = printed(record.escpos)
    assert "ORDER CANCELLED" in lines
    assert lines[lines.index("ORDER CANCELLED") + 1] == "Order 1-0001"  # which order: the customer's reference
    body = lines[lines.index("ORDER CANCELLED") + 4:]
    assert body[:6] == ["Voucher ...28N6 given back" + " " * 12 + "2.00", "  new balance 2.00",
                        "Voucher ...KJR3 given back" + " " * 11 + "50.00", "  new balance 50.00",
                        "-" * 42, "Given back to vouchers CHF" + " " * 11 + "52.00"]
    assert SMALL.encode() not in record.escpos and BIG.encode() not in record.escpos
    assert (await till.print_receipt(outcome.receipt_id)).ok
    assert till.printer.jobs == [record.escpos]  # the first print: no COPY mark
    # The slip is the last receipt: shown (demo) and printed again by F7, as a COPY.
    assert till.last_receipt_text() == record.text
    assert [r.id for r in till.receipts_to_reprint()] == [outcome.receipt_id]
    assert (await till.print_receipt(outcome.receipt_id)).ok
    assert b"COPY" in till.printer.jobs[-1] and b"ORDER CANCELLED" in till.printer.jobs[-1]


async def test_cancel_without_vouchers_prints_nothing(eguma_till: Till) -> None:
    till = eguma_till
    till.scan(ESPRESSO)
    outcome = await till.cancel_order()
    assert outcome.receipt_id is None
    assert rows(till.journal.path, "SELECT COUNT(*) FROM receipts") == [(0,)]


async def test_cancel_slip_is_stored_in_the_cancellations_transaction(
        eguma_till: Till, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slip and cancellation are one commit: when the slip cannot be written, the order
    is not cancelled either. The money is back on the voucher; F9 again cancels the
    order and still prints the slip (from the journal's record of the give-back)."""
    till = eguma_till
    till.scan(MERLOT)
    await pay_voucher(till, SMALL)
    order_id = till.order_id

    def broken(*args: object) -> int:
        raise JournalError("disk full")

    monkeypatch.setattr(store._Tx, "insert_receipt", broken)
    with pytest.raises(JournalError):
        await till.cancel_order()
    assert rows(till.journal.path, f"SELECT status FROM orders WHERE id={order_id}") == [("open",)]
    assert rows(till.journal.path, "SELECT COUNT(*) FROM receipts") == [(0,)]
    monkeypatch.undo()
    till.reload()
    outcome = await till.cancel_order()  # F9 again: nothing left to give back, the slip all the same
    assert rows(till.journal.path, f"SELECT status FROM orders WHERE id={order_id}") == [("cancelled",)]
    assert balance(till, SMALL) == 2_00 and outcome.receipt_id is not None
    lines, _ = printed(till.journal.receipt(outcome.receipt_id).escpos)
    assert "Voucher ...28N6 given back" + " " * 12 + "2.00" in lines and "  new balance 2.00" in lines
    assert rows(till.journal.path, "SELECT COUNT(*) FROM provider_ops WHERE operation='void'") == [(1,)]


async def test_f9_prints_the_cancel_slip(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, SMALL)
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert balance(till, SMALL) == 0
        await pilot.press("f9", "enter")
        await settle(pilot)
        assert "Order cancelled" in text(pilot, "#status")
    (job,) = till.printer.jobs
    lines, _ = printed(job)
    assert "Voucher ...28N6 given back" + " " * 12 + "2.00" in lines and "  new balance 2.00" in lines
    assert rows(till.journal.path, "SELECT kind, printed_at IS NOT NULL FROM receipts") == [("cancel", 1)]
