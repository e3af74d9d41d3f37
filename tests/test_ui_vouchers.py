"""Voucher payments through the real app (Pilot) against the E-GUMA simulator.

Every test asserts the simulator's ledger and the journal, not just the screen.
"""

from __future__ import annotations

import asyncio

import httpx
from textual.pilot import Pilot

from pos_app.providers.eguma import simulator as eguma_sim
from pos_app.providers.eguma.client import EgumaClient
from pos_app.services.checkout import Till
from pos_app.services.providers import slot_for
from pos_app.ui.app import PosApp
from pos_app.ui.checkout import CheckoutScreen
from pos_app.ui.vouchers import BalanceScreen, VoucherDialog
from tests.conftest import CROISSANT, ESPRESSO, MERLOT, sim_of
from tests.uihelpers import rows, scan, settle, table_rows, text, wait_until

SIZE = (100, 30)



def balance(till: Till, code: str) -> int:
    return sim_of(till).voucher(code).balance_in_cents


async def pay_with_voucher(pilot: Pilot, code: str) -> None:
    """F2, scan, Enter: the three actions of a voucher payment."""
    await pilot.press("f2")
    await scan(pilot, code)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def test_full_payment_by_voucher(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "b200-chf0 full")  # lower case, dash and space are accepted
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        shown = text(pilot, "#result")
        assert "…FULL  redeemable" in shown and "Balance CHF 200.00 of 200.00" in shown
        assert "Pay CHF 38.00" in shown
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert "Order 1-0001 closed" in text(pilot, "#status")

    assert balance(till, "B200CHF0FULL") == 162_00
    (redemption,) = sim_of(till).state.redemptions.values()
    assert (redemption.code, redemption.amount_in_cents, redemption.cancelled_in_cents) == ("B200CHF0FULL", 3800, 0)
    db = till.journal.path
    (op,) = rows(db, "SELECT operation, code, amount_minor, json_extract(before, '$.balance'), state,"
                     " json_extract(refs, '$.redeem_token'), reference FROM provider_ops")
    assert op[:6] == ("authorize", "B200CHF0FULL", 3800, 20000, "ok", redemption.token)
    assert redemption.reference == op[6] == "test-outlet-1-000001"
    assert rows(db, "SELECT kind, state, amount_minor, code, balance_after_minor FROM tenders") == [
        ("voucher", "captured", 3800, "B200CHF0FULL", 16200)]
    receipt = till.printer.output
    assert b"Voucher \xe2" not in receipt  # the ellipsis is encoded for the printer, not raw UTF-8
    last = till.journal.last_receipt()
    assert last is not None
    assert "Voucher …FULL" in last.text and "38.00" in last.text
    assert "new balance" in last.text and "162.00" in last.text
    assert b"162.00" in receipt and b"FULL" in receipt and b"B200CHF0FULL" not in receipt


async def test_voucher_smaller_than_total_then_cash(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, ESPRESSO)
        await scan(pilot, MERLOT)  # 52.90
        await pay_with_voucher(pilot, "L4FU-5LQT-KJR3")
        assert table_rows(pilot, "#tenders") == [["Voucher …KJR3", "-50.00"], ["new balance", "0.00"]]
        assert "2.90" in text(pilot, "#balance")
        await pilot.press("f3", "enter")  # the dialog proposes the cash due
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
    assert balance(till, "L4FU5LQTKJR3") == 0
    assert rows(till.journal.path, "SELECT kind, amount_minor FROM tenders ORDER BY id") == [
        ("voucher", 5000), ("cash", 290)]


async def test_voucher_larger_than_total(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await pay_with_voucher(pilot, "L4FU5LQTKJR3")
        assert "Order 1-0001 closed" in text(pilot, "#status")
    assert balance(till, "L4FU5LQTKJR3") == 47_50
    assert "new balance" in (till.journal.last_receipt().text)  # type: ignore[union-attr]


async def test_not_redeemable_shows_the_message_and_does_nothing(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await pilot.press("f2")
        await scan(pilot, "USED-UP00-0001")
        await settle(pilot)
        shown = text(pilot, "#result")
        assert "NOT redeemable" in shown
        assert "E-GUMA says: «Der Gutschein wurde bereits vollständig eingelöst.»" in shown
        assert shown.count("Der Gutschein wurde bereits") == 1  # the provider's words once, not twice
        assert "E-GUMA does not accept this voucher for payment now." in shown  # the till's own words
        await pilot.press("enter")  # Enter checks again; it never redeems
        await settle(pilot)
        assert "NOT redeemable" in text(pilot, "#result")
        await scan(pilot, "AAAA-BBBB-CCCC")  # the next scan replaces the code
        await settle(pilot)
        assert "Der Gutschein ist nicht vorhanden." in text(pilot, "#error") + text(pilot, "#result")
        assert "E-GUMA does not know this voucher." in text(pilot, "#result")  # not "does not accept"
        await pilot.press("escape")
        assert table_rows(pilot, "#tenders") == []
    posts = [r for r in sim_of(till).state.requests if r.method == "POST"]
    assert posts == [] and not sim_of(till).state.redemptions
    assert rows(till.journal.path, "SELECT COUNT(*) FROM provider_ops") == [(0,)]


async def test_short_code_uses_the_real_code_afterwards(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, "2*" + MERLOT)
        await pay_with_voucher(pilot, "42")
        assert table_rows(pilot, "#tenders")[0] == ["Voucher …KJR3", "-50.00"]
    paths = [(r.method, r.path) for r in sim_of(till).state.requests]
    assert paths == [("GET", "/v1/vouchers/42/balance.json"),
                     ("POST", "/v1/vouchers/L4FU5LQTKJR3/redeem.json")]
    assert balance(till, "L4FU5LQTKJR3") == 0


async def test_scanned_voucher_at_checkout_opens_the_dialog(eguma_till: Till) -> None:
    async with PosApp(eguma_till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await scan(pilot, "L4FU-5LQT-KJR3")  # into the checkout's scan field
        await settle(pilot)
        assert isinstance(pilot.app.screen, VoucherDialog)
        assert "Pay CHF 2.50" in text(pilot, "#result")
        await pilot.press("enter")
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")


async def test_void_voucher_tender_cancels_the_redemption(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, ESPRESSO)
        await scan(pilot, MERLOT)
        await pay_with_voucher(pilot, "2QH3-QTDM-28N6")  # 2.00
        assert balance(till, "2QH3QTDM28N6") == 0
        await pilot.press("f8")  # the new tender is selected
        await settle(pilot)
        assert "Voucher …28N6 payment 2.00 cancelled — balance back to 2.00" in text(pilot, "#status")
        assert table_rows(pilot, "#tenders") == []
    assert balance(till, "2QH3QTDM28N6") == 2_00
    (redemption,) = sim_of(till).state.redemptions.values()
    assert redemption.cancelled_in_cents == 200
    assert rows(till.journal.path, "SELECT operation, state, amount_minor FROM provider_ops ORDER BY id") == [
        ("authorize", "ok", 200), ("void", "ok", 200)]
    assert rows(till.journal.path, "SELECT state, voided_at IS NOT NULL FROM tenders") == [("voided", 1)]


async def test_cancel_order_cancels_every_voucher(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, "2*" + MERLOT)  # 76.00
        await pay_with_voucher(pilot, "2QH3QTDM28N6")  # 2.00
        await pay_with_voucher(pilot, "L4FU5LQTKJR3")  # 50.00
        assert "24.00" in text(pilot, "#balance")
        await pilot.press("f9", "enter")
        await settle(pilot)
        assert "Order cancelled" in text(pilot, "#status")
        assert table_rows(pilot, "#lines") == []
    assert balance(till, "2QH3QTDM28N6") == 2_00 and balance(till, "L4FU5LQTKJR3") == 50_00
    assert all(r.open_in_cents == 0 for r in sim_of(till).state.redemptions.values())
    assert rows(till.journal.path, "SELECT status FROM orders ORDER BY id") == [("cancelled",), ("open",)]


async def test_failed_cancel_keeps_the_tender_marked_and_retries(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, "2*" + MERLOT)
        await pay_with_voucher(pilot, "L4FU5LQTKJR3")
        sim_of(till).fail_next(1, status=503)  # E-GUMA is down for a moment
        await pilot.press("f8")
        await settle(pilot)
        assert "Voucher payment …KJR3 not cancelled — E-GUMA is not available right now (HTTP 503). " \
            "It stays on the order, F8 tries again" == text(pilot, "#status")
        tenders = table_rows(pilot, "#tenders")
        assert tenders[0] == ["Voucher …KJR3", "-50.00"]
        assert "! …KJR3 · cancellation failed" in text(pilot, "#tender-notes")
        assert balance(till, "L4FU5LQTKJR3") == 0  # still redeemed
        await pilot.press("f8")  # retry
        await settle(pilot)
        assert table_rows(pilot, "#tenders") == []
    assert balance(till, "L4FU5LQTKJR3") == 50_00
    assert [r[0] for r in rows(till.journal.path, "SELECT state FROM provider_ops ORDER BY id")] == [
        "ok", "ok"]  # the failed attempt never got as far as sending the cancellation


async def wait_for_post(pilot: Pilot, till: Till) -> None:
    for _ in range(200):
        if any(r.method == "POST" and r.status for r in sim_of(till).state.requests):
            return
        await pilot.pause(0.02)
    raise AssertionError("the redeem never reached the simulator")


async def test_timeout_then_resolved_by_balance(eguma_till: Till) -> None:
    till = eguma_till  # client timeout 0.5 s
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, "2*" + MERLOT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        sim.set_latency(2.0)  # the redemption is applied, the answer comes too late
        await pilot.press("enter")
        await wait_for_post(pilot, till)
        sim.set_latency(0)  # the balance check that resolves it is answered at once
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        status = text(pilot, "#status")
        assert "did not answer" in status and "did happen — kept on the open order" in status
        assert table_rows(pilot, "#tenders")[0] == ["Voucher …KJR3", "-50.00"]
    assert len(sim.state.redemptions) == 1  # one redemption: never sent twice
    assert balance(till, "L4FU5LQTKJR3") == 0
    ops = rows(till.journal.path, "SELECT operation, state, error, json_extract(result, '$.while_open') IS NOT NULL"
                                  " FROM provider_ops")
    assert ops == [("authorize", "done", None, 1)]  # decided: why it was open is kept in the result
    assert rows(till.journal.path, "SELECT state, refs FROM tenders") == [("authorized", "{}")]


async def test_dropped_answer_resolved_and_order_finished(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, ESPRESSO)
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        sim.drop_next_posts(1)
        await pilot.press("enter")
        await settle(pilot)
        assert "did happen" in text(pilot, "#status")
        # no token came back: F8 can never cancel it, and says what to do instead
        await pilot.press("f8")
        await settle(pilot)
        status = text(pilot, "#status")
        assert "cannot be cancelled by the till" in status and "ask E-GUMA to reverse it" in status
        assert "take the rest of the payment to finish the sale" in status and "F8 tries again" not in status
        await pilot.press("f4", "enter")  # the rest by card
        await settle(pilot)
        assert "Order 1-0001 closed" in text(pilot, "#status")
    assert len(sim.state.redemptions) == 1 and balance(till, "L4FU5LQTKJR3") == 0
    assert rows(till.journal.path, "SELECT kind, state FROM tenders ORDER BY id") == [
        ("voucher", "captured"), ("card", "captured")]


class _LoseFirstPost(httpx.AsyncBaseTransport):
    """Loses the first POST before it reaches the provider (times out unsent)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and not self.lost:
            self.lost += 1
            raise httpx.ReadTimeout("no answer", request=request)
        return await self.inner.handle_async_request(request)


def replace_eguma(till: Till, client: EgumaClient, sim: object = None) -> None:
    till.providers["eguma"] = slot_for(till.config, "eguma", client, simulator=sim)


async def test_unknown_redeem_that_did_not_happen(eguma_till: Till) -> None:
    till = eguma_till
    app, sim = eguma_sim.build_app()
    http = httpx.AsyncClient(transport=_LoseFirstPost(eguma_sim.in_process_transport(app)))
    replace_eguma(till, EgumaClient(http, "demo-outlet-key", "http://eguma.sim", "CHF", 0.5), sim)
    till.scan(MERLOT)
    check = await till.vouchers.check("L4FU5LQTKJR3")
    outcome = await till.vouchers.pay(check)
    # the balance is unchanged, but E-GUMA may still apply it: not decided before the settle window
    assert "is not decided yet — waiting for E-GUMA" in outcome.notice.text
    assert "do not take this payment again" in outcome.notice.text
    assert [t.state.value for t in till.order.active_tenders] == ["unknown"]
    await asyncio.sleep(1.6)  # timeout_s + settle_s
    outcome = await till.vouchers.resolve(till.order.active_tenders[0].id)
    assert "did not happen — removed from the open order; nothing was charged" in outcome.notice.text
    assert not sim.state.redemptions and sim.voucher("L4FU5LQTKJR3").balance_in_cents == 50_00
    assert till.order.paid.minor == 0 and till.order.active_tenders == []
    # and the payment can now be taken for real, once
    outcome = await till.vouchers.pay(await till.vouchers.check("L4FU5LQTKJR3"))
    assert len(sim.state.redemptions) == 1 and sim.voucher("L4FU5LQTKJR3").balance_in_cents == 12_00
    assert outcome.closed is not None and outcome.closed.total.minor == 38_00
    await http.aclose()


async def test_unresolved_payment_blocks_until_checked(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        sim.set_latency(2.0)
        await pilot.press("enter")
        await wait_for_post(pilot, till)
        sim.set_latency(0)
        sim.fail_next(1, status=503)  # the provider goes down: the resolving check fails too
        await settle(pilot)
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert "is not decided yet — E-GUMA cannot be asked" in text(pilot, "#status")
        assert table_rows(pilot, "#tenders")[0][0] == "? Voucher …KJR3 not decided"
        await pilot.press("f4")  # no other payment while it is unresolved
        assert "not resolved yet" in text(pilot, "#status")
        await pilot.press("f2")
        assert "not resolved yet" in text(pilot, "#status")
        await pilot.press("f8")  # the provider is back: check again
        await settle(pilot)
        assert "did happen" in text(pilot, "#status") and "Order 1-0001 closed" in text(pilot, "#status")
        assert table_rows(pilot, "#lines") == []  # 38.00 paid by the voucher: the order closed
    assert len(sim.state.redemptions) == 1 and balance(till, "L4FU5LQTKJR3") == 12_00
    assert rows(till.journal.path, "SELECT status FROM orders ORDER BY id") == [("closed",), ("open",)]


async def test_bad_key_says_what_to_do(eguma_till: Till) -> None:
    till = eguma_till
    app, sim = eguma_sim.build_app()
    http = httpx.AsyncClient(transport=eguma_sim.in_process_transport(app))
    replace_eguma(till, EgumaClient(http, "wrong-key-123", "http://eguma.sim", "CHF", 0.5), sim)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        error = text(pilot, "#error")
        assert "pos keys set --provider eguma" in error and "wrong-key-123" not in error
        await pilot.press("escape")
        assert "E-GUMA ●" in str(pilot.app.screen.query_one("#health").content)
        assert till.providers["eguma"].healthy is False
    assert not sim.state.redemptions
    await http.aclose()


async def test_provider_down_is_reported_and_the_screen_stays_responsive(eguma_till: Till) -> None:
    till = eguma_till
    http = httpx.AsyncClient()
    replace_eguma(till, EgumaClient(http, "k", "http://127.0.0.1:9", "CHF", 0.5))  # nothing listens
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        assert "unreachable" in text(pilot, "#error").lower() or "could not" in text(pilot, "#error").lower()
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, CheckoutScreen)
        assert table_rows(pilot, "#tenders") == []
    await http.aclose()


async def test_checking_is_visible_and_escape_works_while_waiting(eguma_till: Till) -> None:
    till = eguma_till
    sim_of(till).set_latency(0.4)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, CROISSANT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        assert "Checking …KJR3" in text(pilot, "#result")
        await pilot.press("escape")  # a balance check can be abandoned
        assert isinstance(pilot.app.screen, CheckoutScreen)
        await settle(pilot)


async def test_balance_screen_checks_and_prints_without_touching_the_order(eguma_till: Till) -> None:
    till = eguma_till
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, ESPRESSO)
        await pilot.press("f6")
        assert isinstance(pilot.app.screen, BalanceScreen)
        await scan(pilot, "l4fu-5lqt-kjr3")
        await settle(pilot)
        shown = text(pilot, "#result")
        assert "redeemable" in shown and "Balance CHF 50.00 of 100.00" in shown
        await pilot.press("p")
        await settle(pilot)
        assert "Slip printed" in text(pilot, "#keys")
        await scan(pilot, "EXPD-2023-0001")
        await settle(pilot)
        assert "NOT redeemable" in text(pilot, "#result") and "abgelaufen" in text(pilot, "#result")
        await pilot.press(*"2p")  # 'p' in a non-empty field is typed, not a print
        assert pilot.app.screen.query_one("#code").value == "2p"
        await pilot.press("escape")
        assert [r[1] for r in table_rows(pilot, "#lines")] == ["Espresso beans 500 g"]
        assert table_rows(pilot, "#tenders") == []
    slip = till.printer.output
    assert b"VOUCHER BALANCE" in slip and b"KJR3" in slip and b"50.00" in slip and b"100.00" in slip
    assert not sim_of(till).state.redemptions
    assert rows(till.journal.path, "SELECT kind FROM receipts") == [("balance",)]


async def test_server_error_on_redeem_is_resolved_not_resent(eguma_till: Till) -> None:
    till = eguma_till
    sim = sim_of(till)
    async with PosApp(till).run_test(size=SIZE) as pilot:
        await scan(pilot, MERLOT)
        await pilot.press("f2")
        await scan(pilot, "L4FU5LQTKJR3")
        await settle(pilot)
        sim.fail_next(1, status=500)  # a 500 after the send: it may have been applied
        await pilot.press("enter")
        await settle(pilot)
        assert "is not decided yet — waiting for E-GUMA" in text(pilot, "#status")
        assert table_rows(pilot, "#tenders")[0][0] == "? Voucher …KJR3 not decided"
        # the till looks again by itself when the settle window has passed (the screen stays live)
        await wait_until(pilot, lambda: "did not happen" in text(pilot, "#status"), 10)
        assert "removed from the open order; nothing was charged" in text(pilot, "#status")
        assert table_rows(pilot, "#tenders") == []
        await pay_with_voucher(pilot, "L4FU5LQTKJR3")  # now it goes through, once
        assert "Order 1-0001 closed" in text(pilot, "#status")
    assert len(sim.state.redemptions) == 1 and balance(till, "L4FU5LQTKJR3") == 12_00
    assert [r[0] for r in rows(till.journal.path, "SELECT state FROM provider_ops ORDER BY id")] == [
        "not_done", "ok"]
