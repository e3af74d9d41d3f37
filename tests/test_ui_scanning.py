"""Keyboard-wedge scanning in the real app, with timing on: a scan reaches the
flow that expects it and never lands in an amount field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual import events
from textual._time import get_time
from textual.pilot import Pilot

from pos_app.config import load_config
from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from pos_app.ui.dialogs import AmountDialog
from pos_app.ui.vouchers import VoucherDialog
from tests.conftest import SIM_EGUMA, sim_of
from tests.uihelpers import settle, table_rows, text

SIZE = (100, 30)
GAP_MS = 150  # generous: Pilot needs a few ms per key; a person types slower than this


@pytest.fixture
def wedge_till(write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> Till:
    path = write_config(SIM_EGUMA.format(timeout=0.5))
    path.write_text(path.read_text().replace("max_gap_ms = 0", f'max_gap_ms = {GAP_MS}\nprefix = "#"'))
    return till_factory(load_config(path))


def _key(name: str) -> events.Key:
    if name == "enter":
        return events.Key("enter", "\r")
    if name == "ctrl+j":
        return events.Key("ctrl+j", "\n")
    return events.Key(name, name)


async def timed(pilot: Pilot, keys: list[str], gap_s: float) -> None:
    """Deliver keys whose time stamps are ``gap_s`` apart, as the terminal would
    stamp them (Pilot's own pacing is too uneven to stand for a scanner)."""
    start = get_time()
    for index, name in enumerate(keys):
        event = _key(name)
        event.time = start + index * gap_s
        pilot.app.post_message(event)
    await pilot.pause(GAP_MS / 1000 + 0.1)  # held keys are released after the gap
    await settle(pilot)


async def burst(pilot: Pilot, *keys: str) -> None:
    """Keys as fast as a scanner sends them (2 ms apart)."""
    await timed(pilot, list(keys), 0.002)


async def slowly(pilot: Pilot, text_: str) -> None:
    """Keys as a person types them (0.3 s apart)."""
    await timed(pilot, list(text_), 0.3)


async def test_scan_with_cr_lf_and_prefix_adds_one_product(wedge_till: Till) -> None:
    async with PosApp(wedge_till).run_test(size=SIZE) as pilot:
        await burst(pilot, *"#7610000000028", "enter", "ctrl+j")  # prefix, code, CR+LF
        await settle(pilot)
        assert table_rows(pilot, "#lines") == [["1", "Croissant", "2.50", "2.50", "2.6%"]]
        assert "Added Croissant" in text(pilot, "#status")


async def test_azerty_scanner_is_mapped_back_with_a_hint_once(wedge_till: Till) -> None:
    azerty = "è-&àààààààà&&"  # 7610000000011 typed by a scanner set to AZERTY
    async with PosApp(wedge_till).run_test(size=SIZE) as pilot:
        await burst(pilot, *azerty, "enter")
        await settle(pilot)
        await burst(pilot, *azerty, "enter")
        await settle(pilot)
        assert table_rows(pilot, "#lines")[0][:2] == ["1", "Espresso beans 500 g"]
        assert len(table_rows(pilot, "#lines")) == 2
        hints = [n for n in pilot.app._notifications if "AZERTY" in n.message]
        assert len(hints) == 1


async def test_scan_into_the_cash_dialog_is_refused(wedge_till: Till) -> None:
    async with PosApp(wedge_till).run_test(size=SIZE) as pilot:
        await burst(pilot, *"7610000000035", "enter")  # Merlot 38.00
        await settle(pilot)
        await pilot.press("f3")
        assert isinstance(pilot.app.screen, AmountDialog)
        await burst(pilot, *"7610000000028", "enter")  # the cashier scans the next item
        await settle(pilot)
        assert isinstance(pilot.app.screen, AmountDialog)  # nothing was paid
        assert "That was a scan (7610000000028), not an amount" in text(pilot, "#error")
        assert pilot.app.screen.query_one("#amount").value == "38.00"
        await pilot.press("escape")
        assert table_rows(pilot, "#tenders") == []


async def test_a_person_typing_an_amount_is_not_a_scan(wedge_till: Till) -> None:
    async with PosApp(wedge_till).run_test(size=SIZE) as pilot:
        await burst(pilot, *"7610000000035", "enter")
        await settle(pilot)
        await pilot.press("f4")
        await slowly(pilot, "20.50")
        assert pilot.app.screen.query_one("#amount").value == "20.50"
        await pilot.press("enter")
        await settle(pilot)
        assert table_rows(pilot, "#tenders") == [["Card", "-20.50"]]


async def test_voucher_scan_with_cr_lf_checks_once_and_does_not_redeem(wedge_till: Till) -> None:
    till = wedge_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await burst(pilot, *"7610000000035", "enter")
        await settle(pilot)
        await pilot.press("f2")
        await burst(pilot, *"l4fu-5lqt-kjr3", "enter", "ctrl+j")
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        assert "Pay CHF 38.00" in text(pilot, "#result")  # checked, waiting for the cashier's Enter
        assert not sim_of(till).state.redemptions
        await pilot.press("enter")
        await settle(pilot)
    assert len(sim_of(till).state.redemptions) == 1


async def test_typed_quantity_then_scan(wedge_till: Till) -> None:
    """The cashier types 3* and scans the item: the quantity stays in front of the code."""
    async with PosApp(wedge_till).run_test(size=SIZE) as pilot:
        await slowly(pilot, "3*")
        assert pilot.app.screen.query_one("#scan").value == "3*"
        await burst(pilot, *"7610000000028", "enter")
        assert table_rows(pilot, "#lines") == [["3", "Croissant", "2.50", "7.50", "2.6%"]]
