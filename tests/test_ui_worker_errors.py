"""Every failure in background work goes through one path: it is logged, the
cashier is told, the dialog is freed (never left on "please wait"), and a
provider operation in flight is settled with the provider (issue 11)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from pos_app import cli
from pos_app.journal import OpState
from pos_app.providers.eguma import simulator as eguma_sim
from pos_app.providers.eguma.client import EgumaClient
from pos_app.services.checkout import Till
from pos_app.services.providers import slot_for
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.vouchers import VoucherDialog
from tests.conftest import MERLOT, sim_of
from tests.uihelpers import scan, settle, table_rows, text, wait_until

SIZE = (110, 32)
PAID = "L4FU5LQTKJR3"


async def test_the_journal_failing_during_a_redeem_frees_the_dialog_and_the_payment_is_settled(
    eguma_till: Till, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    till = eguma_till
    sim = sim_of(till)
    journal: Any = till.journal
    real_finish = journal.finish_op
    failing = {"on": False}

    def finish_op(*args: Any, **kwargs: Any) -> None:
        if failing["on"]:
            failing["on"] = False
            raise sqlite3.OperationalError("database or disk is full")
        real_finish(*args, **kwargs)

    monkeypatch.setattr(journal, "finish_op", finish_op)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, PAID)
        await settle(pilot)
        failing["on"] = True  # the disk fills up while E-GUMA takes the money
        await pilot.press("enter")
        await settle(pilot)
        dialog = pilot.app.screen
        assert isinstance(dialog, VoucherDialog) and dialog.busy is None  # not "Redeeming… Please wait…"
        assert "Unexpected error (OperationalError)" in text(pilot, "#error")
        await pilot.press("escape")  # it can be left
        assert isinstance(pilot.app.screen, CheckoutScreen)
        # the redemption went out and was applied: reconciliation settles it (the journal works again)
        await wait_until(pilot, lambda: "did happen" in text(pilot, "#status"), 20)
        assert table_rows(pilot, "#tenders")[0] == ["Voucher …KJR3", "-38.00"]
    assert sim.voucher(PAID).balance_in_cents == 12_00 and len(sim.state.redemptions) == 1
    assert [(op.operation, op.state) for op in till.journal.ops()] == [("authorize", OpState.DONE)]
    assert any("worker" in r.message and "OperationalError" in r.message for r in caplog.records)


class _Brackets(httpx.AsyncBaseTransport):
    """The redeem is applied, and answered with 100,000 '[' (json.loads: RecursionError)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST":
            await response.aread()
            return httpx.Response(200, content=b"[" * 100_000, headers={"content-type": "application/json"})
        return response


async def test_a_redeem_answer_of_brackets_is_settled_not_a_crash(eguma_till: Till) -> None:
    till = eguma_till
    app, sim = eguma_sim.build_app()
    http = httpx.AsyncClient(transport=_Brackets(eguma_sim.in_process_transport(app)))
    till.providers["eguma"] = slot_for(till.config, "eguma",
                                       EgumaClient(http, "demo-outlet-key", "http://eguma.sim", "CHF", 0.5),
                                       simulator=sim, http=http)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, PAID)
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        status = text(pilot, "#status")
        assert "The redemption of CHF 38.00 on …KJR3 did happen" in status and "Order 1-0001 closed" in status
    assert len(sim.state.redemptions) == 1


async def test_a_balance_the_journal_cannot_hold_is_an_error_in_the_dialog(eguma_till: Till) -> None:
    sim_of(eguma_till).voucher(PAID).balance_in_cents = 10**20
    async with PosApp(eguma_till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, PAID)
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        assert "unreadable answer (request balance: balance_in_cents is out of range)" in text(pilot, "#error")
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, CheckoutScreen)


def test_a_crash_of_the_app_is_not_exit_code_0(write_config: Any, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    def boom(self: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(CheckoutScreen, "on_mount", boom)
    real_run = PosApp.run
    monkeypatch.setattr(PosApp, "run", lambda self: real_run(self, headless=True))
    assert cli.main(["--config", str(write_config())]) == 1
