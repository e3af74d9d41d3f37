"""After a crash the restarted app settles unfinished provider calls and tells the cashier.

E-GUMA only (its wording is checked); the crash harness itself runs for every
provider in test_crash.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pos_app.services.providers import close_providers
from pos_app.ui.app import PosApp
from pos_app.ui.status import StatusScreen
from tests.crashkit import SimServer, make_till, past_the_settle_window, run_child
from tests.uihelpers import scan, settle, table_rows, text

SIZE = (110, 32)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    server = SimServer()
    yield server
    server.stop()


async def test_restart_resolves_and_says_how(sim: SimServer, write_config: Callable[..., Path]) -> None:
    sim.reset()
    config = write_config()
    assert run_child(config, sim.url, "redeem", "authorize:after_response") == -9
    till = make_till(config, sim.url)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = text(pilot, "#status")
        assert "The redemption of CHF 50.00 on …KJR3 did happen — kept on the open order" in status
        assert table_rows(pilot, "#tenders")[0] == ["Voucher …KJR3", "-50.00"]
        assert "26.00" in text(pilot, "#balance")
    await close_providers(till.providers)
    assert len(sim.state()["redemptions"]) == 1


async def test_unresolved_at_restart_shows_on_status_screen_then_retry(
    sim: SimServer, write_config: Callable[..., Path]
) -> None:
    sim.reset()
    config = write_config()
    assert run_child(config, sim.url, "redeem", "authorize:before_send") == -9
    sim.faults(fail_next={"count": 1, "status": 503})  # E-GUMA is down when the till restarts
    till = make_till(config, sim.url)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "is not decided yet — E-GUMA cannot be asked" in text(pilot, "#status")
        assert "F12" in text(pilot, "#status")
        # the till that sent it is gone: the outcome is unknown, not "sending…"
        assert table_rows(pilot, "#tenders")[0][0] == "? Voucher …KJR3 not decided"
        await pilot.press("f2")  # no further payment while it is open
        assert "not resolved yet" in text(pilot, "#status")
        await pilot.press("f12")
        assert isinstance(pilot.app.screen, StatusScreen)
        report = text(pilot, "#report")
        assert "? The redemption of CHF 50.00 on …KJR3" in report and "cannot be used" in report
        past_the_settle_window(till)  # E-GUMA answers again, and the window has passed
        await pilot.press("r")
        await settle(pilot)
        assert "did not happen" in text(pilot, "#report")
        assert "Unresolved provider operations\n  none" in text(pilot, "#report")
        await pilot.press("escape")
        assert table_rows(pilot, "#tenders") == []
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        assert "Pay CHF 50.00" in text(pilot, "#result")
        await pilot.press("escape")
    await close_providers(till.providers)
    assert sim.state()["redemptions"] == []
