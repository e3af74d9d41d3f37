"""Celbux through the real app (Pilot), against the Celbux simulator in-process
(``sim://celbux``) in a ZAR outlet: F2 redeems a 168-NNNNN-NNNNN voucher, F8
reverses it, locked and used-up vouchers are refused, and F1 sells a voucher by
SMS. Each test asserts the simulator's ledger, the journal and the screen or
the receipt."""

from __future__ import annotations

import time

from textual.pilot import Pilot
from textual.widgets import Input

from pos_app.journal import OpState
from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.dialogs import AmountDialog
from pos_app.ui.digital import DigitalVoucherDialog, StoreCreditDialog
from pos_app.ui.vouchers import VoucherDialog
from tests.test_celbux_till import BILTONG, NORMAL, sim
from tests.uihelpers import rows, screen_text, settle, table_rows, text
from tests.uihelpers import scan as typed_scan

SIZE = (80, 24)
LOCKED = "168-55555-66666"  # R100.00 on it, locked
USED_UP = "168-33333-44444"  # R0.00


async def scan(pilot: Pilot, code: str) -> None:
    """A scan as a serial scanner delivers it (the screen's ``accept_scan``)."""
    accept = getattr(pilot.app.screen, "accept_scan", None)
    if accept is None:
        await typed_scan(pilot, code)
        return
    accept(code)
    await pilot.pause()


async def pay_cash(pilot: Pilot, amount: str = "") -> None:
    await pilot.press("f3", *amount, "enter")
    await settle(pilot)
    deadline = time.monotonic() + 2
    while isinstance(pilot.app.screen, AmountDialog) and time.monotonic() < deadline:
        await pilot.pause(0.02)
    await settle(pilot)


def receipt(till: Till) -> str:
    last = till.journal.last_receipt()
    assert last is not None
    return last.text


async def pay_with_voucher(pilot: Pilot, code: str) -> str:
    """F2, scan, Enter; what the dialog showed before Enter."""
    await pilot.press("f2")
    await scan(pilot, code)
    await settle(pilot)
    assert isinstance(pilot.app.screen, VoucherDialog)
    shown = text(pilot, "#result")
    await pilot.press("enter")
    await settle(pilot)
    return shown


async def test_f2_a_celbux_voucher_pays_250_and_cash_the_rest(za_till: Till) -> None:
    till = za_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, BILTONG)
        await scan(pilot, BILTONG)
        shown = await pay_with_voucher(pilot, NORMAL)
        assert "Celbux voucher …8310  redeemable" in shown and "Balance ZAR 250.00" in shown
        assert "Pay ZAR 250.00" in shown
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert "Voucher …8310 paid 250.00 — new balance 0.00 — 8.00 still to pay" in text(pilot, "#status")
        assert table_rows(pilot, "#tenders") == [["Voucher …8310", "-250.00"], ["new balance", "0.00"]]
        assert "8.00" in text(pilot, "#balance")
        assert sim(till).voucher(NORMAL).balance == 0
        (op,) = till.journal.ops(operation="authorize")
        assert op.state == OpState.OK
        (payment,) = sim(till).transactions("pay")
        assert (payment.reference, payment.amount) == (op.reference, 250_00)
        await pay_cash(pilot, "10")
        assert "Order 1-0001 closed" in text(pilot, "#status"), text(pilot, "#status")
    assert len(sim(till).transactions("pay")) == 1
    assert rows(till.journal.path, "SELECT kind, state, amount_minor FROM tenders ORDER BY id") == [
        ("voucher", "captured", 250_00), ("cash", "captured", 8_00)]
    shown = receipt(till)
    assert "Voucher …8310" in shown and "250.00" in shown and "258.00" in shown
    assert "Cash given" in shown and "10.00" in shown and "2.00" in shown  # the change
    assert NORMAL not in shown  # a paying voucher is masked


async def test_f8_reverses_the_celbux_payment_before_the_rest_is_paid(za_till: Till) -> None:
    till = za_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, BILTONG)
        await scan(pilot, BILTONG)
        await pay_with_voucher(pilot, NORMAL)
        assert sim(till).voucher(NORMAL).balance == 0
        await pilot.press("f8")  # the new tender is selected
        await settle(pilot)
        assert "Voucher …8310 payment 250.00 cancelled" in text(pilot, "#status"), text(pilot, "#status")
        assert table_rows(pilot, "#tenders") == []
        assert "258.00" in text(pilot, "#balance")
        assert till.order.active_tenders == []
    assert sim(till).voucher(NORMAL).balance == 250_00
    (payment,) = sim(till).transactions("pay")
    (reversal,) = sim(till).transactions("reverse")
    assert rows(till.journal.path, "SELECT operation, state, amount_minor FROM provider_ops ORDER BY id") == [
        ("authorize", "ok", 250_00), ("void", "ok", 250_00)]
    assert rows(till.journal.path, "SELECT state, voided_at IS NOT NULL FROM tenders") == [("voided", 1)]


async def refused(till: Till, code: str) -> str:
    """F2 and ``code`` on a Biltong order: what the dialog says; Enter takes nothing, Escape back."""
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, BILTONG)
        await pilot.press("f2")
        await scan(pilot, code)
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        shown = text(pilot, "#result")
        assert "Pay ZAR" not in shown
        await pilot.press("enter")  # nothing to pay: Enter takes no payment
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert table_rows(pilot, "#tenders") == []
        assert "129.00" in text(pilot, "#balance")
    assert sim(till).transactions("pay") == []
    assert till.journal.ops(operation="authorize") == []
    return shown


async def test_a_locked_voucher_is_not_redeemable(za_till: Till) -> None:
    shown = await refused(za_till, LOCKED)
    assert "Celbux voucher …6666  NOT redeemable" in shown and "Balance ZAR 100.00" in shown
    assert "Celbux says: «The voucher is locked at Celbux.»" in shown
    assert sim(za_till).voucher(LOCKED).balance == 100_00


async def test_a_used_up_voucher_is_not_redeemable(za_till: Till) -> None:
    shown = await refused(za_till, USED_UP)
    assert "Celbux voucher …4444  NOT redeemable" in shown
    assert "Celbux says: «The voucher has no balance left.»" in shown
    assert sim(za_till).voucher(USED_UP).balance == 0
    assert "does not know this voucher" not in shown, shown  # it does: a known voucher with R0.00 on it


async def test_f1_voucher_by_sms_checks_the_phone_and_is_issued_at_close(za_till: Till) -> None:
    till = za_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await settle(pilot)
        assert "1  Voucher by SMS (10.00–5,000.00)" in screen_text(pilot)
        await pilot.press("1")
        await settle(pilot)
        assert isinstance(pilot.app.screen, DigitalVoucherDialog)
        await pilot.press(*"12345", "enter")
        await settle(pilot)
        error = text(pilot, "#error")
        assert "Customer's phone number" in error and "'12345' is not a South African mobile number" in error
        assert isinstance(pilot.app.screen, DigitalVoucherDialog) and till.order.active_lines == []
        field = pilot.app.screen.query_one("#field-0", Input)
        assert pilot.app.focused is field
        field.value = ""
        await pilot.press(*"082 123 4567", "enter")
        await settle(pilot)
        assert text(pilot, "#error") == ""
        assert pilot.app.focused is pilot.app.screen.query_one("#amount", Input)
        await pilot.press(*"100", "enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert table_rows(pilot, "#lines") == [["1", "Voucher by SMS +27 82 123 4567", "100.00", "100.00", "—"]]
        assert "VAT" not in text(pilot, "#totals")  # VAT 0
        (line,) = till.order.active_lines
        assert line.details == {"phone": "27821234567"}
        assert sim(till).transactions("createVoucher") == []  # issued at close, not before
        await pay_cash(pilot, "100")
        assert "Order 1-0001 closed" in text(pilot, "#status"), text(pilot, "#status")
    (issued,) = sim(till).transactions("createVoucher")
    (op,) = till.journal.ops(operation="create")
    assert op.state == OpState.OK and issued.reference == op.reference
    voucher = op.refs["voucher_no"]
    assert sim(till).voucher(voucher).balance == 100_00
    assert any(voucher in sms.text for sms in sim(till).sms_to("27821234567"))
    shown = receipt(till)
    assert f"Code: {voucher}" in shown and "Sent by SMS to +27 82 123 4567" in shown
    assert "Voucher by SMS +27 82 123 4567" in shown and "100.00" in shown


async def test_f9_voids_the_last_sale_as_store_credit_by_sms(za_till: Till) -> None:
    till = za_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, BILTONG)
        await pay_cash(pilot, "200")
        assert "Order 1-0001 closed" in text(pilot, "#status")
        await pilot.press("f9")
        await settle(pilot)
        shown = screen_text(pilot)
        assert "Give back cash ZAR 129.00" in shown
        assert "F1 refund as store credit" in shown and "(Voucher by SMS) · Escape keep it" in shown
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(pilot.app.screen, StoreCreditDialog)
        shown = screen_text(pilot)
        assert "Refund as store credit" in shown and "Refund ZAR 129.00 as store credit" in shown
        assert "Enter voids the sale and issues the" in shown  # (wrapped)
        assert not pilot.app.screen.query("#amount")  # the amount is the refund
        await pilot.press("escape")  # changed her mind: nothing is voided
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen) and "Nothing voided" in text(pilot, "#status")
        assert till.journal.order_voided_at(till.journal.last_closed_order_id()) is None
        await pilot.press("f9")
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        await pilot.press(*"0821234567", "enter")
        await settle(pilot)
        deadline = time.monotonic() + 3
        while "store credit order" not in text(pilot, "#status") and time.monotonic() < deadline:
            await pilot.pause(0.05)
        status = text(pilot, "#status")
        assert "Sale 1-0001 voided — ZAR 129.00 refunded as store credit — store credit order 1-0002 closed" \
            in status, status
    (issued,) = sim(till).transactions("createVoucher")
    assert issued.amount == 129_00
    assert till.journal.unprinted_receipts() == []  # the void receipt and the voucher's both printed
    (op,) = till.journal.ops(operation="create")
    assert any(op.refs["voucher_no"] in sms.text for sms in sim(till).sms_to("27821234567"))
    shown = receipt(till)
    assert f"Code: {op.refs['voucher_no']}" in shown and "Sent by SMS to +27 82 123 4567" in shown
