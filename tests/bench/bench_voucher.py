"""Benchmark: a voucher payment at the till, as the cashier experiences it.

Not a test: it prints figures. Run with `python3 tasks.py bench`.

* Against the in-process E-GUMA simulator with zero added latency, driving
  the real app with Pilot: time from Enter on a scanned code to the balance
  on screen, and from Enter (redeem) to the tender line; medians over 50 runs.
* HTTP requests and new connections per voucher payment, over real HTTP
  (uvicorn on loopback), with the till's one shared AsyncClient.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

RUNS = 50
CONFIG = """
[outlet]
id = "bench"
name = "Bench"
till = "1"
currency = "CHF"

[catalog]
path = "{catalog}"

[providers.eguma]
base_url = "{base_url}"
timeout_s = 5

[scanner]
max_gap_ms = 0  # Pilot types faster than any scanner: let the Enter suffix alone decide

[printer]
kind = "dummy"
"""


def write_config(folder: Path, base_url: str) -> Path:
    path = folder / "bench.toml"
    catalog = (ROOT / "config" / "demo_catalog.toml").as_posix()
    receipts = f'receipts = "{(ROOT / "receipts").as_posix()}"\n'
    path.write_text(receipts + CONFIG.format(catalog=catalog, base_url=base_url), encoding="utf-8")
    return path


async def ui_timings(folder: Path) -> tuple[list[float], list[float], int]:
    from pos_app.config import load_config
    from pos_app.services.setup import open_till
    from pos_app.ui.app import PosApp

    till = open_till(load_config(write_config(folder, "sim://eguma")))
    sim = till.providers["eguma"].simulator
    to_balance: list[float] = []
    to_tender: list[float] = []
    requests = 0
    async with PosApp(till).run_test(size=(100, 30)) as pilot:
        screen = pilot.app.screen

        async def enter_until(predicate) -> float:
            """Press Enter, wait until the screen shows it; Pilot's own overhead included."""
            start = time.perf_counter()
            await pilot.press("enter")
            while not predicate():
                if time.perf_counter() - start > 10:
                    raise RuntimeError("the screen did not show the result within 10 s")
                await asyncio.sleep(0.001)
            return time.perf_counter() - start

        for _ in range(RUNS):
            await pilot.press(*"2*7610000000035", "enter")
            await pilot.press("f2", *"L4FU5LQTKJR3")
            dialog = pilot.app.screen
            before = len(sim.state.requests)
            to_balance.append(await enter_until(lambda: "Balance" in str(dialog.query_one("#result").content)))
            to_tender.append(await enter_until(lambda: screen.query_one("#tenders").row_count > 0))
            requests += len(sim.state.requests) - before
            await pilot.press("f9", "enter")  # cancel: the voucher is cancelled, ready again
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
    till.journal.close()
    return to_balance, to_tender, requests


async def http_connections(folder: Path) -> tuple[int, int, int]:
    from pos_app.config import load_config
    from pos_app.providers.eguma.simulator import ServerThread, build_app
    from pos_app.services.providers import close_providers
    from pos_app.services.setup import open_till
    import keyring

    from tests.conftest import MemoryKeyring

    backend = MemoryKeyring()
    backend.set_password("pos-app", "bench/eguma/api_key", "demo-outlet-key")
    keyring.set_keyring(backend)
    app, sim = build_app()
    payments = 10
    with ServerThread(app) as server:
        till = open_till(load_config(write_config(folder, server.url)))
        for _ in range(payments):
            till.scan("2*7610000000035")
            await till.vouchers.pay(await till.vouchers.check("L4FU5LQTKJR3"))
            await till.cancel_order()
        await close_providers(till.providers)
        till.journal.close()
    payment_requests = [r for r in sim.state.requests]
    clients = {r.client for r in payment_requests}
    return payments, len(payment_requests), len(clients)


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.1f} ms (p90 {sorted(values)[int(len(values) * 0.9)] * 1000:.1f} ms)"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["POS_DATA_DIR"] = tmp
        folder = Path(tmp)
        to_balance, to_tender, requests = asyncio.run(ui_timings(folder))
        print(f"voucher payment, in-process simulator, {RUNS} runs:")
        print(f"  Enter on scanned code -> balance on screen: {ms(to_balance)}")
        print(f"  Enter to redeem -> tender line on screen:   {ms(to_tender)}")
        print(f"  HTTP requests per payment (balance + redeem): {requests / RUNS:.1f}")
        payments, total, connections = asyncio.run(http_connections(folder))
        print(f"over real HTTP (uvicorn, loopback), {payments} payments + cancels:")
        print(f"  requests: {total} ({total / payments:.1f} per payment incl. its cancel)")
        print(f"  new TCP connections: {connections} in all ({connections / payments:.2f} per payment)")


if __name__ == "__main__":
    main()
