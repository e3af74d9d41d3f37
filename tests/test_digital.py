"""Digital vouchers sold through the core (issue 15, CSQ): offered from the
configuration, bought at close after the payment with a reference journaled
first, a refused one taken off the order with its money given back, a lost
answer settled by CSQ's transaction info and sent again only under its own
reference, reverted by the void of the sale."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pos_app.config import load_config
from pos_app.journal import OpState
from pos_app.providers import RefusedError, registry
from pos_app.services.checkout import Till

CSQ = """
[providers.csq]
base_url = "sim://csq"
terminal_id = "173101"
timeout_s = 1
settle_s = 3

[[providers.csq.products]]
operator_id = 4101
name = "City Gift Card"
currency = "CHF"
amounts = ["20.00", "50.00", "100.00"]

[[providers.csq.products]]
operator_id = 9991
name = "DummyPin"
currency = "CHF"
min = "1.00"
max = "1000.00"

[[providers.csq.products]]
operator_id = 9995
name = "DummyVoucherADFalse"
currency = "CHF"
min = "1.00"
max = "100.00"
"""


@pytest.fixture
def csq_till(monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path],
             till_factory: Callable[..., Till]) -> Iterator[Till]:
    monkeypatch.setitem(registry.PACKAGES, "csq", "pos_app.providers.csq.descriptor")
    till = till_factory(load_config(write_config(CSQ)))
    sim(till).indexing_delay_s = 0  # transaction info answers at once (the 900 wait has its own test)
    yield till


def sim(till: Till) -> Any:
    return till.providers["csq"].simulator


def offer(till: Till, name: str) -> Any:
    return next(item for item in till.digital.offers() if item.offer.name == name)


async def sell(till: Till, name: str, amount: str, **given: str) -> None:
    item = offer(till, name)
    details = till.digital.check_details(await till.digital.fields(item), given, item)
    till.digital.add(item, till.digital.amount_for(item, amount), details)


async def test_offers_come_from_the_configuration(csq_till: Till) -> None:
    labels = [item.label for item in csq_till.digital.offers()]
    assert labels == ["City Gift Card (20.00, 50.00, 100.00)", "DummyPin (1.00–1'000.00)",
                      "DummyVoucherADFalse (1.00–100.00)"]
    assert csq_till.digital.available


async def test_bought_at_close_with_the_reference_journaled_first(csq_till: Till) -> None:
    till = csq_till
    await sell(till, "City Gift Card", "50")
    out = await till.pay_cash(till.parse_amount("50"))
    assert out.closed is not None, out.notice.text
    (op,) = till.journal.ops(operation="create")
    assert op.state == OpState.OK and op.amount is not None and op.amount.minor == 5000
    (purchase,) = sim(till).purchases()
    assert (purchase.local_reference, purchase.resultcode, purchase.amount_x100) == (op.reference, "10", 5000)
    assert op.refs["voucher_code"] == purchase.voucher_code
    assert op.request["local_at"]  # the time it went out with, for a replay
    assert sim(till).balance("173101") == 100000 - 5000
    receipt = till.journal.receipt(out.closed.receipt_id).text
    assert "City Gift Card" in receipt and f"Code: {purchase.voucher_code}" in receipt


async def test_instructions_prepared_later_are_asked_for_until_ready_and_printed(csq_till: Till) -> None:
    till = csq_till
    await sell(till, "DummyVoucherADFalse", "15", account="4711000")  # additional data after one 404
    said: list[str] = []
    till.session.progress = said.append
    out = await till.pay_cash(till.parse_amount("15"))
    assert said == ["CSQ is still preparing DummyVoucherADFalse — asking again (1 of 4)…"]
    assert out.closed is not None, out.notice.text
    receipt = till.journal.receipt(out.closed.receipt_id).text
    assert "Redeem online with the code." in receipt  # CSQ's words, fetched once ready
    (purchase,) = sim(till).purchases()
    assert f"Code: {purchase.voucher_code}" in receipt


async def test_a_refused_voucher_leaves_the_order_and_its_money_is_given_back(csq_till: Till) -> None:
    till = csq_till
    await sell(till, "City Gift Card", "20")
    await sell(till, "DummyPin", "10", account="4711001")  # suffix 001: CSQ answers 971
    out = await till.pay_cash(till.parse_amount("30"))
    assert out.closed is not None, out.notice.text
    assert "DummyPin 10.00 not bought" in out.notice.text and "taken off the order" in out.notice.text
    assert out.closed.total.minor == 2000 and out.closed.change.minor == 1000  # the 10.00 goes back
    assert [p.resultcode for p in sim(till).purchases()] == ["10", "971"]
    assert sim(till).balance("173101") == 100000 - 2000  # only the gift card debited


async def test_an_order_left_empty_by_a_refusal_is_cancelled_with_f9(csq_till: Till) -> None:
    till = csq_till
    await sell(till, "DummyPin", "10", account="4711002")  # suffix 002: operator timeout (990)
    out = await till.pay_cash(till.parse_amount("10"))
    assert out.closed is None and "nothing is left on the order: F9 cancels it" in out.notice.text
    out = await till.cancel_order()
    assert "return the payments taken: Cash 10.00" in out.notice.text
    assert sim(till).balance("173101") == 100000


async def test_details_are_checked_before_the_line_is_added(csq_till: Till) -> None:
    till = csq_till
    item = offer(till, "DummyPin")
    fields = await till.digital.fields(item)
    assert [f.name for f in fields] == ["account"]
    with pytest.raises(Exception, match="required"):
        till.digital.check_details(fields, {"account": "  "})
    with pytest.raises(Exception, match="sold for 1.00 to 1'000.00"):
        till.digital.amount_for(item, "1000.01")
    with pytest.raises(Exception, match="sold for 20.00, 50.00, 100.00"):
        till.digital.amount_for(offer(till, "City Gift Card"), "30")


async def test_a_purchase_that_never_arrived_is_sent_again_under_its_own_reference(csq_till: Till) -> None:
    till = csq_till
    await sell(till, "City Gift Card", "20")
    sim(till).fail_next(1, 500)  # an error from the edge: CSQ may have it (an unknown outcome)
    out = await till.pay_cash(till.parse_amount("20"))
    assert out.closed is None and "Paid, but not closed" in out.notice.text
    (first,) = till.journal.ops(operation="create")
    assert first.state == OpState.NOT_DONE  # transaction info: CSQ never received it
    assert sim(till).purchases() == []
    out = await till.finish()  # Enter: the same purchase again, same reference
    assert out.closed is not None, out.notice.text
    (again,) = till.journal.ops(operation="create")
    assert again.id == first.id and again.reference == first.reference and again.state == OpState.OK
    (purchase,) = sim(till).purchases()
    assert purchase.local_reference == first.reference


async def test_a_lost_answer_is_decided_by_transaction_info_and_bought_once(csq_till: Till) -> None:
    till = csq_till
    await sell(till, "City Gift Card", "20")
    sim(till).drop_next_posts(1)  # bought, the answer lost
    out = await till.pay_cash(till.parse_amount("20"))
    assert out.closed is not None, out.notice.text
    (op,) = till.journal.ops(operation="create")
    assert op.state == OpState.DONE
    assert len(sim(till).purchases()) == 1 and op.refs["voucher_code"] == sim(till).purchases()[0].voucher_code


async def test_the_void_of_the_sale_reverts_the_purchase(csq_till: Till) -> None:
    till = csq_till
    await sell(till, "City Gift Card", "20")
    assert (await till.pay_cash(till.parse_amount("20"))).closed is not None
    await till.storno.run()
    (revert,) = sim(till).reverts()
    assert revert.resultcode == "20"
    assert sim(till).balance("173101") == 100000
    ops = [(op.operation, op.state) for op in till.journal.ops()]
    assert ops == [("create", OpState.OK), ("undo", OpState.OK)]


async def test_a_revert_that_does_not_happen_stops_the_void_before_the_voucher_payment_is_given_back(
        monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path],
        till_factory: Callable[..., Till]) -> None:
    """The void reverts the digital voucher first: when CSQ does not revert it, the
    E-GUMA payment of the same sale is not cancelled either; F9 again finishes."""
    from tests.conftest import ESPRESSO, SIM_EGUMA, sim_of

    monkeypatch.setitem(registry.PACKAGES, "csq", "pos_app.providers.csq.descriptor")
    till = till_factory(load_config(write_config(CSQ + SIM_EGUMA.format(timeout=1))))
    sim(till).indexing_delay_s = 0
    await sell(till, "City Gift Card", "20")
    till.scan(ESPRESSO)
    check = await till.vouchers.check("L4FU-5LQT-KJR3")  # pays the espresso beans (products only)
    await till.vouchers.pay(check)
    out = await till.pay_cash(till.parse_amount("20"))
    assert out.closed is not None, out.notice.text
    redeemed = sim_of(till).state.vouchers["L4FU5LQTKJR3"].balance_in_cents
    client = till.providers["csq"].client
    real = client.undo_value

    async def refused(*args: Any, **kwargs: Any) -> Any:  # CSQ refuses the revert when it is made
        raise RefusedError("CSQ refused the revert.", "csq", provider_message="Rejected", operation="revert")

    monkeypatch.setattr(client, "undo_value", refused)
    with pytest.raises(Exception, match="Void not finished"):
        await till.storno.run()
    assert sim(till).reverts() == []
    assert sim_of(till).state.vouchers["L4FU5LQTKJR3"].balance_in_cents == redeemed  # not given back either
    monkeypatch.setattr(client, "undo_value", real)
    await till.storno.run()  # F9 again: the revert, then the payment
    assert [r.resultcode for r in sim(till).reverts()] == ["20"]
    assert sim_of(till).state.vouchers["L4FU5LQTKJR3"].balance_in_cents > redeemed
