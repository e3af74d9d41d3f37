"""Keys at the till: a missing key disables only vouchers and says the fix;
F12 → k picks up a key set meanwhile, without a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keyring
from keyring.backends import fail

from pos_app.config import load_config
from pos_app.providers.eguma.simulator import ServerThread, build_app
from pos_app.services.checkout import Till
from pos_app.services.providers import close_providers
from pos_app.ui.app import PosApp
from tests.conftest import CROISSANT, MemoryKeyring
from tests.uihelpers import scan, settle, text

SIZE = (110, 32)


async def test_missing_key_then_reload_from_status_screen(
    memory_keyring: MemoryKeyring, write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    app_, sim = build_app()
    with ServerThread(app_) as server:
        path = write_config(f'[providers.eguma]\nbase_url = "{server.url}"\n')
        till = till_factory(load_config(path))
        async with PosApp(till).run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert ("E-GUMA disabled: no API key for outlet test-outlet — run "
                    f"`pos --config {path} keys set --provider eguma --field api_key`") in text(pilot, "#status")
            await scan(pilot, CROISSANT)  # everything else works
            await pilot.press("f2")
            await scan(pilot, "L4FU5LQTKJR3")
            await settle(pilot)
            assert f"pos --config {path} keys set --provider eguma" in text(pilot, "#error")
            assert text(pilot, "#keys") == "Escape back"  # checking again cannot help: no "Enter check again"
            await pilot.press("escape")
            memory_keyring.set_password("pos-app", "test-outlet/eguma/api_key", "demo-outlet-key")
            await pilot.press("f12", "k")
            await settle(pilot)
            assert "Keys reloaded — E-GUMA: ready" in text(pilot, "#report")
            assert "demo-outlet-key" not in text(pilot, "#report")
            await pilot.press("escape")
            await pilot.press("f2")
            await scan(pilot, "L4FU5LQTKJR3")
            await settle(pilot)
            assert "Pay CHF 2.50" in text(pilot, "#result")
            await pilot.press("escape")
        await close_providers(till.providers)
    assert sim.state.requests and sim.state.requests[0].path.endswith("/balance.json")


async def test_no_keyring_backend_is_explained(
    write_config: Callable[..., Path], till_factory: Callable[..., Till]
) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        till = till_factory(load_config(write_config('[providers.eguma]\nbase_url = "http://127.0.0.1:9"\n')))
        async with PosApp(till).run_test(size=SIZE) as pilot:
            await settle(pilot)
            status = text(pilot, "#status")
            assert "no usable keyring backend" in status
            assert "keyrings.cryptfile" in status and "pip install" in status  # the one command that fixes it
            # everything else works, F7 included (it used to crash on a provider problem)
            await pilot.press("f7")
            await settle(pilot)
            assert "No receipt to print yet" in text(pilot, "#status")
            await scan(pilot, CROISSANT)
            await pilot.press("f4", "enter")
            await settle(pilot)
            assert "Order 1-0001 closed" in text(pilot, "#status")
            printed = len(till.printer.output)
            await pilot.press("f7")
            await settle(pilot)
            assert "1 receipt printed" in text(pilot, "#status")
            reprint = till.printer.output[printed:]  # the receipt again, marked as a copy
            assert b"Croissant" in reprint and b"COPY" in reprint
            await pilot.press("f12")
            await settle(pilot)
            assert "not usable" in text(pilot, "#report")
    finally:
        keyring.set_keyring(previous)
