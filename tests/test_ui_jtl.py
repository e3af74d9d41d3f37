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
from pos_app.ui.dialogs import ChooseDialog, ConfirmDialog
from pos_app.ui.vouchers import VoucherDialog
from tests.conftest import CROISSANT, ESPRESSO, MERLOT
from tests.uihelpers import rows, scan, screen_text, settle, table_rows, text

SIZE = (110, 32)

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
    return [(r.method, r.path) for r in sim(till).state.requests if r.method in ("POST", "PATCH")]


def receipt(till: Till) -> str:
    last = till.journal.last_receipt()
    assert last is not None
    return last.text


DATE = r"\d{1,2}[./]\d{1,2}[./]\d{2,4}|\d{4}-\d{2}-\d{2}"


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
            ["Voucher …0002", "-3.50"], ["reserved, charged at close", ""], ["new balance", "0.00"]]
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
        assert table_rows(pilot, "#tenders")[:2] == [["Voucher …0001", "-40.50"], ["reserved, charged at close", ""]]
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
    assert rows(till.journal.path, "SELECT operation, state FROM provider_ops ORDER BY id") == [
        ("authorize", "ok"), ("void", "ok")]
    assert rows(till.journal.path, "SELECT state FROM tenders") == [("voided",)]
