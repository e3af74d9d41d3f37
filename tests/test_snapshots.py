"""Snapshots of the till's screens: the checkout with an order, each dialog and the
F12 screen, at 80×24 and 120×40, in English and German.

An SVG per screen, size and language in ``tests/__snapshots__/test_snapshots/``
(pytest-textual-snapshot). A change to the screens shows up as a failed
comparison with a report of both pictures; when the change is meant (new
German texts in the catalog, a new layout), write the snapshots again and look
at them before committing:

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_snapshots.py --snapshot-update

The clock in the title is frozen at 12:34; the journal lives in a folder of a
fixed name (F12 shows its path), emptied before each snapshot. The amount dialog
is shown for cash (card uses the same dialog with its own words).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input
from textual.pilot import Pilot

from pos_app.config import load_config
from pos_app.services.setup import open_till
from pos_app.ui import checkout
from pos_app.ui.app import PosApp
from tests.conftest import CROISSANT, ESPRESSO, MERLOT, SIM_EGUMA
from tests.uihelpers import scan, settle

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
LANGUAGES = ["en", "de"]


async def order(pilot: Pilot) -> None:
    """A voucher payment of 50.00 and 1.00 in cash (the lines are scanned before)."""
    await pilot.press("f2")
    await scan(pilot, "L4FU-5LQT-KJR3")  # 50.00 on it
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("f3")
    await settle(pilot)
    await pilot.press("backspace", "1", "enter")  # the proposed amount is selected: 1 replaces it
    await settle(pilot)


async def checkout_screen(pilot: Pilot) -> None:
    await order(pilot)
    await pilot.press("up")  # a line selected: its highlight is in the picture


async def voucher(pilot: Pilot) -> None:
    await pilot.press("f2")
    await scan(pilot, "L4FU-5LQT-KJR3")
    await settle(pilot)


async def cash(pilot: Pilot) -> None:
    await pilot.press("f3")


async def sell_gift_voucher(pilot: Pilot) -> None:
    await pilot.press("f5")
    await scan(pilot, "EADS-HD24-AKS5")  # a depot voucher of 50.00
    await settle(pilot)


async def balance(pilot: Pilot) -> None:
    await pilot.press("f6")
    await scan(pilot, "USED-UP00-0001")  # used up: the provider's own words are shown
    await settle(pilot)


async def cancel_question(pilot: Pilot) -> None:
    await order(pilot)
    await pilot.press("f9")


async def status(pilot: Pilot) -> None:
    await pilot.press("f12")


# The order's lines, scanned before the app starts (as quick as a scan, fewer key presses).
ORDER = [ESPRESSO, "2*" + MERLOT, CROISSANT]
LINES = {"checkout": ORDER, "cancel": ORDER, "voucher": [ESPRESSO], "cash": [ESPRESSO, CROISSANT],
         "sell": [ESPRESSO], "balance": [], "status": [ESPRESSO]}

SCREENS: dict[str, Callable[[Pilot], Awaitable[None]]] = {
    "checkout": checkout_screen, "voucher": voucher, "cash": cash, "sell": sell_gift_voucher,
    "balance": balance, "cancel": cancel_question, "status": status,
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(screen: str, size: str, language: str, snap_compare: Any, write_config: Callable[..., Path],
                monkeypatch: pytest.MonkeyPatch, memory_keyring: Any) -> None:
    data = Path(tempfile.gettempdir()) / "pos-snapshots" / f"{screen}-{size}-{language}"
    shutil.rmtree(data, ignore_errors=True)
    monkeypatch.setenv("POS_DATA_DIR", str(data))
    monkeypatch.setattr(checkout, "now", lambda: datetime(2026, 5, 4, 12, 34))
    monkeypatch.setattr(Input, "cursor_blink", False)  # a blinking cursor is drawn on or off by chance
    config = load_config(write_config(SIM_EGUMA.format(timeout=5)))
    if language != "en":
        config = config.model_copy(update={"outlet": config.outlet.model_copy(update={"language": language})})
    till = open_till(config)  # speaks the outlet's language from here on
    for code in LINES[screen]:
        till.scan(code)
    steps = SCREENS[screen]

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await steps(pilot)
        await settle(pilot)  # workers (the keyring on F12) have answered
        # under load (the suite runs in several processes) a refresh scheduled by the last
        # step may still be pending: let animations and those refreshes finish first
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.2)
        await settle(pilot)

    try:
        assert snap_compare(PosApp(till), terminal_size=SIZES[size], run_before=run_before)
    finally:
        till.journal.close()
