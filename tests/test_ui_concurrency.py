"""While a provider call is in flight, nothing else may touch the money it is
about: the cashier's keys wait, and reconciliation does not decide an
operation that this till is still sending."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import keyring
import pytest

from pos_app import secrets
from pos_app.config import load_config
from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.dialogs import AmountDialog
from tests.conftest import MERLOT, SIM_EGUMA, sim_of
from tests.keyring_backend import HangingKeyring
from tests.uihelpers import rows, scan, settle, text

SIZE = (100, 30)
SLOW = 1.5  # seconds per answer: ample time to press keys meanwhile, even on a busy machine


@pytest.fixture
def slow_till(write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> Till:
    """The in-process simulator with a timeout well above ``SLOW``."""
    return till_factory(load_config(write_config(SIM_EGUMA.format(timeout=10))))


async def wait_until(condition: Callable[[], bool], pilot_pause: Callable[[], object]) -> None:
    for _ in range(500):
        if condition():
            return
        await pilot_pause()  # type: ignore[misc]
    raise AssertionError("condition not reached")


async def test_keys_wait_while_the_order_is_being_cancelled(slow_till: Till) -> None:
    till = slow_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "2QH3QTDM28N6")  # 2.00
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        sim.set_latency(SLOW)  # the cancel takes its time (Balance, then cancel)
        await pilot.press("f9", "enter")
        await wait_until(lambda: till.calls_in_flight > 0, pilot.pause)
        await pilot.press("f2")  # a second voucher while the order is being cancelled
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert "Wait — the provider is still answering" in text(pilot, "#status")
        await pilot.press("f3")
        assert isinstance(pilot.app.screen, CheckoutScreen)
        pilot.app.screen.accept_scan(MERLOT)  # a product would land in the order being cancelled
        assert "Not added" in text(pilot, "#status")
        await settle(pilot)
        assert "Order cancelled" in text(pilot, "#status")
    sim.set_latency(0)
    db = till.journal.path
    assert rows(db, "SELECT status FROM orders ORDER BY id LIMIT 1") == [("cancelled",)]
    assert rows(db, "SELECT COUNT(*) FROM lines") == [(1,)]
    assert rows(db, "SELECT kind, state FROM tenders") == [("voucher", "voided")]
    assert sim.voucher("2QH3QTDM28N6").balance_in_cents == 200


async def test_reconciliation_and_key_reload_wait_for_a_call_in_flight(slow_till: Till) -> None:
    till = slow_till
    sim = sim_of(till)
    till.scan(MERLOT)
    check = await till.vouchers.check("L4FU5LQTKJR3")
    sim.set_latency(SLOW)
    paying = asyncio.create_task(till.vouchers.pay(check))
    for _ in range(100):
        if till.journal.ops(open_only=True):
            break
        await asyncio.sleep(0.01)
    (op,) = till.journal.ops(open_only=True)  # "sent": the answer is on its way
    assert op.state == "sent"
    # reconciliation would read the old balance and decide "did not happen";
    # reloading keys would close the connection the answer comes on: both wait
    recovering = asyncio.create_task(till.recovery.run())
    reloading = asyncio.create_task(till.reload_providers())
    await asyncio.sleep(0.3)
    assert not recovering.done() and not reloading.done()
    await paying
    assert await recovering == []  # the payment settled its own operation meanwhile
    assert "Keys reloaded" in await reloading
    sim.set_latency(0)
    assert [o.state for o in till.journal.ops()] == ["ok"]
    assert [r.amount_in_cents for r in sim.state.redemptions.values()] == [3800]
    assert till.order.is_empty and till.last_closed is not None  # paid and closed


async def test_closing_with_a_slow_activation_keeps_the_screen_alive(slow_till: Till) -> None:
    till = slow_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await scan(pilot, "EADS-HD24-AKS5")
        await settle(pilot)
        await pilot.press("enter")
        sim.set_latency(SLOW)
        await pilot.press("f3", "enter")  # closing activates the gift voucher
        await wait_until(lambda: till.calls_in_flight > 0, pilot.pause)
        assert isinstance(pilot.app.screen, AmountDialog)
        assert "Please wait" in text(pilot, "#keys")
        await pilot.press("escape")  # refused, with a reason: money is moving
        assert isinstance(pilot.app.screen, AmountDialog)
        assert "being taken" in text(pilot, "#error")
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert "Order 1-0001 closed" in text(pilot, "#status")
    sim.set_latency(0)
    assert [a.code for a in sim.state.activations] == ["EADSHD24AKS5"]


async def test_reloading_keys_does_not_freeze_the_screen(
    write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    till = till_factory(load_config(write_config('[providers.eguma]\nbase_url = "http://127.0.0.1:9"\n')))
    previous = keyring.get_keyring()
    hanging = HangingKeyring()
    keyring.set_keyring(hanging)
    try:
        async with PosApp(till).run_test(size=SIZE) as pilot:
            await pilot.press("f12")
            calls = hanging.calls
            pressed = time.monotonic()
            await pilot.press("k")
            await pilot.pause()
            # Had the keyring been asked on the event loop, this line would only run
            # once the keyring call gave up (secrets.TIMEOUT_S), not while it hangs.
            assert time.monotonic() - pressed < secrets.TIMEOUT_S
            assert hanging.calls > calls and not hanging.release.is_set()
            assert "Reloading keys…" in text(pilot, "#report")
            hanging.release.set()
            await settle(pilot)
            assert "Keys reloaded" in text(pilot, "#report")
    finally:
        hanging.release.set()
        keyring.set_keyring(previous)
    assert hanging.calls >= 1




async def test_status_screen_keeps_the_result_when_the_keyring_answers_late(
    eguma_till: Till, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = secrets.backend_name

    def slow() -> str:
        time.sleep(0.5)  # a Secret Service that takes its time
        return real()

    monkeypatch.setattr(secrets, "backend_name", slow)
    async with PosApp(eguma_till).run_test(size=SIZE) as pilot:
        await pilot.press("f12", "r")
        await settle(pilot)
        for _ in range(100):
            if "checking…" not in text(pilot, "#report"):
                break
            await pilot.pause(0.05)
        report = text(pilot, "#report")
        assert "checking…" not in report  # the keyring answered and redrew the report
        assert "Nothing to settle." in report  # ... without wiping what r found
