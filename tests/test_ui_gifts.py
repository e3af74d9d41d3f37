"""Selling gift vouchers (E-GUMA depot vouchers) and voiding a closed sale,
through the real app. Asserts the simulator's ledger and the journal."""

from __future__ import annotations


from textual.pilot import Pilot

from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.gifts import SellVoucherDialog
from pos_app.ui.vouchers import VoucherDialog
from tests.conftest import CROISSANT, sim_of
from tests.uihelpers import rows, scan, settle, table_rows, text

SIZE = (100, 30)
FIXED = "EADS-HD24-AKS5"  # depot voucher, fixed 50.00
FREE = "FREE-AMNT-0001"  # depot voucher, free amount



async def sell(pilot: Pilot, code: str, amount: str | None = None) -> None:
    await pilot.press("f5")
    await scan(pilot, code)
    await settle(pilot)
    if amount is not None:
        await pilot.press(*amount)
    await pilot.press("enter")
    await settle(pilot)


async def test_fixed_amount_sale_paid_cash(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await scan(pilot, FIXED)
        await settle(pilot)
        assert "can be sold" in text(pilot, "#result") and "Amount CHF 50.00" in text(pilot, "#result")
        await pilot.press("enter")
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert table_rows(pilot, "#lines") == [["1", "Gift voucher …AKS5", "50.00", "50.00", "—"]]
        assert "VAT" not in text(pilot, "#totals")  # excluded from the VAT breakdown
        assert not sim.state.activations  # nothing sent before the order closes
        await pilot.press("f3", *"60", "enter")
        await settle(pilot)
        assert "Order 1-0001 closed — change CHF 10.00" in text(pilot, "#status")
    (activation,) = sim.state.activations
    assert (activation.code, activation.amount_in_cents) == ("EADSHD24AKS5", 5000)
    assert sim.voucher("EADSHD24AKS5").balance_in_cents == 5000
    db = till.journal.path
    assert rows(db, "SELECT kind, code, vat_rate, activated_at IS NOT NULL FROM lines") == [
        ("gift_voucher", "EADSHD24AKS5", "0", 1)]
    assert rows(db, "SELECT operation, state, line_id IS NOT NULL FROM provider_ops") == [("create", "ok", 1)]
    receipt = till.printer.output
    assert b"EADS-HD24-AKS5" in receipt  # the full code, so the customer can redeem it
    assert b"\x1dkI\x0e{BEADSHD24AKS5" in receipt  # native CODE128 barcode, code set B
    last = till.journal.last_receipt()
    assert last is not None and "GIFT VOUCHER" in last.text and "VAT" not in last.text


async def test_free_amount_bad_then_good(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await scan(pilot, FREE)
        await settle(pilot)
        assert "Free amount" in text(pilot, "#result")
        for bad, message in [("0", "more than zero"), ("1000.01", "at most CHF 1'000.00"),
                             ("12.345", "more than 2 decimals"), ("", "no amount given")]:
            field = pilot.app.screen.query_one("#amount")
            field.value = ""
            await pilot.press(*bad, "enter")
            assert message in text(pilot, "#error"), bad
            assert isinstance(pilot.app.screen, SellVoucherDialog)
        pilot.app.screen.query_one("#amount").value = ""
        await pilot.press(*"75.50", "enter")
        assert table_rows(pilot, "#lines") == [["1", "Gift voucher …0001", "75.50", "75.50", "—"]]
        await pilot.press("f4", "enter")
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
    (activation,) = sim.state.activations
    assert (activation.code, activation.amount_in_cents) == ("FREEAMNT0001", 7550)
    assert sim.voucher("FREEAMNT0001").balance_in_cents == 7550


async def test_already_activated_voucher_adds_nothing(eguma_till: Till) -> None:
    async with PosApp(eguma_till).run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await scan(pilot, "DEPO-SOLD-0100")
        await settle(pilot)
        assert "cannot be sold" in text(pilot, "#result")
        assert "E-GUMA says: «Der Gutschein wurde bereits aktiviert.»" in text(pilot, "#result")
        await pilot.press("enter")  # checks again; never adds
        await settle(pilot)
        await pilot.press("escape")
        assert table_rows(pilot, "#lines") == []
    assert rows(eguma_till.journal.path, "SELECT COUNT(*) FROM lines") == [(0,)]


async def test_activation_failure_at_close_then_retry(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await sell(pilot, FIXED)
        await scan(pilot, CROISSANT)
        sim.fail_next(1, status=503)  # E-GUMA is down when the order closes
        await pilot.press("f3", *"60", "enter")
        await settle(pilot)
        status = text(pilot, "#status")
        assert "Paid, but not closed" in status and "…AKS5: activation failed" in status
        assert "Enter retries" in status
        lines = table_rows(pilot, "#lines")
        assert lines[1][1].startswith("! E-GUMA is not available right now")
        assert not sim.state.activations
        await pilot.press("enter")  # retry: Enter on the empty scan field
        await settle(pilot)
        assert "Order 1-0001 closed — change CHF 7.50" in text(pilot, "#status")
    assert len(sim.state.activations) == 1
    # the 503 came on the state read before the activation: nothing was sent or journaled then
    assert [r[0] for r in rows(till.journal.path, "SELECT state FROM provider_ops ORDER BY id")] == ["ok"]


async def test_activation_failure_then_line_removed_recomputes_change(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await sell(pilot, FIXED)
        sim.fail_next(1, status=400, body="Der Gutschein ist gesperrt.")
        await pilot.press("f3", *"60", "enter")
        await settle(pilot)
        assert "E-GUMA says: «Der Gutschein ist gesperrt." in text(pilot, "#status")
        await pilot.press("up", "f8")  # from the cash payment up to the gift voucher line
        await settle(pilot)
        status = text(pilot, "#status")
        assert "Voided 1 × Gift voucher …AKS5" in status and "change CHF 57.50" in status
    assert not sim.state.activations
    assert rows(till.journal.path, "SELECT status, number FROM orders ORDER BY id")[0] == ("closed", 1)
    last = till.journal.last_receipt()
    assert last is not None and "Gift voucher" not in last.text and "57.50" in last.text


async def test_voucher_cannot_pay_for_a_gift_voucher(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await sell(pilot, FIXED)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        assert "a voucher cannot buy a gift voucher" in text(pilot, "#result").lower()
        await pilot.press("enter")  # no redeem: it only checks again
        await settle(pilot)
        await pilot.press("escape")
    assert not sim_of(till).state.redemptions


async def test_void_last_sale_with_redemption_and_sold_voucher(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await sell(pilot, FIXED)
        await scan(pilot, CROISSANT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        assert "Pay CHF 2.50" in text(pilot, "#result")  # only the croissant
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("f3", *"50", "enter")
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
        assert sim.voucher("L4FU5LQTKJR3").balance_in_cents == 47_50
        await pilot.press("f9")  # empty order: offers to void the last sale
        question = text(pilot, ".info")
        assert "Void sale 1-0001" in question and "Give back cash CHF 50.00" in question
        await pilot.press("enter")
        await settle(pilot)
        assert "Sale 1-0001 voided — give back cash CHF 50.00" in text(pilot, "#status")
        assert "paid" not in text(pilot, "#balance")  # not shown as paid any more
        await pilot.press("f9")
        assert "already voided" in text(pilot, "#status")
    assert sim.voucher("L4FU5LQTKJR3").balance_in_cents == 50_00
    (deactivation,) = sim.state.deactivations
    assert deactivation.code == "EADSHD24AKS5" and "1-0001" in (deactivation.reason or "")
    assert sim.voucher("EADSHD24AKS5").balance_in_cents == 0
    db = till.journal.path
    assert rows(db, "SELECT status, voided_at IS NOT NULL FROM orders WHERE number = 1") == [("closed", 1)]
    assert rows(db, "SELECT operation, state FROM provider_ops ORDER BY id") == [
        ("authorize", "ok"), ("create", "ok"), ("undo", "ok"), ("void", "ok")]
    void = till.journal.last_receipt()
    assert void is not None and void.kind == "void"
    assert "VOID OF SALE 1-0001" in void.text and "Cash returned" in void.text and "50.00" in void.text
    assert b"VOID OF SALE 1-0001" in till.printer.output


async def test_void_refused_when_the_sold_voucher_was_used(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await sell(pilot, FIXED)
        await pilot.press("f4", "enter")
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
        # the customer spends 10.00 of it at another till right away
        status, _ = sim.redeem("EADSHD24AKS5", {"amount_in_cents": 1000}, "Demo Shop Bern")
        assert status == 200
        await pilot.press("f9", "enter")
        await settle(pilot)
        status_line = text(pilot, "#status")
        assert "Void refused — E-GUMA cannot take gift voucher …AKS5 back now" in status_line
        assert "E-GUMA says: «" in status_line and "Nothing was changed" in status_line
    assert not sim.state.deactivations and sim.voucher("EADSHD24AKS5").balance_in_cents == 40_00
    db = till.journal.path
    assert rows(db, "SELECT voided_at FROM orders WHERE number = 1") == [(None,)]
    assert [r[0] for r in rows(db, "SELECT operation FROM provider_ops")] == ["create"]


async def test_removing_a_gift_voucher_before_close_sends_nothing(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await sell(pilot, FIXED)
        await pilot.press("f8")
        await settle(pilot)
        assert [r[1] for r in table_rows(pilot, "#lines")] == ["Croissant"]
        await pilot.press("f4", "enter")
        await settle(pilot)
    sim = sim_of(till)
    assert not sim.state.activations
    assert [r.path for r in sim.state.requests] == ["/v1/depot_vouchers/EADSHD24AKS5/activate_status.json"]


async def test_cancel_order_deactivates_a_gift_voucher_already_activated(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await sell(pilot, FIXED)
        await sell(pilot, FREE, "20")
        # someone activates the free-amount voucher elsewhere: at close, AKS5 is
        # activated and 0001 is refused, so the order stays open, half activated
        assert sim.activate("FREEAMNT0001", {"amount_in_cents": 900}, "Demo Shop Bern")[0] == 200
        await pilot.press("f3", *"70", "enter")
        await settle(pilot)
        assert "Paid, but not closed" in text(pilot, "#status")
        assert [a.code for a in sim.state.activations] == ["FREEAMNT0001", "EADSHD24AKS5"]
        await pilot.press("f9")
        await pilot.press("enter")
        await settle(pilot)
        status = text(pilot, "#status")
        assert "Order cancelled — gift voucher …AKS5 deactivated — return the payments taken: Cash 70.00" in status
    (deactivation,) = sim.state.deactivations
    assert deactivation.code == "EADSHD24AKS5"
    assert sim.deactivate_status("EADSHD24AKS5")[1]["can_be_deactivated"] is False
    db = till.journal.path
    # 0001 was seen activated (elsewhere) right before the send: not sent, nothing journaled for it
    assert rows(db, "SELECT operation, code, state FROM provider_ops ORDER BY id") == [
        ("create", "EADSHD24AKS5", "ok"), ("undo", "EADSHD24AKS5", "ok")]
    assert rows(db, "SELECT status FROM orders ORDER BY id LIMIT 1") == [("cancelled",)]


async def test_cancel_refused_when_the_activated_gift_voucher_was_used(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await sell(pilot, FIXED)
        await sell(pilot, FREE, "20")
        sim.activate("FREEAMNT0001", {"amount_in_cents": 900}, "Demo Shop Bern")
        await pilot.press("f4", "enter")
        await settle(pilot)
        assert sim.redeem("EADSHD24AKS5", {"amount_in_cents": 500}, "Demo Shop Bern")[0] == 200
        await pilot.press("f9", "enter")
        await settle(pilot)
        status = text(pilot, "#status")
        assert "Order not cancelled — E-GUMA cannot take gift voucher …AKS5 back now" in status
        assert "E-GUMA says: «" in status and "Nothing was changed" in status
        assert [r[1] for r in table_rows(pilot, "#lines")][:2] == ["Gift voucher …AKS5", "Gift voucher …0001"]
    assert not sim.state.deactivations
    assert rows(till.journal.path, "SELECT status FROM orders ORDER BY id LIMIT 1") == [("open",)]


async def test_void_of_a_card_sale_after_the_change_was_given_in_cash(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await sell(pilot, FIXED)
        sim.fail_next(1, status=400, body="Der Gutschein ist gesperrt.")
        await pilot.press("f4", "enter")  # card 52.50
        await settle(pilot)
        await pilot.press("up", "f8")  # the gift voucher goes: 50.00 handed back in cash
        await settle(pilot)
        assert "change CHF 50.00" in text(pilot, "#status")
        await pilot.press("f9")
        question = text(pilot, ".info")
        assert "Refund CHF 2.50 on the card terminal" in question and "cash" not in question.lower()
        await pilot.press("enter")
        await settle(pilot)
        assert "Sale 1-0001 voided — refund CHF 2.50 on the card terminal" in text(pilot, "#status")
