"""Text from a cashier, a scanner, a provider, a template or a configuration is
shown as text, never parsed as Textual markup (issue 11)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pos_app.config import load_config
from pos_app.services.checkout import Till
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.gifts import SellVoucherDialog
from pos_app.ui.vouchers import BalanceScreen, VoucherDialog
from tests.conftest import SIM_EGUMA_QUICK, sim_of
from tests.uihelpers import scan, settle, table_rows, text

SIZE = (110, 32)


async def test_markup_typed_into_the_voucher_dialog_is_text(eguma_till: Till) -> None:
    async with PosApp(eguma_till).run_test(size=SIZE) as pilot:
        await scan(pilot, "7610000000035")
        await pilot.press("f2")
        await scan(pilot, "[/X]")  # crashed the till with a MarkupError (exit code 0)
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        assert "'[/X]' is not a voucher code" in text(pilot, "#error")
        await scan(pilot, "[b]L4FU[/b]")
        await settle(pilot)
        assert "[B]L4FU[/B]" in text(pilot, "#error") or "[b]L4FU[/b]" in text(pilot, "#error")
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, CheckoutScreen)


async def test_markup_typed_into_the_gift_voucher_dialog_and_the_balance_check_is_text(
    eguma_till: Till,
) -> None:
    async with PosApp(eguma_till).run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        assert isinstance(pilot.app.screen, SellVoucherDialog)
        await scan(pilot, "[/X]")
        await settle(pilot)
        assert "'[/X]' is not a gift voucher code" in text(pilot, "#error")
        await pilot.press("escape")
        await pilot.press("f6")
        assert isinstance(pilot.app.screen, BalanceScreen)
        await scan(pilot, "[/X]")
        await settle(pilot)
        assert "'[/X]' is not a voucher code" in text(pilot, "#error")
        await pilot.press("escape")
        await scan(pilot, "[/X]")  # at the checkout: an unknown barcode
        assert "Unknown barcode '[/X]'" in text(pilot, "#status")


async def test_a_provider_message_with_markup_is_shown_as_text(eguma_till: Till) -> None:
    sim = sim_of(eguma_till)
    sim.voucher("EXPD20230001")  # exists
    async with PosApp(eguma_till).run_test(size=SIZE) as pilot:
        await scan(pilot, "7610000000035")
        await pilot.press("f2")
        sim.fail_next(1, status=400, body="Der Gutschein [/] ist [red]gesperrt[/red].")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        assert text(pilot, "#error") == ("E-GUMA refused the balance check\n"
                                          "E-GUMA says: «Der Gutschein [/] ist [red]gesperrt[/red].»")


async def test_names_from_the_configuration_and_catalog_are_text(
    write_config: Callable[..., Path], till_factory: Callable[..., Till], tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text('[[product]]\nean = "123456"\nname = "[b]Bold[/b] [/] beer"\nprice = "3.00"\nvat = "8.1"\n',
                       encoding="utf-8")
    path = write_config(SIM_EGUMA_QUICK.format(timeout=0.5))
    text_ = path.read_text(encoding="utf-8")
    text_ = text_.replace('name = "Test Shop Zürich"', 'name = "[red]Shop[/] [/x]"')
    text_ = text_.replace(text_.split("\n[catalog]\npath = ")[1].split("\n")[0], f'"{catalog.as_posix()}"')
    path.write_text(text_, encoding="utf-8")
    till = till_factory(load_config(path))
    async with PosApp(till).run_test(size=SIZE) as pilot:
        assert text(pilot, "#title").startswith("[red]Shop[/] [/x] · Till 1")
        await scan(pilot, "123456")
        assert table_rows(pilot, "#lines")[0][1] == "[b]Bold[/b] [/] beer"
        assert "Added [b]Bold[/b] [/] beer" in text(pilot, "#status")


def test_markup_typed_into_the_real_app_in_a_terminal_does_not_crash_it(
    write_config: Callable[..., Path],
) -> None:
    """The real `pos` in a pseudo-terminal: `[/X]` into the voucher dialog used to end
    the till with a MarkupError and exit code 0."""
    import os
    import signal

    from tests.fakes_hw import start_pos_in_terminal, wait_for

    terminal = start_pos_in_terminal(write_config(SIM_EGUMA_QUICK.format(timeout=0.5)))
    app, master, screen = terminal.app, terminal.master, terminal.screen
    try:
        assert wait_for(lambda: b"Ready" in screen, 30), bytes(screen)[-500:]
        os.write(master, b"7610000000035\r")  # a Merlot
        assert wait_for(lambda: b"Added Merlot" in screen, 15)
        os.write(master, b"\x1bOQ")  # F2
        assert wait_for(lambda: b"Voucher code" in screen, 15)
        mark = len(screen)
        os.write(master, b"[/X]\r")
        assert wait_for(lambda: b"is not a voucher code" in screen[mark:], 15), bytes(screen[mark:])[-500:]
        assert app.poll() is None  # still running
        os.write(master, b"\x1b")  # Escape
        os.write(master, b"\x11")  # Ctrl+Q quits normally
        app.wait(timeout=30)
        assert app.returncode == 0
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGKILL)
            app.wait(timeout=30)
        os.close(master)
