"""JTL-Voucher Cloud through the real app (Pilot), against the JTL simulator
in-process (``sim://jtl``, as in the demo).

JTL holds, then charges: a voucher payment is a reservation; the order's close
charges it with the order number. Every test asserts the simulator's ledger
(reservations, charges, voucher status), the journal and what the screen or
the receipt shows — not just that no error came up.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from textual.pilot import Pilot

from pos_app.config import load_config
from pos_app.providers.jtl import simulator as jtl_sim
from pos_app.providers.jtl.client import JtlClient
from pos_app.services.checkout import Till
from pos_app.services.providers import close_providers, slot_for
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.dialogs import AmountDialog, ChooseDialog, ConfirmDialog
from pos_app.ui.vouchers import VoucherDialog
from tests.conftest import CROISSANT, MERLOT
from tests.uihelpers import rows, screen_text, settle, table_rows, text
from tests.uihelpers import scan as typed_scan

SIZE = (100, 30)

# The demo data's vouchers (pos_app/providers/jtl/demo_vouchers.toml); the barcode is the id.
NORMAL = "a1b2c3d4e5f600000001"  # CHF 100.00, active, with a pin
LITTLE = "a1b2c3d4e5f600000002"  # CHF 3.50 left of 50.00
USED_UP = "a1b2c3d4e5f600000003"
FOR_SALE = "a1b2c3d4e5f600000004"  # inactive, CHF 50.00, valid 3 years once activated
EURO = "a1b2c3d4e5f600000005"
EXPIRED = "a1b2c3d4e5f600000006"
TILL_CLIENT = ("c0ffee00000000000001", "demo-jtl-secret-till-1")

SIM_JTL = """
[providers.jtl]
base_url = "sim://jtl"
timeout_s = 2
"""


class Clock:
    """The simulator's (and the client's) clock: the real time, turned forward by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def jtl_till(write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> Till:
    """A till whose JTL provider is the in-process simulator (as in the demo)."""
    return till_factory(load_config(write_config(SIM_JTL)))


def sim(till: Till) -> jtl_sim.JtlSimulator:
    return till.providers["jtl"].simulator


def with_clock(till: Till, clock: Clock, creds: tuple[str, str] = TILL_CLIENT) -> jtl_sim.JtlSimulator:
    """Give ``till`` a JTL simulator (and client) on ``clock``, in place of the one it built."""
    app, simulator = jtl_sim.build_app(clock=clock)
    http = httpx.AsyncClient(transport=jtl_sim.in_process_transport(app))
    client = JtlClient(http, *creds, "http://jtl.sim/v1", "CHF", 2.0, clock=clock)
    till.providers["jtl"] = slot_for(till.config, "jtl", client, simulator=simulator, http=http)
    return simulator


def charges(till: Till, kind: str = "charge") -> list[jtl_sim.Charge]:
    return [c for c in sim(till).state.charges.values() if c.type == kind]


def locked(till: Till, voucher: str) -> bool:
    simulator = sim(till)
    return simulator._locked(simulator.voucher(voucher)) is not None


def posts(till: Till) -> list[tuple[str, str]]:
    """The simulator's write requests, the token requests left out."""
    return [(r.method, r.path) for r in sim(till).state.requests
            if r.method in ("POST", "PATCH") and r.path != "/oauth/token"]


def receipt(till: Till) -> str:
    last = till.journal.last_receipt()
    assert last is not None
    return last.text


DATE = r"\d{1,2}[./]\d{1,2}[./]\d{2,4}|\d{4}-\d{2}-\d{2}"


async def scan(pilot: Pilot, code: str) -> None:
    """A scan as a serial scanner delivers it (the screen's ``accept_scan``, as
    ``PosApp.route_scan`` calls it): a 20-character JTL id typed key by key
    through Pilot costs 1.4 s. Typed where the screen takes no scans."""
    accept = getattr(pilot.app.screen, "accept_scan", None)
    if accept is None:
        await typed_scan(pilot, code)
        return
    accept(code)
    await pilot.pause()


async def until(pilot: Pilot, condition: Callable[[], bool], timeout_s: float = 10) -> None:
    """Let the app run until ``condition`` holds, without waiting for the workers."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        await pilot.pause(0.02)


async def pay_with_voucher(pilot: Pilot, code: str) -> None:
    """F2, scan, Enter: the three actions of a voucher payment."""
    await pilot.press("f2")
    await scan(pilot, code)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def pay_cash(pilot: Pilot, amount: str = "") -> None:
    await pilot.press("f3", *amount, "enter")  # the proposed amount is selected: typing replaces it
    await settle(pilot)
    # the dialog closes itself once its payment is done (a close may print, which takes a moment)
    deadline = time.monotonic() + 2
    while isinstance(pilot.app.screen, AmountDialog) and time.monotonic() < deadline:
        await pilot.pause(0.02)
    await settle(pilot)


# -- 1. a voucher pays the whole order -------------------------------------------------
async def test_voucher_pays_the_whole_order_reserved_then_charged_at_close(jtl_till: Till) -> None:
    till = jtl_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, NORMAL)
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        shown = text(pilot, "#result")
        assert "JTL voucher …0001  redeemable" in shown and "Balance CHF 100.00 of 100.00" in shown
        assert "Pay CHF 38.00" in shown
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        status = text(pilot, "#status")
        assert "Order 1-0001 closed" in status
    simulator = sim(till)
    (reservation,) = simulator.state.reservations.values()
    (charge,) = charges(till)
    assert (reservation.voucher_id, reservation.amount, reservation.charge_id) == (NORMAL, 38_00, charge.id)
    assert (charge.voucher_id, charge.amount, charge.order_number) == (NORMAL, 38_00, "1-0001")
    assert simulator.voucher(NORMAL).remaining == 62_00 and not locked(till, NORMAL)
    db = till.journal.path
    assert rows(db, "SELECT operation, state, amount_minor FROM provider_ops ORDER BY id") == [
        ("authorize", "ok", 38_00), ("capture", "ok", 38_00)]
    assert rows(db, "SELECT kind, state, amount_minor, code, balance_after_minor FROM tenders") == [
        ("voucher", "captured", 38_00, NORMAL, 62_00)]
    shown = receipt(till)
    assert "Voucher …0001" in shown and "38.00" in shown and "new balance 62.00" in shown
    assert NORMAL not in shown  # a paying voucher is masked on the receipt
    assert re.search(rf"valid until ({DATE})", shown), shown
    assert "2029" in re.search(rf"valid until ({DATE})", shown).group(1)  # type: ignore[union-attr]


# -- 2. part of the order, the rest in cash ----------------------------------------------
async def test_partial_voucher_is_reserved_until_the_cash_closes_the_order(jtl_till: Till) -> None:
    till = jtl_till
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pay_with_voucher(pilot, LITTLE)
        status = text(pilot, "#status")
        assert "Voucher …0002: 3.50 reserved — charged when the order closes" in status
        assert "34.50 still to pay" in status
        assert table_rows(pilot, "#tenders") == [
            ["Voucher …0002", "-3.50"], ["reserved", ""], ["new balance", "0.00"]]
        assert "34.50" in text(pilot, "#balance")
        # held, not charged: the voucher is locked at JTL, its balance untouched
        (reservation,) = simulator.state.reservations.values()
        assert (reservation.voucher_id, reservation.amount, reservation.charge_id) == (LITTLE, 3_50, None)
        assert not simulator.state.charges
        assert simulator.voucher(LITTLE).remaining == 3_50 and locked(till, LITTLE)
        await pay_cash(pilot, "40")
        assert "Order 1-0001 closed — change CHF 5.50" in text(pilot, "#status")
    (charge,) = charges(till)
    assert (charge.voucher_id, charge.amount, charge.order_number) == (LITTLE, 3_50, "1-0001")
    assert simulator.voucher(LITTLE).remaining == 0 and not locked(till, LITTLE)
    assert rows(till.journal.path, "SELECT kind, state, amount_minor FROM tenders ORDER BY id") == [
        ("voucher", "captured", 3_50), ("cash", "captured", 34_50)]
    shown = receipt(till)
    assert "Voucher …0002" in shown and "3.50" in shown and "new balance 0.00" in shown
    assert "Cash given" in shown and "40.00" in shown and "valid until" in shown


# -- 3. the same voucher twice on one order: one hold, one charge --------------------------
async def test_same_voucher_twice_is_one_payment_one_hold_one_charge(jtl_till: Till) -> None:
    till = jtl_till
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        # a gift voucher on the order is paid with cash or card only: the voucher pays
        # the wine and the order stays open, so the customer can add something and
        # pay that with the same voucher
        await pilot.press("f5")
        await scan(pilot, FOR_SALE)
        await settle(pilot)
        await pilot.press("enter")
        await scan(pilot, MERLOT)
        await pay_with_voucher(pilot, NORMAL)
        assert "38.00 reserved" in text(pilot, "#status")
        (first,) = simulator.state.reservations.values()
        assert first.amount == 38_00
        await scan(pilot, CROISSANT)
        await pilot.press("f2")
        await scan(pilot, NORMAL)
        await settle(pilot)
        assert "Pay CHF 2.50" in text(pilot, "#result")  # what is left of its balance is 62.00
        await pilot.press("enter")
        await settle(pilot)
        assert "Voucher …0001 pays 2.50 more — one payment of 40.50" in text(pilot, "#status")
        assert table_rows(pilot, "#tenders")[:2] == [["Voucher …0001", "-40.50"], ["reserved", ""]]
        # the second hold (for the sum) replaced the first at JTL
        assert [r.amount for r in simulator.state.reservations.values()] == [38_00, 40_50]
        assert simulator.voucher(NORMAL).reservation_id != first.id
        assert not simulator.state.charges
        await pay_cash(pilot, "50")
        assert "Order 1-0001 closed" in text(pilot, "#status")
    (charge,) = charges(till)
    assert (charge.voucher_id, charge.amount, charge.order_number) == (NORMAL, 40_50, "1-0001")
    assert simulator.voucher(NORMAL).remaining == 59_50
    assert simulator.voucher(FOR_SALE).status == "active"
    assert rows(till.journal.path, "SELECT kind, state, amount_minor FROM tenders ORDER BY id") == [
        ("voucher", "captured", 40_50), ("cash", "captured", 50_00)]
    shown = receipt(till)
    assert shown.count("Voucher …0001") == 1 and "40.50" in shown


# -- 4. F8 on a reserved payment ----------------------------------------------------------
async def test_void_of_a_reservation_sends_nothing_and_says_when_the_hold_lapses(jtl_till: Till) -> None:
    till = jtl_till
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pay_with_voucher(pilot, LITTLE)
        (reservation,) = simulator.state.reservations.values()
        before = len(simulator.state.requests)
        await pilot.press("f8")  # the new payment is selected
        await settle(pilot)
        status = text(pilot, "#status")
        lapses = time.strftime("%H:%M", time.localtime(reservation.valid_until))
        assert ("Voucher …0002 payment 3.50 cancelled — nothing was charged; JTL keeps the voucher blocked "
                f"until its hold lapses at {lapses}") == status
        assert table_rows(pilot, "#tenders") == []
        assert "38.00" in text(pilot, "#balance")
        # nothing to send: JTL has no call to drop a reservation
        assert [(r.method, r.path) for r in simulator.state.requests[before:]] == []
        assert not simulator.state.charges
        assert locked(till, LITTLE)  # until the hold lapses by itself
        assert simulator.voucher(LITTLE).remaining == 3_50
        # the customer changes their mind: the same voucher again (a new hold replaces the dropped one)
        await pay_with_voucher(pilot, LITTLE)
        assert "3.50 reserved" in text(pilot, "#status")
        await pay_cash(pilot, "34.50")
        assert "Order 1-0001 closed" in text(pilot, "#status")
    dropped, taken = simulator.state.reservations.values()
    assert dropped is reservation and dropped.charge_id is None
    (charge,) = charges(till)  # the dropped hold was never charged
    assert (charge.voucher_id, charge.amount, charge.order_number) == (LITTLE, 3_50, "1-0001")
    assert taken.charge_id == charge.id and simulator.voucher(LITTLE).remaining == 0
    assert rows(till.journal.path, "SELECT operation, state FROM provider_ops ORDER BY id") == [
        ("authorize", "ok"), ("void", "ok"), ("authorize", "ok"), ("capture", "ok")]
    assert rows(till.journal.path, "SELECT kind, state FROM tenders ORDER BY id") == [
        ("voucher", "voided"), ("voucher", "captured"), ("cash", "captured")]


# -- 5. a hold that lapsed before the close ----------------------------------------------
LAPSED = ("Paid, but not closed — the hold on voucher …0002 lapsed or was replaced. Nothing was charged; Enter "
          "asks to hold it again")


async def reserve_then_lapse(pilot: Pilot, till: Till, clock: Clock) -> None:
    """3.50 reserved on …0002 for the wine (38.00), then the 30-minute hold lapses."""
    await scan(pilot, MERLOT)
    await pay_with_voucher(pilot, LITTLE)
    assert locked(till, LITTLE)
    clock.advance(31 * 60)  # the customer took their time: JTL let the hold lapse
    assert not locked(till, LITTLE)


async def test_lapsed_hold_at_close_not_now_then_held_again_and_charged_once(jtl_till: Till) -> None:
    # Until 9b1232a the question was popped with the cash dialog (which then stayed
    # open, and Escape on it raised InvalidStateError).
    till = jtl_till
    clock = Clock()
    simulator = with_clock(till, clock)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await reserve_then_lapse(pilot, till, clock)
        await pay_cash(pilot, "34.50")
        # the close's charge was refused (nothing charged): the till asks to hold it again
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), 3)
        asked = screen_text(pilot)
        assert "Hold the voucher again" in asked and "Voucher …0002: hold 3.50 again and charge it?" in asked
        assert "Enter hold it again · Escape not now" in asked
        assert not simulator.state.charges
        await pilot.press("escape")  # not now: the order stays open, paid, not closed
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert text(pilot, "#status") == LAPSED
        assert [r[0] for r in table_rows(pilot, "#tenders")][:2] == ["Voucher …0002", "reserved"]
        assert rows(till.journal.path, "SELECT status FROM orders ORDER BY id") == [("open",)]
        assert not simulator.state.charges and len(simulator.state.reservations) == 1
        await pilot.press("enter")  # Enter on the empty scan field: the close is tried again and asks again
        await settle(pilot)
        assert isinstance(pilot.app.screen, ConfirmDialog)
        await pilot.press("enter")  # hold it again: a new reservation, then its charge
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert "Order 1-0001 closed" in text(pilot, "#status")
    first, second = simulator.state.reservations.values()
    assert (first.amount, second.amount) == (3_50, 3_50)
    (charge,) = charges(till)  # exactly one charge
    assert (charge.voucher_id, charge.amount, charge.order_number) == (LITTLE, 3_50, "1-0001")
    assert second.charge_id == charge.id and first.charge_id is None
    assert simulator.voucher(LITTLE).remaining == 0
    db = till.journal.path
    assert rows(db, "SELECT status FROM orders ORDER BY id") == [("closed",), ("open",)]
    ops = rows(db, "SELECT operation, state FROM provider_ops ORDER BY id")
    assert ops[0] == ("authorize", "ok") and ops[-2:] == [("authorize", "ok"), ("capture", "ok")]
    assert set(ops[1:-2]) == {("capture", "failed")}  # each refused charge journaled; nothing charged
    assert rows(db, "SELECT kind, state, amount_minor FROM tenders ORDER BY id") == [
        ("voucher", "captured", 3_50), ("cash", "captured", 34_50)]


async def test_lapsed_hold_next_to_a_live_one_spent_elsewhere_meanwhile(jtl_till: Till) -> None:
    """The rest is paid with a second JTL voucher: the close charges that one and finds
    the first hold lapsed; holding it again is refused (its voucher was spent elsewhere
    meanwhile), so that payment is removed and the rest taken in cash. The live
    voucher is charged once, not again when the close is retried."""
    till = jtl_till
    clock = Clock()
    simulator = with_clock(till, clock)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await reserve_then_lapse(pilot, till, clock)
        # the customer's partner spends what was left online while the hold is gone
        status, held = simulator.reserve({"amount": "3.50", "currency": "CHF", "code": "JTL-GIFT-050-B"},
                                         TILL_CLIENT[0])
        assert status == 201
        assert simulator.charge(held["id"], {"order_number": "web-77"}, TILL_CLIENT[0])[0] == 201
        await pay_with_voucher(pilot, NORMAL)  # 34.50: the order is paid and the close is tried
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), 3)
        assert "Voucher …0002: hold 3.50 again and charge it?" in screen_text(pilot)
        assert [(c.voucher_id, c.amount) for c in charges(till)] == [(LITTLE, 3_50), (NORMAL, 34_50)]
        await pilot.press("enter")  # hold it again: refused, the voucher has nothing left
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        status_line = text(pilot, "#status")
        assert status_line.startswith("Not closed — voucher …0002 could not be held again (")
        assert status_line.endswith("its payment of 3.50 is removed, take it another way")
        assert [r[0] for r in table_rows(pilot, "#tenders")][0] == "Voucher …0001"
        assert "3.50" in text(pilot, "#balance")
        await pay_cash(pilot, "3.50")
        assert "Order 1-0001 closed" in text(pilot, "#status")
    # the till charged nothing on …0002 (the only charge there was made elsewhere), …0001 once
    assert [(c.voucher_id, c.amount, c.order_number) for c in charges(till)] == [
        (LITTLE, 3_50, "web-77"), (NORMAL, 34_50, "1-0001")]
    assert simulator.voucher(LITTLE).remaining == 0 and simulator.voucher(NORMAL).remaining == 65_50
    ops = rows(till.journal.path, "SELECT operation, code, state FROM provider_ops ORDER BY id")
    assert [op for op in ops if op[1] == NORMAL] == [("authorize", NORMAL, "ok"), ("capture", NORMAL, "ok")]
    assert [op for op in ops if op[1] == LITTLE] == [
        ("authorize", LITTLE, "ok"), ("capture", LITTLE, "failed"), ("authorize", LITTLE, "failed")]
    assert rows(till.journal.path, "SELECT code, state, amount_minor FROM tenders ORDER BY id") == [
        (LITTLE, "voided", 3_50), (NORMAL, "captured", 34_50), (None, "captured", 3_50)]
    shown = receipt(till)
    assert "…0002" not in shown and "Voucher …0001" in shown and "38.00" in shown


# -- E-GUMA and JTL on one order -----------------------------------------------------------
async def test_eguma_and_jtl_on_one_order_then_the_sale_is_voided(
        write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    both = """
    [providers.eguma]
    base_url = "sim://eguma"
    timeout_s = 2
    """ + SIM_JTL
    till = till_factory(load_config(write_config(both)))
    eguma = till.providers["eguma"].simulator
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, "2*" + MERLOT)  # 76.00
        await pay_with_voucher(pilot, "L4FU5LQTKJR3")  # E-GUMA redeems 50.00 at once
        assert eguma.voucher("L4FU5LQTKJR3").balance_in_cents == 0
        await pay_with_voucher(pilot, NORMAL)  # JTL holds the 26.00 left, the close charges it
        assert "Order 1-0001 closed" in text(pilot, "#status")
        shown = receipt(till)
        assert "Voucher …KJR3" in shown and "Voucher …0001" in shown and "new balance 74.00" in shown
        await pilot.press("f9")
        question = text(pilot, ".info")
        assert "Voucher …KJR3 gets 50.00 back." in question and "Voucher …0001 gets 26.00 back." in question
        await pilot.press("enter")
        await settle(pilot)
        assert "Sale 1-0001 voided" in text(pilot, "#status")
    assert eguma.voucher("L4FU5LQTKJR3").balance_in_cents == 50_00
    (charge,) = charges(till)
    (refund,) = charges(till, "refund")
    assert (charge.amount, charge.order_number) == (26_00, "1-0001")
    assert (refund.amount, refund.order_number, refund.refund_of) == (26_00, "1-0001", charge.id)
    assert simulator.voucher(NORMAL).remaining == 100_00
    assert rows(till.journal.path, "SELECT provider, operation, state FROM provider_ops ORDER BY id") == [
        ("eguma", "authorize", "ok"), ("jtl", "authorize", "ok"), ("jtl", "capture", "ok"),
        ("eguma", "void", "ok"), ("jtl", "refund", "ok")]


# -- the close's charge when JTL is down or its answer is lost ----------------------------------
async def test_charge_at_close_retried_after_an_outage_and_settled_after_a_lost_answer(jtl_till: Till) -> None:
    till = jtl_till
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        # JTL is down when the order closes: nothing charged, the order waits; Enter retries
        await scan(pilot, MERLOT)
        await pay_with_voucher(pilot, LITTLE)
        simulator.fail_next(1, status=503)
        await pay_cash(pilot, "34.50")
        assert text(pilot, "#status") == ("Paid, but not closed — charge of …0002 not sent — JTL is not available "
                                          "right now (HTTP 503). Enter retries")
        assert not simulator.state.charges
        await pilot.press("enter")
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
        # the next order: the charge is made but its answer is lost; the order number finds it
        await scan(pilot, "3*" + MERLOT)  # 114.00
        await pay_with_voucher(pilot, NORMAL)  # 100.00 held
        simulator.drop_next_posts(1)  # the next POST is the close's charge: applied, answer lost
        await pay_cash(pilot, "14")
        assert text(pilot, "#status") == "Order 1-0002 closed"  # settled: nothing for the cashier to do
    assert [(c.voucher_id, c.amount, c.order_number) for c in charges(till)] == [
        (LITTLE, 3_50, "1-0001"), (NORMAL, 100_00, "1-0002")]  # each once: nothing sent twice
    assert simulator.voucher(NORMAL).remaining == 0
    assert [r.amount for r in simulator.state.reservations.values()] == [3_50, 100_00]
    assert rows(till.journal.path, "SELECT operation, state FROM provider_ops ORDER BY id") == [
        ("authorize", "ok"), ("capture", "ok"), ("authorize", "ok"), ("capture", "done")]
    assert rows(till.journal.path, "SELECT status, number FROM orders ORDER BY id") == [
        ("closed", 1), ("closed", 2), ("open", None)]


# -- 6. selling a JTL voucher, then voiding the sale ---------------------------------------
async def test_sold_voucher_is_activated_at_close_and_deactivated_by_the_void(jtl_till: Till) -> None:
    till = jtl_till
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await scan(pilot, FOR_SALE)
        await settle(pilot)
        shown = text(pilot, "#result")
        assert "JTL gift voucher …0004  can be sold" in shown and "Amount CHF 50.00" in shown
        await pilot.press("enter")
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert table_rows(pilot, "#lines") == [["1", "Gift voucher …0004", "50.00", "50.00", "—"]]
        assert posts(till) == []  # nothing sent before the order closes
        await pay_cash(pilot, "50")
        assert "Order 1-0001 closed" in text(pilot, "#status")
        voucher = simulator.voucher(FOR_SALE)
        assert voucher.status == "active" and voucher.valid_until is not None
        assert time.gmtime(voucher.valid_until).tm_year == time.gmtime().tm_year + 3
        shown = receipt(till)
        assert FOR_SALE in shown  # the full id: the customer pays with it
        until = re.search(rf"valid until ({DATE})", shown)
        assert until is not None and str(time.gmtime(voucher.valid_until).tm_year) in until.group(1)
        await pilot.press("f9")  # the order is empty: void the last sale
        question = text(pilot, ".info")
        assert "Void sale 1-0001" in question and "Gift voucher …0004 50.00 is deactivated" in question
        assert "Give back cash CHF 50.00" in question
        await pilot.press("enter")
        await settle(pilot)
        assert "Sale 1-0001 voided — give back cash CHF 50.00" in text(pilot, "#status")
    voucher = simulator.voucher(FOR_SALE)
    assert voucher.status == "inactive" and voucher.valid_until is None
    assert posts(till) == [("PATCH", f"/v1/vouchers/{FOR_SALE}/status")] * 2
    assert not simulator.state.charges
    assert rows(till.journal.path, "SELECT operation, state FROM provider_ops ORDER BY id") == [
        ("create", "ok"), ("undo", "ok")]
    void = till.journal.last_receipt()
    assert void is not None and void.kind == "void" and "VOID OF SALE 1-0001" in void.text


async def test_voucher_activated_elsewhere_before_the_close_is_not_sold_again(jtl_till: Till) -> None:
    till = jtl_till
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await scan(pilot, FOR_SALE)
        await settle(pilot)
        assert "can be sold" in text(pilot, "#result")
        await pilot.press("enter")
        # meanwhile it is sold (activated) somewhere else, e.g. in the web shop
        assert simulator.set_status(FOR_SALE, {"status": "active", "comment": "web order 4711"})[0] == 200
        await pay_cash(pilot, "50")
        status = text(pilot, "#status")
        assert "Paid, but not closed" in status and "…0004" in status
        assert "JTL shows it activated already" in status
    assert rows(till.journal.path, "SELECT status FROM orders ORDER BY id") == [("open",)]
    assert [op.operation for op in till.journal.ops(code=FOR_SALE)] == []  # nothing journaled, nothing sent


async def test_order_charged_at_close_then_cancelled_refunds_the_charge(jtl_till: Till) -> None:
    """The close charges the voucher, then the gift voucher's activation fails (JTL
    no longer has it): the order stays open, paid; cancelling it refunds the charge."""
    till = jtl_till
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await scan(pilot, FOR_SALE)
        await settle(pilot)
        await pilot.press("enter")
        await scan(pilot, MERLOT)
        await pay_with_voucher(pilot, NORMAL)  # 38.00 held: the gift voucher is paid in cash
        assert simulator.delete_voucher(FOR_SALE)[0] == 204  # removed in JTL's Admin UI meanwhile
        await pay_cash(pilot, "50")
        assert text(pilot, "#status") == (
            "Paid, but not closed — gift voucher …0004: activation failed — JTL does not know this voucher\n"
            "JTL says: «The requested Voucher was not found.». Enter retries; or select the line, F8 removes it")
        assert [(c.amount, c.order_number) for c in charges(till)] == [(38_00, "1-0001")]  # charged already
        assert table_rows(pilot, "#tenders")[:2] == [["Voucher …0001", "-38.00"], ["new balance", "62.00"]]
        await pilot.press("f9")
        question = text(pilot, ".info")
        assert "Voucher …0001: 38.00 goes back on the voucher." in question
        assert "Give back the cash payment: 50.00." in question
        await pilot.press("enter")
        await settle(pilot)
        assert text(pilot, "#status") == "Order cancelled — return the payments taken: Cash 50.00"
    (charge,) = charges(till)
    (refund,) = charges(till, "refund")
    assert (refund.amount, refund.order_number, refund.refund_of) == (38_00, "1-0001", charge.id)
    assert simulator.voucher(NORMAL).remaining == 100_00
    assert rows(till.journal.path, "SELECT status FROM orders ORDER BY id") == [("cancelled",), ("open",)]
    assert rows(till.journal.path, "SELECT operation, state FROM provider_ops ORDER BY id") == [
        ("authorize", "ok"), ("capture", "ok"), ("refund", "ok")]


# -- 7. voiding a sale paid with a JTL voucher: the charge is refunded ---------------------
async def test_void_of_a_sale_paid_by_voucher_refunds_the_charge(jtl_till: Till) -> None:
    till = jtl_till
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pay_with_voucher(pilot, NORMAL)
        assert "Order 1-0001 closed" in text(pilot, "#status")
        assert simulator.voucher(NORMAL).remaining == 62_00
        await pilot.press("f9")
        question = text(pilot, ".info")
        assert "Void sale 1-0001" in question and "Voucher …0001 gets 38.00 back." in question
        await pilot.press("enter")
        await settle(pilot)
        assert "Sale 1-0001 voided" in text(pilot, "#status")
    (charge,) = charges(till)
    (refund,) = charges(till, "refund")
    assert (refund.voucher_id, refund.amount, refund.order_number, refund.refund_of) == (
        NORMAL, 38_00, "1-0001", charge.id)
    assert charge.refunded == 38_00 and simulator.voucher(NORMAL).remaining == 100_00
    assert rows(till.journal.path, "SELECT operation, state FROM provider_ops ORDER BY id") == [
        ("authorize", "ok"), ("capture", "ok"), ("refund", "ok")]
    void = till.journal.last_receipt()
    assert void is not None and void.kind == "void" and "…0001" in void.text and "38.00" in void.text


# -- 8. F11: topping up a voucher ---------------------------------------------------------
async def test_top_up_is_recharged_at_close_with_the_order_number(jtl_till: Till) -> None:
    till = jtl_till
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f11")
        await scan(pilot, NORMAL)
        await settle(pilot)
        shown = text(pilot, "#result")
        assert "JTL voucher …0001  can be topped up" in shown
        await pilot.press(*"20", "enter")
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert table_rows(pilot, "#lines") == [["1", "Top-up …0001", "20.00", "20.00", "—"]]
        assert "credited when the order is paid" in text(pilot, "#status")
        assert posts(till) == []
        await pay_cash(pilot)  # the proposed 20.00
        assert "Order 1-0001 closed" in text(pilot, "#status")
    (recharge,) = charges(till, "recharge")
    assert (recharge.voucher_id, recharge.amount, recharge.order_number) == (NORMAL, 20_00, "1-0001")
    assert simulator.voucher(NORMAL).remaining == 120_00
    assert posts(till) == [("POST", "/v1/vouchers/recharge")]
    shown = receipt(till)
    assert re.search(r"Top-up voucher …0001 +20\.00", shown), shown
    assert NORMAL not in shown


# -- 9. a voucher in another currency ---------------------------------------------------------
async def test_voucher_in_another_currency_is_refused_before_any_money_call(jtl_till: Till) -> None:
    till = jtl_till
    simulator = sim(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, EURO)
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        assert text(pilot, "#error") == "This voucher is in EUR; this till takes CHF"
        assert "Pay CHF" not in text(pilot, "#result")
        await pilot.press("enter")  # checks again, never reserves
        await settle(pilot)
        await pilot.press("escape")
        assert table_rows(pilot, "#tenders") == []
    assert not simulator.state.reservations and posts(till) == []
    assert [(r.method, r.path) for r in simulator.state.requests if r.path != "/oauth/token"] == [
        ("GET", f"/v1/vouchers/{EURO}")] * 2  # the balance read, twice (Enter checked again)
    assert rows(till.journal.path, "SELECT COUNT(*) FROM provider_ops") == [(0,)]


# -- 10. a code two providers' patterns fit ----------------------------------------------------
async def test_code_both_providers_could_own_asks_which_provider(
        write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    both = """
    [providers.eguma]
    base_url = "sim://eguma"
    timeout_s = 2
    code_pattern = "[A-Z0-9]{12}|[0-9]{2}|[0-9A-F]{20}"
    """ + SIM_JTL
    till = till_factory(load_config(write_config(both)))
    eguma = till.providers["eguma"].simulator
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, NORMAL)
        # the check waits for the cashier's choice: settle() (all workers done) would wait forever
        await until(pilot, lambda: isinstance(pilot.app.screen, ChooseDialog))
        asked = screen_text(pilot)
        assert "Which provider?" in asked and "could be a E-GUMA or JTL voucher" in asked
        assert "1  E-GUMA" in asked and "2  JTL" in asked
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        shown = text(pilot, "#result")
        assert "JTL voucher …0001  redeemable" in shown and "Pay CHF 38.00" in shown
        await pilot.press("enter")
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
    assert not eguma.state.requests  # E-GUMA was never asked
    (charge,) = charges(till)
    assert (charge.voucher_id, charge.amount, charge.order_number) == (NORMAL, 38_00, "1-0001")


# -- 11. the till's client group lacks a scope ---------------------------------------------------
async def test_missing_scope_names_the_scope_and_the_admin_ui(jtl_till: Till) -> None:
    till = jtl_till
    simulator = sim(till)
    simulator.set_scopes(TILL_CLIENT[0], ["read", "read-lists", "read-secrets", "recharge"])  # no "use"
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pay_with_voucher(pilot, NORMAL)
        assert isinstance(pilot.app.screen, VoucherDialog)
        assert text(pilot, "#error") == (
            "Not paid — JTL refused this call: the client group of this till lacks the scope «use». Add the "
            "scope «use» to this till's client group in the JTL Admin UI, then try again")
        await pilot.press("escape")
        assert table_rows(pilot, "#tenders") == []
    assert not simulator.state.reservations
    assert [(r.path, r.status) for r in simulator.state.requests if r.method == "POST"] == [
        ("/oauth/token", 400),  # the till asks for every scope it needs: invalid_scope
        ("/oauth/token", 200),  # then takes what the group has
        ("/v1/reservations", 403)]
    db = till.journal.path
    assert rows(db, "SELECT operation, state FROM provider_ops") == [("authorize", "failed")]
    assert rows(db, "SELECT state FROM tenders") == [("voided",)]


# -- 12. a restart with a reserved payment on the open order ----------------------------------
async def test_reserved_payment_survives_a_restart_and_is_charged_at_close(
        write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    # a demo keeps its simulator's ledger next to its journal (config/demo.toml's scanner
    # timing is left out: Pilot's keys are no scanner, on a busy machine they come slowly)
    config = load_config(write_config(SIM_JTL, top="demo = true", name="demo.toml"))
    first = till_factory(config)
    async with PosApp(first).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pay_with_voucher(pilot, LITTLE)
        assert "3.50 reserved" in text(pilot, "#status")
    await close_providers(first.providers)
    first.journal.close()  # the till goes down with the hold open

    again = till_factory(config)
    simulator = sim(again)
    assert again.recovered and locked(again, LITTLE) and not simulator.state.charges
    async with PosApp(again).run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Open order recovered from the journal" in text(pilot, "#status")
        assert table_rows(pilot, "#tenders") == [
            ["Voucher …0002", "-3.50"], ["reserved", ""], ["new balance", "0.00"]]
        assert "34.50" in text(pilot, "#balance")
        await pay_cash(pilot, "34.50")
        assert "Order 1-0001 closed" in text(pilot, "#status")
    (reservation,) = simulator.state.reservations.values()
    (charge,) = charges(again)
    assert (charge.voucher_id, charge.amount, charge.order_number) == (LITTLE, 3_50, "1-0001")
    assert reservation.charge_id == charge.id and simulator.voucher(LITTLE).remaining == 0
    assert rows(again.journal.path, "SELECT operation, state FROM provider_ops ORDER BY id") == [
        ("authorize", "ok"), ("capture", "ok")]
    await close_providers(again.providers)
