"""What the cashier sees while a provider operation is undecided, and that the
till stays live and looks again by itself (the real app, Pilot)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pos_app.config import load_config
from pos_app.providers.eguma import simulator as eguma_sim
from pos_app.providers.eguma.client import EgumaClient
from pos_app.services.checkout import Till
from pos_app.services.providers import slot_for
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.status import StatusScreen
from pos_app.ui.vouchers import BalanceScreen, VoucherDialog
from tests.conftest import CROISSANT, MERLOT, SIM_EGUMA, sim_of
from tests.uihelpers import rows, scan, settle, table_rows, text, wait_until

SIZE = (110, 32)


async def test_undecided_payment_is_shown_and_decided_in_the_background(
    write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    # timeout 0.5 s, settle window 4 s: E-GUMA applies the redemption 3 s after it arrived
    till = till_factory(load_config(write_config(SIM_EGUMA.format(timeout=0.5) + "settle_s = 4.0\n")))
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        sim.set_apply_delay(3.0)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        status = text(pilot, "#status")
        assert "E-GUMA did not answer. The redemption of CHF 38.00 on …KJR3 is not decided yet — waiting " \
               "for E-GUMA, which may still carry it out (decided by " in status
        assert "do not take this payment again" in status
        assert table_rows(pilot, "#tenders")[:1] == [["? Voucher …KJR3 not decided", "(38.00)"]]
        assert text(pilot, "#tender-notes").startswith("…KJR3 · checked again by itself · F8 now\n! …KJR3 · ")
        await pilot.press("f12")  # what is waited for, and until when
        assert isinstance(pilot.app.screen, StatusScreen)
        report = text(pilot, "#report")
        assert "? The redemption of CHF 38.00 on …KJR3 (the open order, sent " in report
        assert 'not decided "did not happen" before ' in report and "cannot be used" in report
        await pilot.press("escape")
        await pilot.press("f3")  # no other payment while it is undecided
        assert "not resolved yet" in text(pilot, "#status")
        # the screen stays live: a product is added, a balance checked
        await scan(pilot, CROISSANT)
        assert [row[1] for row in table_rows(pilot, "#lines")] == ["Merlot 75 cl", "Croissant"]
        await pilot.press("f6")
        assert isinstance(pilot.app.screen, BalanceScreen)
        await scan(pilot, "2QH3QTDM28N6")
        await settle(pilot)
        assert "Balance CHF 2.00 of 50.00" in text(pilot, "#result")
        await pilot.press("escape")
        # nobody presses anything: the till looks again by itself and decides
        await wait_until(pilot, lambda: "did happen" in text(pilot, "#status"), 20)
        assert "The redemption of CHF 38.00 on …KJR3 did happen — kept on the open order" in text(pilot, "#status")
        assert table_rows(pilot, "#tenders")[:2] == [["Voucher …KJR3", "-38.00"], ["new balance", "12.00"]]
        assert "2.50" in text(pilot, "#balance")
        await pilot.press("f4", "enter")  # the croissant by card
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
    assert len(sim.state.redemptions) == 1 and sim.voucher("L4FU5LQTKJR3").balance_in_cents == 12_00
    assert rows(till.journal.path, "SELECT operation, state FROM provider_ops") == [("authorize", "done")]


async def test_a_changed_balance_is_shown_in_the_dialog_before_anything_is_sent(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        assert "Pay CHF 38.00" in text(pilot, "#result")
        sim.redeem("L4FU5LQTKJR3", {"amount_in_cents": 3000}, "elsewhere")  # 20.00 left
        real = till.session.monotonic
        till.session.monotonic = lambda: real() + 60  # the dialog was left open for a minute
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        shown = text(pilot, "#result")
        assert "Balance CHF 20.00 of 100.00" in shown and "Pay CHF 20.00" in shown
        assert "The balance changed since it was shown: now 20.00 — Enter pays 20.00" in shown
        assert [r.method for r in sim.state.requests] == ["GET", "GET"]  # nothing sent
        await pilot.press("enter")
        await settle(pilot)
        assert "paid 20.00" in text(pilot, "#status")
    assert sim.voucher("L4FU5LQTKJR3").balance_in_cents == 0


class _Contradict(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("redeem.json"):
            await response.aread()
            data: dict[str, Any] = json.loads(response.content)
            data["balance_in_cents"] += 500  # not what was asked
            return httpx.Response(200, json=data)
        return response


async def test_a_contradicting_answer_is_listed_on_the_status_screen(eguma_till: Till) -> None:
    till = eguma_till
    app, sim = eguma_sim.build_app()
    http = httpx.AsyncClient(transport=_Contradict(eguma_sim.in_process_transport(app)))
    till.providers["eguma"] = slot_for(till.config, "eguma",
                                       EgumaClient(http, "demo-outlet-key", "http://eguma.sim", "CHF", 0.5),
                                       simulator=sim, http=http)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert "did happen" in text(pilot, "#status") and "Order 1-0001 closed" in text(pilot, "#status")
        await pilot.press("f12")
        report = text(pilot, "#report")
        assert "Contradictions (check with the provider)" in report
        assert "! The redemption of CHF 38.00 on …KJR3 (order 1-0001, our reference test-outlet-1-000001): " \
               "contradicting answer: E-GUMA answered a new balance of 17.00, but 50.00 − 38.00 is 12.00" in report


async def test_a_payment_decided_in_the_background_leaves_the_order_to_close_with_enter(
    eguma_till: Till,
) -> None:
    till = eguma_till  # timeout 0.5 s, settle window 1.5 s
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        sim.set_apply_delay(1.0)
        await pilot.press("enter")
        await settle(pilot)
        await wait_until(pilot, lambda: "did happen" in text(pilot, "#status"), 20)
        assert "the order is paid: Enter closes it" in text(pilot, "#status")
        await pilot.press("f3")  # nothing left to pay: no cash dialog for 0.00
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert text(pilot, "#status") == "The order is paid — press Enter to close it"
        await pilot.press("enter")  # on the empty scan field
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
    assert sim.voucher("L4FU5LQTKJR3").balance_in_cents == 12_00
