"""The process under test for the crash tests: runs one till flow against the
E-GUMA simulator over HTTP. POS_CRASH_AT (pos_app.services.crash) kills it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from pos_app.config import load_config
from pos_app.providers.eguma.client import EgumaClient
from pos_app.services.checkout import Till
from pos_app.services.providers import slot_for
from pos_app.services.setup import open_till

MERLOT, CROISSANT = "7610000000035", "7610000000028"
KEY = "demo-outlet-key"
OTHER_SHOP_KEY = "demo-outlet-key-bern"


def make_till(config_path: Path, url: str, timeout_s: float = 3.0) -> Till:
    client = EgumaClient.create(KEY, url, "CHF", timeout_s)
    config = load_config(config_path)
    return open_till(config, providers={"eguma": slot_for(config, "eguma", client)})


LATE_ENV = "POS_CRASH_LATE"  # an operation kind: the simulator applies that step's POSTs late
LATE_S = 4.0  # longer than the child's 3 s timeout: the answer is lost, the request applied later


async def late(url: str, kind: str) -> None:
    """Before the step that sends ``kind``: the provider starts applying POSTs late."""
    if os.environ.get(LATE_ENV) == kind:
        async with httpx.AsyncClient(base_url=url) as http:
            (await http.post("/_sim/faults", json={"apply_delay_s": LATE_S})).raise_for_status()


async def scenario(till: Till, name: str, url: str) -> None:
    if name in ("redeem", "cancel"):
        till.scan("2*" + MERLOT)  # 76.00
        await late(url, "authorize")
        await till.vouchers.pay(await till.vouchers.check("L4FU5LQTKJR3"))  # 50.00
        if name == "cancel":
            await late(url, "void")
            await till.void_tender(till.order.active_tenders[0].id)
    elif name in ("activate", "deactivate"):
        till.gifts.add(await till.gifts.check("EADS-HD24-AKS5"))
        await late(url, "create")
        await till.pay_cash(till.parse_amount("50"))
        if name == "deactivate":
            await late(url, "undo")
            await till.storno.run()
    elif name == "storno":  # a void of a closed sale cancels its redemption
        till.scan(MERLOT)
        await till.vouchers.pay(await till.vouchers.check("L4FU5LQTKJR3"))  # 38.00: closes
        await late(url, "void")
        await till.storno.run()
    elif name == "order_cancel":  # cancelling an open order deactivates a gift voucher
        till.gifts.add(await till.gifts.check("EADS-HD24-AKS5"))
        till.gifts.add(await till.gifts.check("FREE-AMNT-0001"), "20")
        await activate_elsewhere(url, "FREEAMNT0001")  # so its activation fails at close
        outcome = await till.pay_cash(till.parse_amount("70"))
        assert outcome.closed is None and till.gifts.live_gift_vouchers(till.order), outcome
        await late(url, "undo")
        await till.cancel_order()
    elif name == "close":
        till.scan(CROISSANT)
        await till.pay_card(till.parse_amount("2.50"))
    elif name == "mixed":  # everything, for the soak
        till.gifts.add(await till.gifts.check("EADS-HD24-AKS5"))
        till.scan("2*" + MERLOT)
        await till.vouchers.pay(await till.vouchers.check("L4FU5LQTKJR3"))
        await till.vouchers.pay(await till.vouchers.check("2QH3QTDM28N6"))
        await till.void_tender(till.order.active_tenders[-1].id)
        await till.pay_cash(till.parse_amount("80"))
        await till.storno.run()
    else:
        raise SystemExit(f"unknown scenario {name}")


async def activate_elsewhere(url: str, code: str) -> None:
    """Another shop (the demo data's second outlet) activates a depot voucher."""
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(f"/v1/depot_vouchers/{code}/activate.json",
                                   params={"apikey": OTHER_SHOP_KEY}, json={"amount_in_cents": 900})
        response.raise_for_status()


async def main(config_path: str, url: str, name: str) -> None:
    till = make_till(Path(config_path), url)
    await scenario(till, name, url)
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
