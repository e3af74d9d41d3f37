"""What the till keeps and redraws while it sells: objects left behind by dialogs and
sales, and how often the checkout is laid out again (the real app, with Pilot)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from rich.text import Text
from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Static
from textual.widgets._footer import FooterKey

from pos_app.services.checkout import Notice, Till
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.footer import TillFooter
from tests.conftest import CROISSANT, ESPRESSO
from tests.uihelpers import scan, settle, table_rows

SIZE = (100, 30)


def alive(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))


@pytest.fixture
def layouts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the layouts of the checkout screen (one list item per layout)."""
    done: list[int] = []
    original = Screen._refresh_layout

    def counted(self: Screen[Any], *args: Any, **kwargs: Any) -> None:
        if isinstance(self, CheckoutScreen):
            done.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Screen, "_refresh_layout", counted)
    yield done


async def cash_sale(pilot: Any) -> None:
    await scan(pilot, CROISSANT)
    await scan(pilot, ESPRESSO)
    await pilot.press("f3", "enter")  # cash: the amount due, closes the order
    await settle(pilot)


async def dialogs(pilot: Any, times: int) -> None:
    for _ in range(times):
        await pilot.press("f3")  # cash dialog ...
        await pilot.press("escape")  # ... closed
        await pilot.press("f12")  # status screen ...
        await pilot.press("escape")
    await settle(pilot)


async def test_dialogs_leave_no_footer_keys_behind(till: Till) -> None:
    """Textual's Footer rebuilt its keys at every dialog and kept every discarded one
    (Textual issue #6666); the till's footer shows the same 10 keys all day."""
    earlier = alive(FooterKey)  # of apps of other tests, not yet collected
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await dialogs(pilot, 15)
        footer = pilot.app.checkout.query_one(TillFooter)
        assert len(footer.query(FooterKey)) == 10
        assert alive(FooterKey) - earlier <= 10


async def test_footer_rebuilt_drops_the_keys_it_discarded(till: Till) -> None:
    earlier = alive(FooterKey)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        footer = pilot.app.checkout.query_one(TillFooter)
        for _ in range(20):  # as when keys are enabled or disabled, or remapped
            footer.refresh(recompose=True)
            await pilot.pause()
        await settle(pilot)
        assert [key.key for key in footer.query(FooterKey)][:3] == ["f2", "f3", "f4"]
        assert alive(FooterKey) - earlier <= 10
        assert len(getattr(footer, "__watchers")["compact"]) == 10  # one link per key shown


async def test_textual_footer_still_keeps_discarded_keys() -> None:
    """Pins Textual issue #6666 (open, Textual 8.2): when this fails, Textual drops the
    links itself and ``TillFooter.drop_dead_links`` has nothing left to do."""

    class Bare(App[None]):
        BINDINGS = [("f2", "bell", "Voucher"), ("f3", "bell", "Cash")]

        def compose(self) -> ComposeResult:
            yield Footer(compact=True)

    earlier = alive(FooterKey)
    async with Bare().run_test() as pilot:
        footer = pilot.app.query_one(Footer)
        for _ in range(10):
            footer.refresh(recompose=True)
            await pilot.pause()
        assert alive(FooterKey) - earlier > 2 * 5


async def test_dialogs_and_sales_leave_nothing_behind(till: Till) -> None:
    """Each dialog's widgets and their rendered lines go when it closes: Textual's memo
    of ``StylesCache.get_inner_outer`` kept up to 1024 of them (Textual issue #6665)."""
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await cash_sale(pilot)
        await dialogs(pilot, 2)
        before = {kind: alive(kind) for kind in (Widget, StylesCache, Strip)}
        for _ in range(5):
            await cash_sale(pilot)
        await dialogs(pilot, 10)
        after = {kind: alive(kind) for kind in (Widget, StylesCache, Strip)}
    assert after[Widget] <= before[Widget]
    assert after[StylesCache] <= before[StylesCache] + 2
    assert after[Strip] <= before[Strip] + 40  # what is on screen, not what was


async def test_a_cash_sale_lays_out_the_checkout_a_few_times(till: Till, layouts: list[int]) -> None:
    """Two scans and a cash payment: the checkout is laid out when its tables grow or
    shrink, not at every key and every update (it was 34 times)."""
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await cash_sale(pilot)
        layouts.clear()
        for _ in range(3):
            await cash_sale(pilot)
        await pilot.pause()
        assert len(layouts) / 3 <= 8


async def test_typing_into_the_scan_field_lays_out_nothing(till: Till, layouts: list[int]) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await pilot.pause()
        layouts.clear()
        await pilot.press(*CROISSANT)
        await pilot.pause()
        assert len(layouts) == 0
        assert pilot.app.checkout.query_one("#scan").value == CROISSANT


async def test_refresh_order_updates_in_place(till: Till, layouts: list[int]) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await scan(pilot, "2*" + ESPRESSO)
        await settle(pilot)
        checkout = pilot.app.checkout
        table = checkout.query_one("#lines", DataTable)
        rows = list(table.rows.values())
        layouts.clear()
        checkout.refresh_order()  # nothing changed: nothing is redrawn
        await pilot.pause()
        assert len(layouts) == 0 and list(table.rows.values()) == rows
        assert all(a is b for a, b in zip(table.rows.values(), rows, strict=True))
        assert table_rows(pilot, "#lines") == [["1", "Croissant", "2.50", "2.50", "2.6%"],
                                               ["2", "Espresso beans 500 g", "14.90", "29.80", "2.6%"]]
        await pilot.press("up", "f8")  # void the croissant: the rows after it are rebuilt
        await settle(pilot)
        assert table_rows(pilot, "#lines") == [["2", "Espresso beans 500 g", "14.90", "29.80", "2.6%"]]


async def test_a_status_line_that_needs_more_room_gets_it(till: Till) -> None:
    async with PosApp(till).run_test(size=SIZE) as pilot:
        checkout = pilot.app.checkout
        status = checkout.query_one("#status", Static)
        checkout.say(Notice("short"))
        await pilot.pause()
        assert status.size.height == 1
        checkout.say(Notice("a long message " * 15))  # folds to 3 lines: laid out again
        await pilot.pause()
        assert status.size.height == 3 and isinstance(status.content, Text)
        checkout.say(Notice("short again"))
        await pilot.pause()
        assert status.size.height == 1
