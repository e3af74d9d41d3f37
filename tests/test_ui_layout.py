"""The checkout and its dialogs at 80×24 (the smallest terminal a till has) and at
120×40: everything readable, nothing cut, the room used. Read from what the
terminal shows (the screen's rendered text)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.style import Style
from textual.widgets import DataTable, Input

from pos_app.config import load_config
from pos_app.i18n import _
from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import column_widths, pane_widths
from tests.conftest import CHOCOLATE, CROISSANT, ESPRESSO, MERLOT, SIM_EGUMA
from tests.uihelpers import scan, screen_text, settle, table_rows, text

SMALL, LARGE = (80, 24), (120, 40)
KEYS = ["F2 Voucher", "F3 Cash", "F4 Card", "F5 Sell", "F6 Balance", "F7 Reprint", "F8 Void", "F9 Cancel",
        "F10 Reports", "F12 Status"]


def line_with(screen: str, needle: str) -> str:
    found = [line for line in screen.splitlines() if needle in line]
    assert found, f"{needle!r} is not on the screen:\n{screen}"
    return found[0]


def test_widths_for_the_screen() -> None:
    assert pane_widths(80) == (28, 49)
    assert pane_widths(120) == (36, 81)
    headers = ["Qty", "Item", "Price", "Total", "VAT"]
    assert column_widths(49, headers) == [4, 20, 9, 10, 6]  # "Espresso beans 500 g" whole
    assert column_widths(81, headers) == [4, 52, 9, 10, 6]
    # a longer translated header widens its column, the name gives the room
    assert column_widths(49, ["Menge", "Artikel", "Preis", "Betrag", "MWST"]) == [6, 18, 9, 10, 6]


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_checkout_is_whole_on_the_screen(till: Till, size: tuple[int, int]) -> None:
    async with PosApp(till).run_test(size=size) as pilot:
        await scan(pilot, ESPRESSO)
        await scan(pilot, "2*" + MERLOT)
        await scan(pilot, "12*" + CROISSANT)  # 30.00: a total of five characters
        await settle(pilot)
        screen = screen_text(pilot)
        espresso = line_with(screen, "Espresso beans 500 g")  # the name whole
        assert re.search(r"Espresso beans 500 g\s+14\.90\s+14\.90\s+2\.6%", espresso)
        croissant = line_with(screen, "Croissant")
        assert re.search(r"12 Croissant\s+2\.50\s+30\.00\s+2\.6%", croissant)
        # headers end where their numbers end (right-aligned over their column)
        header = line_with(screen, "Price")
        for title, number in (("Price", "14.90"), ("VAT", "2.6%")):
            assert header.index(title) + len(title) == espresso.index(number) + len(number), title
        assert header.index("Total") + 5 == espresso.rindex("14.90") + 5
        # the To-pay amounts on their labels' lines
        assert re.search(r"Total\s+120\.90 │", line_with(screen, "│ Total"))
        assert re.search(r"VAT 8\.1%\s+5\.69 │", line_with(screen, "VAT 8.1%"))
        assert re.search(r"Remaining\s+120\.90 │", line_with(screen, "Remaining"))
        # every F-key, F12 included
        footer = "\n".join(screen.splitlines()[-2:])
        for key in KEYS:
            assert re.search(r"\b" + key.replace(" ", r"\s") + r"\b", footer), (key, footer)
        assert all(len(line) <= size[0] for line in screen.splitlines())


async def test_the_larger_screen_shows_more(till: Till) -> None:
    for code in [ESPRESSO, CROISSANT, MERLOT, CHOCOLATE] * 9:  # 36 lines (scanned before, to be quick)
        till.scan(code)
    shown = {}
    for size in (SMALL, LARGE):
        async with PosApp(till).run_test(size=size) as pilot:
            await pilot.press("up")  # the last line selected: scrolled into view
            await settle(pilot)
            table = pilot.app.screen.query_one("#lines", DataTable)
            shown[size] = (table.columns[table.ordered_columns[1].key].width,
                           sum(1 for line in screen_text(pilot).splitlines() if re.search(r"\d\.\d%", line)))
    assert shown[SMALL][0] == 20 and shown[LARGE][0] == 52  # the name column
    assert 12 <= shown[SMALL][1] < 36
    assert shown[LARGE][1] >= shown[SMALL][1] + 14  # 16 more rows of screen


async def test_the_selected_line_is_highlighted(till: Till) -> None:
    async with PosApp(till).run_test(size=SMALL) as pilot:
        await scan(pilot, ESPRESSO)
        await scan(pilot, CROISSANT)
        await pilot.press("up")  # Espresso selected
        await settle(pilot)
        strips = pilot.app.screen._compositor.render_strips()
        styles = {}
        for strip in strips:
            for name in ("Espresso", "Croissant"):
                if name in strip.text:
                    segment = next(s for s in strip if name in s.text)
                    styles[name] = segment.style or Style()
        selected, other = styles["Espresso"], styles["Croissant"]
        assert selected.bgcolor != other.bgcolor
        assert selected.bold and not other.bold


async def test_an_emptied_cash_field_pays_the_amount_due(till: Till) -> None:
    async with PosApp(till).run_test(size=SMALL) as pilot:
        await scan(pilot, ESPRESSO)
        await scan(pilot, CROISSANT)  # 17.40
        await pilot.press("f3")
        pilot.app.screen.query_one("#amount", Input).value = ""
        await pilot.press("enter")
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
        assert till.last_closed is not None and not till.last_closed.change  # 17.40 exactly


async def test_amounts_typed_in_the_outlet_locale(write_config: Callable[..., Path],
                                                  till_factory: Callable[..., Till]) -> None:
    """de + EUR: de_DE, where the decimal comma is what a cashier types."""
    config = load_config(write_config(currency="EUR"))
    config = config.model_copy(update={"outlet": config.outlet.model_copy(update={"language": "de"})})
    till = till_factory(config)
    async with PosApp(till).run_test(size=SMALL) as pilot:
        await scan(pilot, ESPRESSO)
        await scan(pilot, CROISSANT)  # 17,40
        assert re.search(re.escape(_("Total")) + r"\s+17,40", text(pilot, "#totals"))  # German once translated
        await pilot.press("f4")
        assert pilot.app.screen.query_one("#amount", Input).value == "17,40"  # proposed as typed here
        await pilot.press(*"2,50", "enter")
        await settle(pilot)
        assert table_rows(pilot, "#tenders") == [[_("Card"), "-2,50"]]
        assert re.search(re.escape(_("Remaining")) + r"\s+14,90", text(pilot, "#balance"))


async def test_a_capped_voucher_says_why(write_config: Callable[..., Path],
                                          till_factory: Callable[..., Till]) -> None:
    till = till_factory(load_config(write_config(SIM_EGUMA.format(timeout=5))))
    async with PosApp(till).run_test(size=SMALL) as pilot:
        await scan(pilot, CROISSANT)  # 2.50
        await pilot.press("f5")
        await scan(pilot, "EADS-HD24-AKS5")  # a gift voucher of 50.00 on the order
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("f2")
        await scan(pilot, "L4FU-5LQT-KJR3")  # 50.00 on it, 52.50 to pay: it pays 2.50
        await settle(pilot)
        shown = text(pilot, "#result")
        assert "Pay CHF 2.50" in shown
        assert till.vouchers is not None
        reason = shown.split("\n")[-3]  # the line before "Pay …"
        assert "gift voucher" in reason.lower() and "50.00" in reason, shown
        screen = screen_text(pilot)
        assert "Enter redeem · Escape back" in screen  # the dialog whole at 80×24


DIALOGS: list[tuple[str, list[str], str]] = [
    ("voucher", ["f2"], "Enter check · Escape back"),
    ("cash", ["f3"], "Enter confirm · Escape back"),
    ("card", ["f4"], "Enter confirm · Escape back"),
    ("sell", ["f5"], "Enter check · Escape back"),
    ("balance", ["f6"], "Enter check · Escape back"),
    ("cancel", ["f9"], "Enter cancel the order · Escape keep it"),
    ("status", ["f12"], "r retry unresolved · k reload keys · d open drawer (no sale) · Escape back"),
]


@pytest.mark.parametrize(("name", "keys", "hint"), DIALOGS, ids=[d[0] for d in DIALOGS])
async def test_each_dialog_is_whole_at_80x24(till: Till, name: str, keys: list[str], hint: str) -> None:
    async with PosApp(till).run_test(size=SMALL) as pilot:
        await scan(pilot, ESPRESSO)
        await pilot.press(*keys)
        await settle(pilot)
        screen = screen_text(pilot)
        lines = screen.splitlines()
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        keys = pilot.app.screen.query_one(".keys")
        region = keys.content_region
        assert keys in pilot.app.screen._compositor.visible_widgets
        assert region.bottom <= 24 and region.right <= 80 and region.height >= 1
        shown = " ".join(line[region.x:region.right].strip() for line in lines[region.y:region.bottom])
        assert shown.strip() == hint, screen


async def test_provider_words_are_labelled(eguma_till: Till) -> None:
    async with PosApp(eguma_till).run_test(size=SMALL) as pilot:
        await pilot.press("f6")
        await scan(pilot, "USED-UP00-0001")
        await settle(pilot)
        result = text(pilot, "#result").splitlines()
        assert result[-1] == "E-GUMA says: «Der Gutschein wurde bereits vollständig eingelöst.»"
        assert "NOT redeemable" in result[0]  # the till's own words, in its language


async def test_the_vat_column_stays_whole_beside_the_demos_last_receipt(
        write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    """The demo shows the last receipt in the order pane, which then scrolls: its scroll
    bar takes the column the order table's would, not one more (the VAT header was cut)."""
    till = till_factory(load_config(write_config(top="demo = true", printer='kind = "file"')))
    async with PosApp(till).run_test(size=SMALL) as pilot:
        await scan(pilot, CROISSANT)
        await pilot.press("f3", "enter")
        await settle(pilot)
        lines = screen_text(pilot).splitlines()
        assert any("Last receipt (demo)" in line for line in lines)
        header = next(line for line in lines if "Qty" in line)
        assert re.search(r"Total\s+VAT │", header), header


async def test_an_undecided_payment_reads_whole_at_80x24(
        write_config: Callable[..., Path], till_factory: Callable[..., Till]) -> None:
    """The notes on a payment sit under the payments at the pane's full width (they wrapped
    word by word in the payments' name column), and the whole warning is on screen."""
    from tests.conftest import sim_of

    till = till_factory(load_config(write_config(SIM_EGUMA.format(timeout=0.5) + "settle_s = 4.0\n")))
    async with PosApp(till).run_test(size=SMALL) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        sim_of(till).set_apply_delay(3.0)
        await pilot.press("enter")
        await settle(pilot)
        shown = screen_text(pilot)
        assert "…KJR3 · checked again by │" in shown  # a note line uses the pane's width
        assert "do not take this payment again" in " ".join(
            line.strip() for line in text(pilot, "#status").splitlines())
        assert "payment again" in shown  # the warning's end is on screen, not cut
