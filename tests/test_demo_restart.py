"""The demo's simulator remembers its vouchers across restarts (issue 13): a
voucher payment restored from the journal can still be cancelled."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pos_app.config import DEMO_CONFIG, load_config
from pos_app.services.checkout import Till
from pos_app.services.providers import close_providers
from tests.conftest import MERLOT, sim_of

PAID = "L4FU5LQTKJR3"  # 50.00 of 100.00


async def test_a_payment_restored_after_a_restart_of_the_demo_can_be_cancelled(
    till_factory: Callable[..., Till], data_dir: Path,
) -> None:
    config = load_config(DEMO_CONFIG)
    first = till_factory(config)
    first.scan("2*" + MERLOT)
    await first.vouchers.pay(await first.vouchers.check(PAID))  # 50.00 of 76.00: the order stays open
    assert sim_of(first).voucher(PAID).balance_in_cents == 0
    await close_providers(first.providers)
    first.journal.close()
    state = data_dir / "demo" / "simulator-eguma.json"
    assert state.stat().st_mode & 0o777 == 0o600
    assert json.loads(state.read_text(encoding="utf-8"))["redemptions"][0]["amount_in_cents"] == 50_00

    again = till_factory(config)  # the till restarts: order and simulator come back
    assert again.recovered and sim_of(again).voucher(PAID).balance_in_cents == 0
    (tender,) = again.order.active_tenders
    out = await again.void_tender(tender.id)  # F8: the redemption is cancelled by its token
    assert "cancelled — balance back to 50.00" in out.notice.text
    assert sim_of(again).voucher(PAID).balance_in_cents == 50_00
    await close_providers(again.providers)


async def test_an_unreadable_state_file_is_set_aside(till_factory: Callable[..., Till], data_dir: Path) -> None:
    state = data_dir / "demo" / "simulator-eguma.json"
    state.parent.mkdir(parents=True)
    state.write_text("{not json", encoding="utf-8")
    till = till_factory(load_config(DEMO_CONFIG))
    assert sim_of(till).voucher(PAID).balance_in_cents == 50_00  # the seed data
    assert (state.parent / "simulator-eguma.json.unreadable").read_text(encoding="utf-8") == "{not json"
    await close_providers(till.providers)


async def test_tests_with_a_simulator_outside_the_demo_keep_nothing(eguma_till: Till, data_dir: Path) -> None:
    eguma_till.scan(MERLOT)
    await eguma_till.vouchers.pay(await eguma_till.vouchers.check(PAID))
    assert not list(data_dir.rglob("simulator-*.json"))
