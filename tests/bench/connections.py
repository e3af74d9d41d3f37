"""New TCP connections per 100 voucher payments at one payment every 30 s, over real
HTTP on loopback, against a server that keeps idle connections 75 s.

The server: the E-GUMA simulator under uvicorn (the simulator's own settings,
``timeout_keep_alive`` = 75 s set here whatever its default). The till: opened
from an outlet configuration pointing at it (``open_till``), so its one HTTP
client is built exactly as the till builds it, with the keep-alive of the
till's own configuration. A payment: scan a croissant (2.50), ``check`` the
voucher (balance request) and ``pay`` (redeem request; the voucher covers the
order, which closes), print the receipt. Connections are counted as distinct
client ports in the simulator's request log (``sim.state.requests[].client``).

Time. 100 payments 30 s apart take 50 minutes. By default the idle time
between payments is simulated: the process clock (``time.monotonic``, which
both httpcore's keep-alive expiry and the asyncio loops of client and server
read, uvicorn's 75 s timer included) is moved on by what is left of the 30 s
once a payment is done; 0.2 s of real time then lets the server's loop run
its due timers. Nothing is in flight while the clock moves, and nothing of the
till's or the server's settings is changed. ``--connections-real-time`` waits
the real 30 s instead (50 minutes).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

from tests.bench.common import CROISSANT, write_config

BIG = "BNCH-0000-0001"
SERVER_KEEP_ALIVE_S = 75.0
SETTLE_S = 0.2  # real time for the server's loop to run timers that came due


class VirtualClock:
    """``time.monotonic`` plus an offset that ``advance`` increases (process-wide)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._real = time.monotonic

    def __enter__(self) -> VirtualClock:
        time.monotonic = lambda: self._real() + self.offset
        return self

    def __exit__(self, *exc: object) -> None:
        time.monotonic = self._real

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.offset += seconds


class Server:
    """uvicorn on a thread with the simulator's settings, idle connections kept ``keep_alive_s``."""

    def __init__(self, app: Any, keep_alive_s: float) -> None:
        import uvicorn

        from pos_app.providers import simkit

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = simkit.uvicorn_config(app, "127.0.0.1", self.port)
        config.timeout_keep_alive = keep_alive_s  # type: ignore[assignment]
        config.loop = "asyncio"  # its clock is time.monotonic (the simulated one too)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: self.server.run(sockets=[self.socket]), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.perf_counter() + 10
        while not self.server.started:
            if time.perf_counter() > deadline or not self.thread.is_alive():
                raise RuntimeError("the simulator server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


def seed_data(folder: Path) -> Path:
    """The simulator's demo data plus one voucher large enough for every payment."""
    from importlib.resources import files

    demo = files("pos_app.providers.eguma").joinpath("demo_vouchers.toml").read_text(encoding="utf-8")
    path = folder / "vouchers.toml"
    path.write_text(demo + f'\n[[vouchers]]\ncode = "{BIG}"\nbalance_in_cents = 100000000\n'
                    'total_amount_in_cents = 100000000\nproduct_id = "bench"\n', encoding="utf-8")
    return path


def client_keepalive(slot: Any) -> float | None:
    """The idle-connection expiry of the till's HTTP client (httpx's pool), as built."""
    try:
        return float(slot.http._transport._pool._keepalive_expiry)
    except (AttributeError, TypeError, ValueError):
        return None


async def _payments(folder: Path, server: Server, sim: Any, payments: int, interval_s: float,
                    real_time: bool, clock: VirtualClock | None) -> dict[str, Any]:
    from pos_app.config import load_config
    from pos_app.services.providers import close_providers
    from pos_app.services.setup import open_till

    till = open_till(load_config(write_config(folder, server.url)))
    slot = till.providers["eguma"]
    if slot.client is None:
        raise RuntimeError(f"E-GUMA cannot be used: {slot.problem}")
    settings_keepalive = getattr(slot.settings, "keepalive_s", None)
    work: list[float] = []
    try:
        for _ in range(payments):
            started = time.perf_counter()
            till.scan(CROISSANT)
            outcome = await till.vouchers.pay(await till.vouchers.check(BIG))
            if outcome.closed is None:
                raise RuntimeError(f"the voucher payment did not close the sale: {outcome.notice}")
            await till.print_receipt(outcome.closed.receipt_id)
            took = time.perf_counter() - started
            work.append(took)
            if real_time:
                await asyncio.sleep(max(0.0, interval_s - took))
            else:
                assert clock is not None
                clock.advance(interval_s - took - SETTLE_S)
                await asyncio.sleep(SETTLE_S)
    finally:
        await close_providers(till.providers)
        till.journal.close()
    clients = [r.client for r in sim.state.requests]
    per_connection: dict[str, int] = {}
    for client in clients:
        per_connection[client] = per_connection.get(client, 0) + 1
    return {"payments": payments, "interval_s": interval_s, "requests": len(clients),
            "connections": len(per_connection), "client_keepalive_s": client_keepalive(slot),
            "settings_keepalive_s": settings_keepalive, "work_s": sum(work) / len(work),
            "real_time": real_time}


def measure(folder: Path, payments: int, interval_s: float = 30.0, real_time: bool = False,
            server_keep_alive_s: float = SERVER_KEEP_ALIVE_S) -> dict[str, Any]:
    import keyring

    from pos_app.providers.eguma.simulator import build_app
    from tests.conftest import MemoryKeyring

    folder.mkdir(parents=True, exist_ok=True)
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    backend.set_password("pos-app", "bench/eguma/api_key", "demo-outlet-key")
    keyring.set_keyring(backend)
    app, sim = build_app(seed_data(folder))
    try:
        if real_time:
            with Server(app, server_keep_alive_s) as server:
                result = asyncio.run(_payments(folder, server, sim, payments, interval_s, True, None))
        else:  # the server stops before the clock goes back (its loop would sleep that long)
            with VirtualClock() as clock, Server(app, server_keep_alive_s) as server:
                result = asyncio.run(_payments(folder, server, sim, payments, interval_s, False, clock))
    finally:
        keyring.set_keyring(previous)
    result["server_keep_alive_s"] = server_keep_alive_s
    return result
