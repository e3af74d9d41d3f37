"""Found in review: lost answers around gift voucher reversals, reconciliation
running next to the cashier, and two key presses arriving together."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot

from pos_app.config import load_config
from pos_app.journal import OpState
from pos_app.providers import UnavailableError
from pos_app.services.checkout import CheckoutError, Till
from pos_app.ui.app import PosApp
from pos_app.ui.dialogs import AmountDialog
from tests.conftest import CROISSANT, MERLOT, SIM_EGUMA, sim_of
from tests.uihelpers import rows, scan, settle, text

FIXED = "EADSHD24AKS5"
FREE = "FREEAMNT0001"


async def half_activated(till: Till) -> None:
    """An open order, paid, whose AKS5 is activated and whose 0001 was refused."""
    sim = sim_of(till)
    for code, typed in ((FIXED, None), (FREE, "20")):
        till.gifts.add(await till.gifts.check(code), typed)
    sim.activate(FREE, {"amount_in_cents": 900}, "elsewhere")
    out = await till.pay_cash(till.parse_amount("70"))
    assert "Paid, but not closed" in out.notice.text


async def cancel_with_a_lost_deactivation_answer(till: Till, monkeypatch: pytest.MonkeyPatch) -> None:
    """F9 on a half-activated order: AKS5's deactivation is applied, its answer lost,
    and the look-up that follows fails; the cancel stops there."""
    await half_activated(till)
    flaky_deactivation_status(till, monkeypatch)
    sim_of(till).drop_next_posts(1)
    with pytest.raises(CheckoutError, match="Order not cancelled"):
        await till.cancel_order()


def flaky_deactivation_status(till: Till, monkeypatch: pytest.MonkeyPatch) -> None:
    """The look-up right after the lost answer fails (provider down for a moment).

    Deactivate status is asked three times: the check before anything is undone,
    the state read just before the send, and the read that settles the lost answer."""
    client: Any = till.providers["eguma"].client
    real = client.check_undo
    calls = {"n": 0}

    async def flaky(code: str, *kind: Any, **refs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise UnavailableError("E-GUMA did not answer", "eguma")
        return await real(code, *kind, **refs)

    monkeypatch.setattr(client, "check_undo", flaky)


async def test_f9_again_after_a_lost_deactivation_answer_finishes_the_cancel(
    eguma_till: Till, monkeypatch: pytest.MonkeyPatch
) -> None:
    till = eguma_till
    sim = sim_of(till)
    await cancel_with_a_lost_deactivation_answer(till, monkeypatch)
    assert [d.code for d in sim.state.deactivations] == [FIXED]
    assert [o.state for o in till.journal.ops() if o.operation == "undo"] == [OpState.UNKNOWN]
    # closing now would sell what may be a dead voucher: refused until settled
    assert "not confirmed yet: press F9" in (await till.finish()).notice.text
    out = await till.cancel_order()  # F9 again: the lost answer is settled first (it happened)
    assert out.notice.text.startswith("Order cancelled")
    assert [d.code for d in sim.state.deactivations] == [FIXED]  # not sent twice
    assert [o.state for o in till.journal.ops() if o.operation == "undo"] == [OpState.DONE]


async def test_f8_after_a_lost_deactivation_answer_never_sells_the_dead_voucher(
    eguma_till: Till, monkeypatch: pytest.MonkeyPatch
) -> None:
    till = eguma_till
    sim = sim_of(till)
    await cancel_with_a_lost_deactivation_answer(till, monkeypatch)
    free = next(line for line in till.order.active_lines if line.code == FREE)
    out = await till.void_line(free.id)  # F8 on the line the order was waiting for
    closed = till.journal.last_closed_order_id()
    sold = [line.code for line in till.journal.load_order(closed).active_lines] if closed else []
    assert FIXED not in sold and FIXED not in [line.code for line in till.order.active_lines], out.notice.text
    assert [d.code for d in sim.state.deactivations] == [FIXED]


def activation_lookup_down(till: Till, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Activate status answers the state read before the activation, then E-GUMA is down."""
    client: Any = till.providers["eguma"].client
    real = client.check_value
    calls = {"n": 0}

    async def down(code: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return await real(code)
        raise UnavailableError("E-GUMA did not answer", "eguma")

    monkeypatch.setattr(client, "check_value", down)
    return lambda: monkeypatch.setattr(client, "check_value", real)


async def test_cancel_with_an_activation_not_confirmed_deactivates_it(
    eguma_till: Till, monkeypatch: pytest.MonkeyPatch
) -> None:
    till = eguma_till
    sim = sim_of(till)
    till.gifts.add(await till.gifts.check(FIXED))
    back = activation_lookup_down(till, monkeypatch)
    sim.drop_next_posts(1)  # activation applied, answer lost; the look-up fails too
    assert "Paid, but not closed" in (await till.pay_cash(till.parse_amount("50"))).notice.text
    back()
    out = await till.cancel_order()  # the customer changes their mind
    assert "gift voucher …AKS5 deactivated" in out.notice.text
    assert sim.voucher(FIXED).balance_in_cents == 0
    assert await till.recovery.run() == []


async def test_f8_on_a_gift_voucher_whose_activation_happened_is_refused(
    eguma_till: Till, monkeypatch: pytest.MonkeyPatch
) -> None:
    till = eguma_till
    sim = sim_of(till)
    till.scan(CROISSANT)
    till.gifts.add(await till.gifts.check(FIXED))
    back = activation_lookup_down(till, monkeypatch)
    sim.drop_next_posts(1)
    await till.pay_cash(till.parse_amount("52.50"))
    back()
    line = next(line for line in till.order.active_lines if line.code == FIXED)
    with pytest.raises(CheckoutError, match="already activated: F9 cancels the order and deactivates it"):
        await till.void_line(line.id)  # it did happen: it cannot just be removed for 50.00 change
    out = await till.cancel_order()
    assert "gift voucher …AKS5 deactivated" in out.notice.text
    assert sim.voucher(FIXED).balance_in_cents == 0


async def test_the_cashier_sells_while_reconciliation_waits_for_the_provider(
    write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    till = till_factory(load_config(write_config(SIM_EGUMA.format(timeout=2))))
    sim = sim_of(till)
    # left over from yesterday: a void's deactivation whose answer was lost
    till.journal.begin_op(provider="eguma", operation="undo", code=FIXED, currency="CHF", order_id=None)
    sim.set_latency(5)  # E-GUMA hangs: every look-up times out
    async with PosApp(till).run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        await scan(pilot, CROISSANT)  # a cash customer with a croissant
        assert [line.name for line in till.order.active_lines] == ["Croissant"]
        await pilot.press("f3")
        assert isinstance(pilot.app.screen, AmountDialog)
        await pilot.press("enter")
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status") or "still unresolved" in text(pilot, "#status")
        assert till.journal.last_closed_order_id() is not None
    sim.set_latency(0)


def burst(pilot: Pilot[Any], *keys: str) -> None:
    """Keys that arrive together (key repeat, a bouncing key, one terminal read)."""
    driver: Any = pilot.app._driver
    for key in keys:
        event = events.Key(key, None)
        event.set_sender(pilot.app)
        driver.send_message(event)


async def test_f8_twice_sends_one_cancellation(
    write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    till = till_factory(load_config(write_config(SIM_EGUMA.format(timeout=10))))
    sim = sim_of(till)
    async with PosApp(till).run_test(size=(100, 30)) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "2QH3QTDM28N6")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert till.order.paid_by_vouchers.minor == 200
        sim.set_latency(0.5)
        burst(pilot, "f8", "f8")
        await pilot.pause(0.3)
        await settle(pilot)
        assert "cancelled" in text(pilot, "#status")
    sim.set_latency(0)
    ops = rows(till.journal.path, "SELECT operation, state FROM provider_ops ORDER BY id")
    assert ops == [("authorize", "ok"), ("void", "ok")]
    assert [r.cancelled_in_cents for r in sim.state.redemptions.values()] == [200]


async def test_enter_twice_on_a_paid_order_activates_once(
    write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    till = till_factory(load_config(write_config(SIM_EGUMA.format(timeout=10))))
    sim = sim_of(till)
    async with PosApp(till).run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await scan(pilot, "EADS-HD24-AKS5")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        sim.fail_next(1, status=500)
        await pilot.press("f4", "enter")
        await settle(pilot)
        assert "Paid, but not closed" in text(pilot, "#status")
        sim.set_latency(0.5)
        burst(pilot, "enter", "enter")
        await pilot.pause(0.3)
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
    sim.set_latency(0)
    ops = rows(till.journal.path, "SELECT operation, state FROM provider_ops ORDER BY id")
    # the 500 came on the state read before the first activation: only the retry was sent
    assert ops == [("create", "ok")]
    assert [a.code for a in sim.state.activations] == [FIXED]
