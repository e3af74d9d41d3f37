"""The process under test for the crash tests: runs one till flow against a
provider's simulator over HTTP. POS_CRASH_AT (pos_app.services.crash) kills it.

    python -m tests.crash_child CONFIG URL SCENARIO [PROVIDER]

The scenarios are the same for every provider; the codes come from the
provider's crash kit (tests/crashkit.py). A test-only provider (FakePay) is
put in the registry here, by the child itself: nothing in pos_app knows it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from pos_app.providers import registry
from pos_app.services.checkout import Till
from tests.crashkit import (
    CHILD_TIMEOUT_S,
    LATE_ENV,
    SLOW_ENV,
    TIMEOUT_ENV,
    CrashKit,
    hold_posts,
    kit_of,
    make_till,
    on_next_write,
    slow_answers,
)

__all__ = ["main", "scenario", "step"]

MERLOT, CROISSANT = "7610000000035", "7610000000028"


def step(till: Till, url: str, kit: CrashKit, *kinds: str) -> None:
    """Before the step that sends one of ``kinds``: the provider starts answering
    slowly (POS_CRASH_SLOW) or applying POSTs late (POS_CRASH_LATE), if asked for
    that kind. Set here, not before the run, so the steps before stay quick. A
    provider whose operation reads before it writes (JTL's authorize) answers slowly
    from its write on: the kill 1 s after the send then finds the write received."""
    if os.environ.get(SLOW_ENV) in kinds:
        http = till.providers[kit.name].http
        if kit.reads_first and http is not None:
            on_next_write(kit, http, lambda: slow_answers(url))
        else:
            slow_answers(url)
    if os.environ.get(LATE_ENV) in kinds:
        hold_posts(kit, url)


async def add_digital(till: Till, what: tuple[str, str, tuple[tuple[str, str], ...]] | None) -> None:
    """A digital voucher on the order: (offer code, amount typed, details), as the screen adds it."""
    assert what is not None
    code, amount, given = what
    item = next(i for i in till.digital.offers() if i.offer.code == code)
    details = till.digital.check_details(await till.digital.fields(item), dict(given))
    till.digital.add(item, till.digital.amount_for(item, amount), details)


async def scenario(till: Till, name: str, url: str, kit: CrashKit) -> None:
    if name in ("redeem", "cancel"):
        till.scan("2*" + MERLOT)  # 76.00
        check = await till.vouchers.check(kit.voucher)
        step(till, url, kit, "authorize")
        await till.vouchers.pay(check)  # 50.00: the order stays open
        if name == "cancel":
            step(till, url, kit, "void")
            await till.void_tender(till.order.active_tenders[0].id)
    elif name in ("activate", "deactivate"):
        till.gifts.add(await till.gifts.check(kit.fixed_value))
        step(till, url, kit, "create")
        await till.pay_cash(till.order.remaining)  # closes: the value line is created
        if name == "deactivate":
            step(till, url, kit, "undo")
            await till.storno.run()
    elif name in ("sale", "storno"):  # a voucher and a card pay a sale; the close captures the voucher
        till.scan("2*" + MERLOT)  # 76.00
        await till.vouchers.pay(await till.vouchers.check(kit.voucher))  # 50.00
        step(till, url, kit, "capture")
        await till.pay_card(till.order.remaining)  # 26.00: closes
        if name == "storno":  # a void of the closed sale gives the voucher payment back
            step(till, url, kit, "void", "refund")
            await till.storno.run()
    elif name == "order_cancel":  # cancelling an open order undoes a value line created at close
        till.gifts.add(await till.gifts.check(kit.fixed_value))
        till.gifts.add(await till.gifts.check(kit.free_value), "20")
        response = kit.create_elsewhere(url, kit.free_value, kit.other_shop)  # so its creation fails at close
        response.raise_for_status()
        outcome = await till.pay_cash(till.order.remaining)
        assert outcome.closed is None and till.gifts.live_gift_vouchers(till.order), outcome
        step(till, url, kit, "undo")
        await till.cancel_order()
    elif name == "top_up":  # F11: credit on a voucher the customer has, added at the close with its number
        assert kit.top_up_value is not None
        till.gifts.add_top_up(await till.gifts.check_top_up(kit.top_up_value), "20")
        step(till, url, kit, "create")
        await till.pay_cash(till.order.remaining)
    elif name in ("digital", "digital_storno"):  # a digital voucher paid in cash, bought at the close
        await add_digital(till, kit.digital)
        step(till, url, kit, "create")
        await till.pay_cash(till.order.remaining)
        if name == "digital_storno":  # the void of the sale reverts the purchase
            step(till, url, kit, "undo")
            await till.storno.run()
    elif name == "digital_refused":  # one the provider refuses (bought first), then one it sells
        await add_digital(till, kit.refused_digital)
        await add_digital(till, kit.digital)
        step(till, url, kit, "create")
        await till.pay_cash(till.order.remaining)  # the refused one leaves the order, its money is change
    elif name == "close":
        till.scan(CROISSANT)
        await till.pay_card(till.parse_amount("2.50"))
    elif name == "mixed":  # everything, for the soak
        till.gifts.add(await till.gifts.check(kit.fixed_value))
        till.scan("2*" + MERLOT)
        await till.vouchers.pay(await till.vouchers.check(kit.voucher))
        await till.vouchers.pay(await till.vouchers.check(kit.small_voucher))
        await till.void_tender(till.order.active_tenders[-1].id)
        await till.pay_cash(till.parse_amount("80"))
        await till.storno.run()
    else:
        raise SystemExit(f"unknown scenario {name}")


async def main(config_path: str, url: str, name: str, provider: str = "eguma") -> None:
    kit = kit_of(provider)
    kit.register_in(registry.PACKAGES)  # this process's registry; FakePay is test-only
    timeout_s = float(os.environ.get(TIMEOUT_ENV, CHILD_TIMEOUT_S))
    till = make_till(Path(config_path), url, kit, timeout_s)
    await scenario(till, name, url, kit)
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
