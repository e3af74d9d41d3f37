"""Keys inside a keyboard-wedge scanner's burst are part of the scan, never actions.

A barcode can hold bytes a terminal turns into keys: ``ESC [20~`` is F9 (cancel
the order), Enter answers the question, 0x11 is Ctrl+Q (quit). Pure rules with
synthetic time stamps first, then the real app with keys stamped as a
terminal stamps them (see ``test_ui_scanning.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual import events
from textual._time import get_time
from textual.pilot import Pilot

from drivers.scanner import RejectedScan, Scan, Typed, WedgeDecoder
from pos_app.config import load_config
from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.dialogs import ConfirmDialog
from tests.conftest import CROISSANT, ESPRESSO
from tests.uihelpers import rows, settle, table_rows, text

SIZE = (100, 30)
GAP_MS = 150  # as in test_ui_scanning: Pilot needs a few ms per key


# -- the rule, without a UI ------------------------------------------------------
def test_the_guard_lets_a_person_s_keys_act_and_refuses_keys_inside_a_burst() -> None:
    from drivers.scanner import BurstGuard, InBurst

    guard = BurstGuard(0.05)
    assert guard.key(10.0, None) is InBurst.NO  # F9 pressed by a person
    assert guard.key(10.01, None) is InBurst.NO  # auto-repeat of a key that is no character
    assert guard.key(11.0, "1") is InBurst.NO  # the first key of a burst cannot be told apart
    assert guard.key(11.002, "2") is InBurst.CHARACTER
    assert guard.key(11.004, None) is InBurst.CONTROL  # F9 inside the burst: the scan is refused
    assert guard.key(11.006, "\r") is InBurst.REFUSED  # ... and the rest of the burst with it
    assert guard.key(11.008, "3") is InBurst.REFUSED
    assert guard.key(11.010, None) is InBurst.REFUSED
    assert guard.key(11.5, None) is InBurst.NO  # a person's key after the burst acts again
    assert guard.key(12.0, "7") is InBurst.NO
    assert guard.key(12.2, None) is InBurst.NO  # slower than a scanner: a person


def test_timing_off_means_no_burst() -> None:
    from drivers.scanner import BurstGuard, InBurst

    guard = BurstGuard(None)
    assert [guard.key(10 + i * 0.001, c) for i, c in enumerate(["1", "2", None])] == [InBurst.NO] * 3


def test_the_decoder_refuses_a_burst_holding_a_control_key_and_drops_what_it_held() -> None:
    d = WedgeDecoder()
    assert d.feed("1", 10.0) == [] and d.feed("2", 10.002) == []
    assert d.refuse("F9") == [RejectedScan("12<F9>", "it holds the control key F9", "keyboard")]
    assert d.pending == "" and d.deadline is None
    assert d.refuse("Ctrl+Q") == []  # nothing held (the scan before it went through)


def test_the_decoder_refuses_a_scan_with_a_control_character_before_the_suffix() -> None:
    d = WedgeDecoder(suffix="\t")
    out: list[Scan | Typed | RejectedScan] = []
    for i, char in enumerate("7610\r000000028\t"):
        out += d.feed(char, 10 + i * 0.002)
    assert out == [RejectedScan("7610\r000000028\t", "it holds the control character Enter", "keyboard")]


# -- the real app ----------------------------------------------------------------
@pytest.fixture
def timed_config(write_config: Callable[..., Path]) -> Callable[..., Path]:
    def make(extra: str = "") -> Path:
        path = write_config()
        path.write_text(path.read_text().replace("max_gap_ms = 0", f"max_gap_ms = {GAP_MS}{extra}"))
        return path
    return make


def _key(name: str) -> events.Key:
    """A key as the terminal driver makes it from the bytes a scanner sends."""
    special = {"enter": "\r", "ctrl+j": "\n", "tab": "\t", "ctrl+q": "\x11", "escape": "\x1b",
               "ctrl+right_square_bracket": "\x1d", "f9": None, "f3": None, "up": None}
    if name in special:
        return events.Key(name, special[name])
    return events.Key(name, name)


async def burst(pilot: Pilot, *keys: str) -> None:
    """Keys 2 ms apart, as a scanner sends them."""
    start = get_time()
    for index, name in enumerate(keys):
        event = _key(name)
        event.time = start + index * 0.002
        pilot.app.post_message(event)
    await pilot.pause(GAP_MS / 1000 + 0.1)
    await settle(pilot)


async def test_f9_and_enter_inside_a_burst_do_not_cancel_the_order(
        timed_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    config = load_config(timed_config())
    till = till_factory(config)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await burst(pilot, *ESPRESSO, "enter")
        assert len(table_rows(pilot, "#lines")) == 1
        await burst(pilot, "1", "2", "f9", "enter", "3", "4", "enter")  # ESC [20~ and CR in a barcode
        assert isinstance(pilot.app.screen, CheckoutScreen)  # no "cancel the order?" question
        assert table_rows(pilot, "#lines")[0][:2] == ["1", "Espresso beans 500 g"]
        assert "Unreadable scan ignored (it holds the control key F9)" in text(pilot, "#status")
        assert pilot.app.screen.query_one("#scan").value == ""  # nothing of the burst was typed
        await burst(pilot, *CROISSANT, "enter")  # the next scan works as ever
        assert len(table_rows(pilot, "#lines")) == 2
    assert rows(config.journal_path(), "SELECT status FROM orders") == [("open",)]


async def test_ctrl_q_inside_a_burst_does_not_quit(
        timed_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    async with PosApp(till_factory(load_config(timed_config()))).run_test(size=SIZE) as pilot:
        await burst(pilot, *"761000", "ctrl+q", *"0000028", "enter")
        assert pilot.app.return_code is None and pilot.app.is_running
        assert table_rows(pilot, "#lines") == []
        assert "Unreadable scan ignored (it holds the control key Ctrl+Q)" in text(pilot, "#status")
        await burst(pilot, *CROISSANT, "enter", "ctrl+q")  # right after a scan: still the burst
        assert pilot.app.return_code is None
        assert len(table_rows(pilot, "#lines")) == 1  # the scan itself was taken
        assert "Key Ctrl+Q ignored: it came inside a scan" in text(pilot, "#status")
        await pilot.pause(GAP_MS / 1000)
        await pilot.press("ctrl+q")  # a person's Ctrl+Q quits
        await pilot.pause()
        assert pilot.app.return_code == 0


async def test_enter_before_the_configured_suffix_refuses_the_scan(
        timed_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    till = till_factory(load_config(timed_config('\nsuffix = "\\t"')))
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await burst(pilot, *"7610", "enter", *"000000028", "tab")
        assert table_rows(pilot, "#lines") == []
        assert "Unreadable scan ignored (it holds the control key Enter)" in text(pilot, "#status")
        await burst(pilot, *CROISSANT, "tab")
        assert table_rows(pilot, "#lines")[0][:2] == ["1", "Croissant"]


async def test_a_scan_into_the_cancel_question_does_not_answer_it(
        timed_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    async with PosApp(till_factory(load_config(timed_config()))).run_test(size=SIZE) as pilot:
        await burst(pilot, *ESPRESSO, "enter")
        await pilot.press("f9")  # the cashier asks to cancel ...
        await settle(pilot)
        assert isinstance(pilot.app.screen, ConfirmDialog)
        await pilot.pause(GAP_MS / 1000)
        await burst(pilot, *CROISSANT, "enter")  # ... and a scan arrives: its Enter is not "yes"
        assert isinstance(pilot.app.screen, ConfirmDialog)
        assert any("Scan ignored — finish or close this dialog first" in n.message
                   for n in pilot.app._notifications)
        await pilot.press("escape")
        await settle(pilot)
        assert table_rows(pilot, "#lines")[0][:2] == ["1", "Espresso beans 500 g"]


async def test_arrow_keys_held_down_still_act(
        timed_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    """Auto-repeat is as fast as a scanner, but holds no characters: not a burst."""
    async with PosApp(till_factory(load_config(timed_config()))).run_test(size=SIZE) as pilot:
        await burst(pilot, *ESPRESSO, "enter")
        await pilot.pause(GAP_MS / 1000)
        await burst(pilot, *CROISSANT, "enter")
        await pilot.pause(GAP_MS / 1000)
        await burst(pilot, "up", "up")
        assert pilot.app.screen.selected is not None  # type: ignore[attr-defined]
        assert "Unreadable" not in text(pilot, "#status")
