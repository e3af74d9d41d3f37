"""The provider connection is kept between payments at a shop's pace (issue 12):
httpx's own default (5 s) opened a new connection, and on the real provider a
new TLS handshake, for every payment."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from pos_app.config import load_config
from pos_app.providers.eguma.simulator import ServerThread, build_app
from pos_app.services.checkout import Till
from pos_app.services.providers import http_client
from tests.conftest import CROISSANT, MemoryKeyring

PAUSE_S = 6.0  # longer than httpx's default keep-alive (5 s)


async def test_payments_minutes_apart_share_one_connection(
    write_config: Callable[..., Path], till_factory: Callable[..., Till], memory_keyring: MemoryKeyring,
) -> None:
    app, sim = build_app()
    key = next(iter(sim.state.outlets))
    with ServerThread(app) as server:
        config = load_config(write_config(f'[providers.eguma]\nbase_url = "{server.url}"\ntimeout_s = 5\n'))
        memory_keyring.set_password("pos-app", f"{config.outlet.id}/eguma/api_key", key)
        till = till_factory(config)
        assert config.providers["eguma"].keepalive_s == 50
        for _ in range(2):
            till.scan(CROISSANT)
            out = await till.vouchers.pay(await till.vouchers.check("B200CHF0FULL"))
            assert out.closed is not None
            await asyncio.sleep(PAUSE_S)  # the next customer
        await till.providers["eguma"].http.aclose()
    clients = {r.client for r in sim.state.requests}
    assert len(sim.state.requests) == 4 and len(clients) == 1, clients


def test_the_keep_alive_comes_from_the_provider_settings(write_config: Callable[..., Path]) -> None:
    config = load_config(write_config('[providers.eguma]\nbase_url = "https://api.e-guma.ch"\nkeepalive_s = 20\n'))
    http = http_client(config.providers["eguma"])
    assert http._transport._pool._keepalive_expiry == 20  # noqa: SLF001 - httpcore's pool setting
