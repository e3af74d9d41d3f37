"""End to end over real HTTP: the till's services against `pos simulate eguma`
running as a separate process, with the outlet's key from the keyring."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pos_app.config import PROJECT_ROOT, load_config
from pos_app.services.checkout import CheckoutError, Till
from pos_app.services.providers import close_providers
from tests.conftest import MERLOT, MemoryKeyring


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sim_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pos_app", "simulate", "eguma", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_sim/state", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("the simulator did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def state(url: str) -> dict:
    return httpx.get(f"{url}/_sim/state", timeout=5).json()


async def test_voucher_payment_over_http_with_key_from_keyring(
    sim_server: str, memory_keyring: MemoryKeyring, write_config: Callable[..., Path],
    till_factory: Callable[..., Till],
) -> None:
    memory_keyring.set_password("pos-app", "test-outlet/eguma/api_key", "demo-outlet-key")
    config = load_config(write_config(f'[providers.eguma]\nbase_url = "{sim_server}"\ntimeout_s = 2\n'))
    till = till_factory(config)
    try:
        till.scan("2*" + MERLOT)
        check = await till.vouchers.check("L4FU-5LQT-KJR3")
        assert check.amount is not None and check.amount.minor == 50_00
        outcome = await till.vouchers.pay(check)
        assert "new balance 0.00" in outcome.notice.text
        assert state(sim_server)["vouchers"]["L4FU5LQTKJR3"]["balance_in_cents"] == 0
        voided = await till.void_tender(till.order.active_tenders[0].id)
        assert "balance back to 50.00" in voided.notice.text
        assert state(sim_server)["vouchers"]["L4FU5LQTKJR3"]["balance_in_cents"] == 50_00
        # a dropped answer over a real connection: resolved, never sent twice
        httpx.post(f"{sim_server}/_sim/faults", json={"drop_next_posts": 1}, timeout=5)
        outcome = await till.vouchers.pay(await till.vouchers.check("L4FU5LQTKJR3"))
        assert "did happen" in outcome.notice.text
        redemptions = state(sim_server)["redemptions"]
        assert len(redemptions) == 2 and sum(r["cancelled_in_cents"] for r in redemptions) == 50_00
    finally:
        await close_providers(till.providers)


async def test_missing_key_disables_only_vouchers(
    memory_keyring: MemoryKeyring, write_config: Callable[..., Path], till_factory: Callable[..., Till],
) -> None:
    path = write_config('[providers.eguma]\nbase_url = "http://127.0.0.1:9"\n')
    till = till_factory(load_config(path))
    slot = till.providers["eguma"]
    assert slot.client is None
    assert slot.problem == ("E-GUMA disabled: no API key for outlet test-outlet — run "
                            f"`pos --config {path} keys set --provider eguma --field api_key`")
    with pytest.raises(CheckoutError, match="keys set --provider eguma"):
        await till.vouchers.check("L4FU5LQTKJR3")
    till.scan(MERLOT)  # everything else keeps working
    assert (await till.pay_card(till.parse_amount("38.00"))).closed is not None
