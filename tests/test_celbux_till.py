"""Celbux at the till (issue 16, the part built so far): an outlet in ZAR redeems
168-NNNNN-NNNNN vouchers with F2 like any voucher (viewVoucher, pay with our
reference journaled first, reverse on F8); an outlet in another currency cannot
enable Celbux; the South African demo starts."""

from __future__ import annotations

import re
from datetime import datetime
from dataclasses import replace
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pos_app.config import ConfigError, load_config
from pos_app.journal import OpState
from pos_app.providers.base import OpContext
from pos_app.services.checkout import Till
from pos_app.services.results import CheckoutError
from tests.conftest import CELBUX_SECTION as CELBUX
from tests.conftest import PROJECT_ROOT

BILTONG = "6001000000031"  # 129.00, 15 %
NORMAL = "168-78439-48310"  # R250.00


def sim(till: Till) -> Any:
    return till.providers["celbux"].simulator


async def test_a_celbux_voucher_pays_and_f8_reverses_it(za_till: Till) -> None:
    till = za_till
    till.scan(BILTONG)
    till.scan(BILTONG)
    check = await till.vouchers.check(NORMAL)
    assert check.amount is not None and check.amount.minor == 25000  # min(258.00 due, 250.00 balance)
    await till.vouchers.pay(check)
    (op,) = till.journal.ops(operation="authorize")
    assert op.state == OpState.OK
    (payment,) = sim(till).transactions("pay")
    assert (payment.reference, payment.amount) == (op.reference, 25000)  # our reference, journaled first
    # unique on the whole platform: another shop's outlet may share our outlet's name
    assert re.fullmatch(rf"Store1-{till.journal.outlet}-{till.journal.till}-\d{{6}}", op.reference)
    assert sim(till).voucher(NORMAL).balance == 0
    tender = till.order.active_tenders[0]
    await till.vouchers.void(tender.id)
    assert sim(till).voucher(NORMAL).balance == 25000
    assert len(sim(till).transactions("reverse")) == 1
    assert [op.state for op in till.journal.ops(operation="void")] == [OpState.OK]


def test_an_outlet_in_another_currency_cannot_enable_celbux(write_config: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match=r"Celbux takes ZAR only, this outlet's currency is CHF"):
        load_config(write_config(CELBUX))


def test_the_south_african_demo_configuration_loads() -> None:
    config = load_config(PROJECT_ROOT / "config" / "demo-za.toml")
    assert config.outlet.currency == "ZAR" and list(config.providers) == ["celbux"]
    assert config.data_dir().name == "demo-za"
    assert load_config(PROJECT_ROOT / "config" / "demo.toml").data_dir().name == "demo"


async def test_a_voucher_by_sms_is_issued_at_close_and_printed(za_till: Till) -> None:
    till = za_till
    (item,) = till.digital.offers()
    assert item.label == "Voucher by SMS (10.00–5,000.00)"
    fields = await till.digital.fields(item)
    with pytest.raises(Exception, match="phone"):
        till.digital.check_details(fields, {"phone": "12345"}, item)
    details = till.digital.check_details(fields, {"phone": "082 123 4567"}, item)
    assert details == {"phone": "27821234567"}
    till.digital.add(item, till.digital.amount_for(item, "100"), details)
    assert [line.name for line in till.order.active_lines] == ["Voucher by SMS +27 82 123 4567"]
    out = await till.pay_cash(till.parse_amount("100"))
    assert out.closed is not None, out.notice.text
    (issued,) = sim(till).transactions("createVoucher")
    (op,) = till.journal.ops(operation="create")
    assert issued.reference == op.reference and op.state == OpState.OK
    voucher = op.refs["voucher_no"]
    assert any(voucher in sms.text for sms in sim(till).sms_to("27821234567"))
    receipt = till.journal.receipt(out.closed.receipt_id).text
    assert f"Code: {voucher}" in receipt and "Sent by SMS to +27 82 123 4567" in receipt


async def test_the_void_of_a_sale_refunded_as_store_credit_issues_a_voucher_by_sms(za_till: Till) -> None:
    till = za_till
    till.scan(BILTONG)
    sold = await till.pay_cash(till.parse_amount("200"))
    assert sold.closed is not None and sold.closed.change.minor == 7100
    sale = till.journal.last_closed_order_id()
    (item,) = till.digital.credit_offers()
    assert till.check_store_credit(item).minor == 12900
    out = await till.void_as_store_credit(item, {"phone": "27821234567"})
    assert out.closed is not None, out.notice.text
    assert not out.closed.cash  # nothing moves in the drawer: it stays shut
    assert till.journal.order_voided_at(sale) is not None
    (issued,) = sim(till).transactions("createVoucher")
    assert issued.amount == 12900
    (op,) = till.journal.ops(operation="create")
    voucher = op.refs["voucher_no"]
    assert any(voucher in sms.text for sms in sim(till).sms_to("27821234567"))
    void_text = till.journal.receipt(out.print_first[0]).text
    assert "Refunded as store credit" in void_text and "Cash returned" not in void_text
    credit = till.journal.load_order(till.journal.last_closed_order_id())
    assert [(t.kind.value, t.amount.minor, t.change.minor if t.change else 0) for t in credit.active_tenders] == \
        [("cash", 12900, 0)]  # the refund pays for the voucher: the drawer nets to nothing
    receipt = till.journal.receipt(out.closed.receipt_id).text
    assert f"Code: {voucher}" in receipt and "Sent by SMS to +27 82 123 4567" in receipt
    assert "store credit" in out.notice.text


async def test_a_refund_outside_the_vouchers_range_is_refused_before_anything_is_voided(za_till: Till) -> None:
    till = za_till
    till.scan(BILTONG)
    await till.pay_cash(till.parse_amount("129"))
    sale = till.journal.last_closed_order_id()
    (item,) = till.digital.credit_offers()
    dearer = replace(item, offer=replace(item.offer, minimum=till.parse_amount("200")))
    with pytest.raises(CheckoutError, match=r"A refund of ZAR 129.00 cannot be a Voucher by SMS \(200.00 to 5,000.00\)"):
        await till.void_as_store_credit(dearer, {"phone": "27821234567"})
    assert till.journal.order_voided_at(sale) is None and not sim(till).transactions("createVoucher")
    till.scan(BILTONG)  # an open order: the void waits for it
    with pytest.raises(CheckoutError, match="Finish or cancel the open order first"):
        till.check_store_credit(item)


async def test_the_void_of_a_voucher_by_sms_the_customer_spent_is_refused_before_anything(za_till: Till) -> None:
    till = za_till
    (item,) = till.digital.offers()
    till.digital.add(item, till.digital.amount_for(item, "50"), {"phone": "27821234567"})
    out = await till.pay_cash(till.parse_amount("50"))
    assert out.closed is not None, out.notice.text
    (op,) = till.journal.ops(operation="create")
    voucher = op.refs["voucher_no"]
    client = till.providers["celbux"].client
    assert client is not None  # the customer spends 10.00 of it in another shop of the community
    await client.authorize(voucher, till.parse_amount("10"), OpContext("elsewhere-1", None, datetime.now()))
    reverses = len(sim(till).transactions("reverse"))
    with pytest.raises(CheckoutError, match=r"Void refused — Celbux cannot take Voucher by SMS \+27 82 123 4567 back "
                       r"now.\nCelbux says: «Voucher 168-\d{5}-\d{5} was issued for 50.00; 40.00 is left on it, so "
                       r"Celbux cannot take it back whole.». Nothing was changed"):
        await till.storno.run()
    assert len(sim(till).transactions("reverse")) == reverses  # nothing was sent
    assert sim(till).voucher(voucher).balance == 4000 and till.journal.order_voided_at(out_id(till)) is None


def out_id(till: Till) -> int:
    found = till.journal.last_closed_order_id()
    assert found is not None
    return found
