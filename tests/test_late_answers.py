"""A provider that answers after our timeout, or answers something else than was
asked: the till decides by the provider's state, read afresh, and never says
"did not happen" while the request may still be applied (issue 10).

The E-GUMA simulator's ``apply_delay_s`` holds each POST and applies it even
after the client gave up, as an independent server does. The tills here have
timeout_s 0.5 and settle_s 1.0: "did not happen" may be decided 1.5 s after
the send at the earliest.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pos_app.domain.order import TenderState
from pos_app.journal import OpState
from pos_app.providers.eguma import simulator as eguma_sim
from pos_app.providers.eguma.client import EgumaClient
from pos_app.services.checkout import CheckoutError, Till
from pos_app.services.providers import slot_for
from pos_app.services.vouchers import BalanceChanged
from tests.conftest import CROISSANT, MERLOT, sim_of

PAID = "L4FU5LQTKJR3"  # 50.00 of 100.00
FIXED = "EADSHD24AKS5"  # depot voucher, 50.00
LATE_S = 1.0  # the simulator applies each POST this long after it arrived: after the 0.5 s timeout


def ops(till: Till) -> list[tuple[str, str]]:
    return [(op.operation, op.state) for op in till.journal.ops()]


# -- each operation, applied after the client's timeout -----------------------------------
async def test_redeem_applied_after_the_timeout_is_decided_did_happen(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    till.scan(MERLOT)  # 38.00
    check = await till.vouchers.check(PAID)
    sim.set_apply_delay(LATE_S)
    out = await till.vouchers.pay(check)
    assert "is not decided yet — waiting for E-GUMA" in out.notice.text
    assert "did not happen" not in out.notice.text and "do not take this payment again" in out.notice.text
    (tender,) = till.order.active_tenders
    assert tender.state is TenderState.UNKNOWN and till.order.paid.minor == 0
    with pytest.raises(CheckoutError, match="not resolved yet"):  # nothing else is taken meanwhile
        await till.pay_cash(till.parse_amount("40"))
    with pytest.raises(CheckoutError, match="not decided yet"):  # the voucher is blocked
        await till.vouchers.check(PAID)
    await sim.wait_applied()  # E-GUMA carries it out, after the till stopped waiting
    assert sim.voucher(PAID).balance_in_cents == 12_00
    (result,) = await till.recovery.run()
    assert result.text == "The redemption of CHF 38.00 on …KJR3 did happen — kept on the open order"
    assert ops(till) == [("authorize", "done")]
    closed = (await till.finish()).closed
    assert closed is not None and closed.total.minor == 38_00
    assert len(sim.state.redemptions) == 1  # never sent twice


async def test_cancel_applied_after_the_timeout_is_decided_did_happen(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    till.scan("2*" + MERLOT)  # 76.00
    await till.vouchers.pay(await till.vouchers.check(PAID))  # 50.00
    (tender,) = till.order.active_tenders
    sim.set_apply_delay(LATE_S)
    out = await till.void_tender(tender.id)  # F8
    assert "The cancellation of CHF 50.00 on …KJR3 is not decided yet" in out.notice.text
    assert till.order.tender(tender.id).active  # still on the order: it may not have happened
    await sim.wait_applied()
    assert sim.voucher(PAID).balance_in_cents == 50_00
    (result,) = await till.recovery.run()
    assert "did happen — the payment is removed" in result.text
    assert not till.order.tender(tender.id).active and till.order.paid.minor == 0
    assert ops(till) == [("authorize", "ok"), ("void", "done")]


async def test_activation_applied_after_the_timeout_is_decided_did_happen(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    till.gifts.add(await till.gifts.check(FIXED))
    sim.set_apply_delay(LATE_S)
    out = await till.pay_cash(till.parse_amount("50"))
    assert out.closed is None and out.notice.text.startswith(
        "Paid, but not closed — gift voucher …AKS5: activation not decided yet — waiting for E-GUMA, "
        "which may still carry it out (decided by ")
    assert out.notice.text.endswith("The till checks again by itself; Enter closes the order once it is decided")
    (line,) = till.order.active_lines
    with pytest.raises(CheckoutError, match="Not removed"):  # F8 cannot drop what may be active
        await till.void_line(line.id)
    await sim.wait_applied()
    closed = (await till.finish()).closed  # Enter: settled first (it did happen), then closed
    assert closed is not None and closed.total.minor == 50_00
    assert [a.code for a in sim.state.activations] == [FIXED]  # activated once
    assert ops(till) == [("create", "done")]


async def test_deactivation_applied_after_the_timeout_is_decided_did_happen(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    till.gifts.add(await till.gifts.check(FIXED))
    assert (await till.pay_cash(till.parse_amount("50"))).closed is not None
    sim.set_apply_delay(LATE_S)
    with pytest.raises(CheckoutError, match="Void not finished — deactivation of …AKS5 not confirmed"):
        await till.storno.run()
    await sim.wait_applied()
    out = await till.storno.run()  # F9 again: the lost answer is settled first (it did happen)
    assert out.notice.text.startswith("Sale 1-0001 voided — give back cash CHF 50.00")
    assert [d.code for d in sim.state.deactivations] == [FIXED]  # not sent twice
    assert ops(till) == [("create", "ok"), ("undo", "done")]


async def test_a_lost_redeem_is_did_not_happen_only_after_the_settle_window(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    till.scan(MERLOT)
    check = await till.vouchers.check(PAID)
    sim.fail_next(1, status=500)  # on the redeem (the dialog's read is fresh): not applied
    out = await till.vouchers.pay(check)
    assert "not decided yet" in out.notice.text
    (op,) = till.journal.ops()
    (result,) = await till.recovery.run()  # looked at again at once: still inside the window
    assert not result.resolved and till.journal.op(op.id).state == OpState.UNKNOWN
    await asyncio.sleep(1.6)
    (result,) = await till.recovery.run()
    assert "did not happen — removed from the open order; nothing was charged" in result.text
    # two reads after the window agreed; the one in the window did not count
    balance_reads = [r for r in sim.state.requests if r.method == "GET"]
    assert len(balance_reads) >= 4  # the dialog's, the first look, and two after the window


async def test_applied_later_than_the_settle_window_is_flagged_as_a_late_contradiction(
    eguma_till: Till,
) -> None:
    """A settle window shorter than the provider's real delay decides too early; the
    next balance read shows it, and the till flags it for a person (F12, journal)."""
    till = eguma_till
    sim = sim_of(till)
    till.scan(MERLOT)
    check = await till.vouchers.check(PAID)
    sim.set_apply_delay(2.5)  # beyond timeout_s + settle_s (1.5 s)
    await till.vouchers.pay(check)
    await asyncio.sleep(1.6)
    (result,) = await till.recovery.run()
    assert "did not happen" in result.text  # what the (too short) window allows
    await sim.wait_applied()  # ... and then E-GUMA carries it out
    seen = await till.vouchers.check(PAID, for_payment=False)  # F6: a later balance read
    assert len(seen.flags) == 1 and "late contradiction" in seen.flags[0]
    assert "the customer was charged" in seen.flags[0] and "reference test-outlet-1-000001" in seen.flags[0]
    (flagged,) = till.recovery.flagged()
    assert flagged.state == OpState.NOT_DONE and flagged.flag == seen.flags[0]
    assert any(e["kind"] == "provider_op_flagged" for e in till.journal.events())
    again = await till.vouchers.check(PAID, for_payment=False)
    assert again.flags == ()  # flagged once


# -- the state is read right before the send, not taken from an old dialog ----------------
class _LoseFirstPost(httpx.AsyncBaseTransport):
    """The first POST never reaches the provider, and the till gets no answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and not self.lost:
            self.lost += 1
            raise httpx.ReadTimeout("no answer", request=request)
        return await self.inner.handle_async_request(request)


def with_transport(till: Till, wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]) -> Any:
    app, sim = eguma_sim.build_app()
    http = httpx.AsyncClient(transport=wrap(eguma_sim.in_process_transport(app)))
    client = EgumaClient(http, "demo-outlet-key", "http://eguma.sim", "CHF", 0.5)
    till.providers["eguma"] = slot_for(till.config, "eguma", client, simulator=sim, http=http)
    return sim


def dialog_left_open(till: Till, seconds: float = 60.0) -> None:
    real = till.session.monotonic
    till.session.monotonic = lambda: real() + seconds


async def test_a_stale_dialog_balance_is_read_again_before_the_send(eguma_till: Till) -> None:
    till = eguma_till
    sim = with_transport(till, _LoseFirstPost)
    till.scan("4*" + CROISSANT)  # 10.00
    check = await till.vouchers.check(PAID)  # the dialog shows 50.00, pays 10.00
    assert check.amount is not None and check.amount.minor == 10_00
    sim.redeem(PAID, {"amount_in_cents": 1000}, "elsewhere")  # another shop: 50.00 -> 40.00
    dialog_left_open(till)
    out = await till.vouchers.pay(check)  # our redeem never arrives; its answer is lost
    # With the dialog's 50.00 as "before", 40.00 now would read as "did happen".
    assert "did happen" not in out.notice.text and "not decided yet" in out.notice.text
    (op,) = till.journal.ops()
    assert op.before == {"balance": 40_00, "total": 100_00, "redeemable": True}
    await asyncio.sleep(1.6)
    (result,) = await till.recovery.run()
    assert "did not happen" in result.text
    assert [r.outlet for r in sim.state.redemptions.values()] == ["elsewhere"]


async def test_a_fresh_dialog_balance_costs_no_extra_request(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    till.scan(MERLOT)
    await till.vouchers.pay(await till.vouchers.check(PAID))  # Enter at once
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in sim.state.requests] == [
        ("GET", "balance.json"), ("POST", "redeem.json")]
    assert till.journal.ops()[0].before == {"balance": 50_00, "total": 100_00, "redeemable": True}


async def test_a_changed_amount_goes_back_to_the_cashier_and_nothing_is_sent(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    till.scan(MERLOT)  # 38.00
    check = await till.vouchers.check(PAID)  # pays 38.00 of 50.00
    sim.redeem(PAID, {"amount_in_cents": 3000}, "elsewhere")  # 20.00 left
    dialog_left_open(till)
    with pytest.raises(BalanceChanged) as info:
        await till.vouchers.pay(check)
    assert str(info.value) == "The balance changed since it was shown: now 20.00 — Enter pays 20.00"
    assert info.value.check.amount is not None and info.value.check.amount.minor == 20_00
    assert [r.method for r in sim.state.requests] == ["GET", "GET"] and till.journal.ops() == []
    out = await till.vouchers.pay(info.value.check)  # Enter on what is shown now
    assert "paid 20.00" in out.notice.text


# -- answers that contradict the request are not trusted -------------------------------------
class _Rewrite(httpx.AsyncBaseTransport):
    """Rewrites the JSON answer of POSTs to one endpoint."""

    def __init__(self, inner: httpx.AsyncBaseTransport, endpoint: str, change: Callable[[dict[str, Any]], None]) -> None:
        self.inner, self.endpoint, self.change = inner, endpoint, change

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "POST" or not request.url.path.endswith(self.endpoint):
            return response
        await response.aread()
        data = json.loads(response.content)
        self.change(data)
        return httpx.Response(response.status_code, json=data)


@pytest.mark.parametrize(("change", "why"), [
    (lambda d: d.update(balance_in_cents=d["balance_in_cents"] + 100), "is 12.00"),  # not before − amount
    (lambda d: d.update(balance_in_cents=10_100), "above the voucher's total"),
    (lambda d: d.update(balance_in_cents=-100), "negative new balance"),
], ids=["not-before-minus-amount", "above-total", "negative"])
async def test_a_contradicting_redeem_answer_is_settled_by_the_state(
    eguma_till: Till, change: Callable[[dict[str, Any]], None], why: str
) -> None:
    till = eguma_till
    sim = with_transport(till, lambda inner: _Rewrite(inner, "redeem.json", change))
    till.scan(MERLOT)
    out = await till.vouchers.pay(await till.vouchers.check(PAID))
    # the redemption did happen (the balance shows it), and what it said is on record
    assert "did happen" in out.notice.text and out.closed is not None
    (op,) = till.journal.ops()
    assert op.state == OpState.DONE and op.flag is not None and why in op.flag
    assert op.refs["redeem_token"]  # its token is kept: the payment can still be cancelled
    assert till.journal.load_order(op.order_id).tenders[0].balance_after.minor == 12_00  # from the state
    assert [o.id for o in till.recovery.flagged()] == [op.id]
    assert len(sim.state.redemptions) == 1


async def test_a_redeem_answer_the_journal_cannot_hold_is_settled_by_the_state(eguma_till: Till) -> None:
    till = eguma_till
    with_transport(till, lambda inner: _Rewrite(inner, "redeem.json",
                                               lambda d: d.update(balance_in_cents=10**20)))
    till.scan(MERLOT)
    out = await till.vouchers.pay(await till.vouchers.check(PAID))
    assert "E-GUMA did not answer" in out.notice.text and "did happen" in out.notice.text
    (op,) = till.journal.ops()
    assert op.state == OpState.DONE and op.error is None and "out of range" in op.result["while_open"]


async def test_an_activation_of_another_amount_is_settled_by_the_state(eguma_till: Till) -> None:
    till = eguma_till
    sim = with_transport(till, lambda inner: _Rewrite(inner, "activate.json",
                                                     lambda d: d.update(amount_in_cents=99_00)))
    till.gifts.add(await till.gifts.check(FIXED))
    out = await till.pay_cash(till.parse_amount("50"))
    assert out.closed is not None  # the state shows it active with our 50.00
    (op,) = till.journal.ops()
    assert op.state == OpState.DONE and "E-GUMA activated 99.00, but 50.00 was asked" in (op.flag or "")
    assert [a.amount_in_cents for a in sim.state.activations] == [50_00]


async def test_a_balance_the_journal_cannot_hold_is_a_clear_refusal(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    sim.voucher(PAID).balance_in_cents = 10**20
    till.scan(MERLOT)
    with pytest.raises(CheckoutError, match=r"E-GUMA sent an unreadable answer \(request balance"):
        await till.vouchers.check(PAID)
    assert till.journal.ops() == []
